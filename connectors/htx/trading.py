"""HTX (Huobi) spot order entry through ccxt (async), raw v1 endpoints, exact Decimal parsing.

HTX specifics: time in force lives in the order type (``buy-ioc``, ``sell-limit-fok``, ``buy-limit``); orders
belong to an account id (looked up once if not given); ``client-order-id`` is unique for 24 h, and orders are
read back by it (``getClientOrder``) with fills from ``matchresults``. An IOC/FOK order the venue cancelled
is reported EXPIRED, as Binance does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
import structlog

from config.instruments import Instrument
from connectors.errors import (
    AuthenticationFailed,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderStateUnknown,
    RateLimited,
    Rejected,
    VenueError,
    VenueUnavailable,
    call_ccxt,
    raising_venue_errors,
    retry_after_s,
)
from connectors.htx.constants import VENUE
from connectors.symbols import SymbolRegistry, UnknownSymbol
from connectors.trading import (
    ZERO,
    ChildOrder,
    SentIds,
    VenueFill,
    VenueOrder,
    dec,
    decimal_text,
    fills_summary,
    place_once,
)
from domain import OrderSide, OrderStatus

log = structlog.get_logger(__name__)

ORDER_TYPE = {"GTC": "limit", "IOC": "ioc", "FOK": "limit-fok"}  # type = f"{side}-{this}"
STATUS = {
    "created": OrderStatus.NEW,
    "pre-submitted": OrderStatus.NEW,
    "submitted": OrderStatus.NEW,
    "partial-filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "partial-canceled": OrderStatus.CANCELED,
    "canceled": OrderStatus.CANCELED,
    "canceling": OrderStatus.NEW,
}

# err-code -> our error (HTX "Error Codes"; venue-protocols.md §3.5).
AUTH_CODES = {"api-signature-not-valid", "api-signature-check-failed", "403", "1003", "login-required"}
UNKNOWN_CODES = {"gateway-internal-error", "timeout", "order-update-error"}
UNAVAILABLE_CODES = {"system-maintenance"}
RATE_CODES = {"base-request-exceed-frequency-limit", "rate-too-many-requests"}
FUNDS_CODES = {
    "account-frozen-balance-insufficient-error",
    "account-balance-insufficient-error",
    "order-accountbalance-error",
    "insufficient-balance",
}
NOT_FOUND_CODES = {"base-record-invalid", "order-queryorder-invalid", "order-orderstate-error"}
INVALID_PREFIXES = ("order-", "invalid-", "base-symbol", "validation-", "bad-request", "bad-argument")


def venue_error(status: int, headers: Mapping[str, str] | None, body: Any) -> VenueError | None:
    """The error an HTX answer stands for, or None."""
    if status == 429:
        return RateLimited(VENUE, retry_after_s(dict(headers or {})), "HTTP 429")
    if isinstance(body, dict) and body.get("status") == "error":
        code = str(body.get("err-code", body.get("err_code", "")))
        msg = str(body.get("err-msg", body.get("err_msg", "")))
        if code in AUTH_CODES:
            return AuthenticationFailed(VENUE, code, msg)
        if code in UNKNOWN_CODES:
            return OrderStateUnknown(VENUE, f"{code} {msg}")
        if code in UNAVAILABLE_CODES:
            return VenueUnavailable(VENUE, f"{code} {msg}")
        if code in RATE_CODES:
            return RateLimited(VENUE, retry_after_s(dict(headers or {})), msg)
        if code in FUNDS_CODES:
            return InsufficientFunds(VENUE, code, msg)
        if code in NOT_FOUND_CODES:
            return OrderNotFound(VENUE, code, msg)
        if code.startswith(INVALID_PREFIXES):
            return InvalidOrder(VENUE, code, msg)
        return Rejected(VENUE, code, msg)
    if status >= 500:
        return OrderStateUnknown(VENUE, f"HTTP {status}")
    return None


_Htx = raising_venue_errors(ccxt_async.htx, venue_error)


def order_type(side: str, tif: str) -> str:
    """('BUY', 'IOC') -> 'buy-ioc'; ('SELL', 'FOK') -> 'sell-limit-fok'; ('BUY', 'GTC') -> 'buy-limit'."""
    return f"{side.lower()}-{ORDER_TYPE[tif]}"


def parse_fill(raw: Mapping[str, Any]) -> VenueFill:
    """A matchresults entry: price, filled-amount, filled-fees in fee-currency, trade-id."""
    return VenueFill(
        dec(raw["price"]),
        dec(raw["filled-amount"]),
        dec(raw["filled-fees"]),
        str(raw["fee-currency"]).upper(),
        str(raw["trade-id"]),
    )


def _field(raw: Mapping[str, Any], name: str) -> Decimal:
    # The detail answer says field-amount, listings say filled-amount.
    return dec(raw.get(f"filled-{name}", raw.get(f"field-{name}")))


def parse_order(raw: Mapping[str, Any], inst: Instrument, fills: Iterable[Mapping[str, Any]] = ()) -> VenueOrder:
    kind = str(raw["type"])
    side = OrderSide.BUY if kind.startswith("buy") else OrderSide.SELL
    status = STATUS.get(str(raw["state"]), OrderStatus.UNKNOWN)
    if status is OrderStatus.CANCELED and kind.endswith(("-ioc", "-fok")):
        status = OrderStatus.EXPIRED  # the venue ended it for its time in force, not on our request
    parsed = tuple(sorted((parse_fill(f) for f in fills), key=lambda f: int(f.trade_id) if f.trade_id.isdigit() else 0))
    _, _, fee, fee_asset = fills_summary(parsed, inst.base if side == "BUY" else inst.quote)
    if not parsed:
        fee = _field(raw, "fees")
    filled = _field(raw, "amount")
    if status is OrderStatus.NEW and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    return VenueOrder(
        venue=VENUE,
        symbol=inst.symbol,
        client_order_id=str(raw.get("client-order-id") or ""),
        venue_order_id=str(raw["id"]),
        side=side,
        price=dec(raw["price"]),
        qty=dec(raw["amount"]),
        status=status,
        filled_qty=filled,
        quote_qty=_field(raw, "cash-amount"),
        fee=fee,
        fee_asset=fee_asset,
        fills=parsed,
    )


class HtxTrading:
    """``TradingVenue`` for HTX spot."""

    venue = VENUE

    def __init__(
        self,
        api_key: str,
        secret: str,
        instruments: Iterable[Instrument],
        *,
        account_id: str | int | None = None,
        base_url: str | None = None,
        timeout_s: float = 10.0,
        rate_limit_ms: int | None = None,
    ) -> None:
        mine = [i for i in instruments if i.venue == VENUE]
        self.symbols = SymbolRegistry(mine)
        self.account_id = str(account_id) if account_id is not None else None
        self._sent = SentIds()
        config: dict[str, Any] = {
            "apiKey": api_key,
            "secret": secret,
            "enableRateLimit": True,
            "timeout": int(timeout_s * 1000),
        }
        if rate_limit_ms is not None:
            config["rateLimit"] = rate_limit_ms
        self._ex = _Htx(config)
        if base_url is not None:
            # Signature V2 signs the host, so ccxt must sign the one it connects to (hostname = "127.0.0.1:port").
            parts = urlsplit(base_url)
            self._ex.hostname = parts.netloc
            self._ex.urls["hostnames"] = {"spot": parts.netloc, "contract": parts.netloc}
            for name in list(self._ex.urls["api"]):
                self._ex.urls["api"][name] = f"{parts.scheme}://{{hostname}}"

    def _inst(self, symbol: str) -> Instrument:
        try:
            return self.symbols.instrument(VENUE, symbol)
        except UnknownSymbol:
            raise InvalidOrder(VENUE, "LOCAL", f"unknown symbol {symbol!r}") from None

    async def _call(self, method: str, params: dict[str, Any], *, mutating: bool = False) -> Any:
        raw = await call_ccxt(VENUE, getattr(self._ex, method), params, mutating=mutating)
        return raw["data"]

    async def _account(self) -> str:
        if self.account_id is None:
            accounts = await self._call("spot_private_get_v1_account_accounts", {})
            spot = [a for a in accounts if a.get("type") == "spot" and a.get("state") == "working"]
            if not spot:
                raise Rejected(VENUE, "no-spot-account", f"no working spot account among {accounts}")
            self.account_id = str(spot[0]["id"])
        return self.account_id

    async def place(self, order: ChildOrder) -> VenueOrder:
        return await place_once(self._sent, order, self._send, self.query)

    async def _send(self, order: ChildOrder) -> VenueOrder:
        inst = self._inst(order.symbol)
        if not inst.qty_on_step(order.qty) or not inst.price_on_tick(order.price):
            raise InvalidOrder(VENUE, "LOCAL", f"{order.qty} @ {order.price} is off the {inst.symbol} lot/tick grid")
        account = await self._account()  # before the order: a failure here sent nothing
        order_id = await self._call(
            "spot_private_post_v1_order_orders_place",
            {
                "account-id": account,
                "symbol": inst.venue_symbol,
                "type": order_type(order.side, order.tif),
                "amount": decimal_text(order.qty),
                "price": decimal_text(order.price),
                "source": "spot-api",
                "client-order-id": order.client_order_id,
            },
            mutating=True,
        )
        try:
            placed = await self.query(order.symbol, order.client_order_id)
        except VenueError as exc:
            log.warning("order_readback_failed", venue=VENUE, order_id=order_id, error=str(exc))
            placed = None
        if placed is None:  # accepted, but not readable yet: the router queries it later
            placed = VenueOrder(
                VENUE,
                inst.symbol,
                order.client_order_id,
                str(order_id),
                order.side,
                order.price,
                order.qty,
                OrderStatus.UNKNOWN,
                ZERO,
                ZERO,
                ZERO,
                inst.quote,
            )
        log.info(
            "order_placed",
            venue=VENUE,
            client_order_id=order.client_order_id,
            status=placed.status.value,
            filled=str(placed.filled_qty),
        )
        return placed

    async def _with_fills(self, raw: Mapping[str, Any], inst: Instrument) -> VenueOrder:
        fills: list[Mapping[str, Any]] = []
        if _field(raw, "amount") > 0:
            fills = await self._call(
                "spot_private_get_v1_order_orders_order_id_matchresults", {"order-id": str(raw["id"])}
            )
        return parse_order(raw, inst, fills)

    async def query(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        inst = self._inst(symbol)
        try:
            raw = await self._call(
                "spot_private_get_v1_order_orders_getclientorder", {"clientOrderId": client_order_id}
            )
        except OrderNotFound:
            return None
        return await self._with_fills(raw, inst)

    async def cancel(self, symbol: str, client_order_id: str) -> VenueOrder:
        self._inst(symbol)
        # data: 7 cancelled, 10 cancelling, 5/6 already partial-cancelled/filled, -1 no such order.
        await self._call(
            "spot_private_post_v1_order_orders_submitcancelclientorder",
            {"client-order-id": client_order_id},
            mutating=True,
        )
        final = await self.query(symbol, client_order_id)
        if final is None:
            raise OrderNotFound(VENUE, "base-record-invalid", f"no order with client-order-id {client_order_id}")
        return final

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        params: dict[str, Any] = {"account-id": await self._account(), "size": "500"}
        if symbol is not None:
            params["symbol"] = self._inst(symbol).venue_symbol
        out: list[VenueOrder] = []
        for raw in await self._call("spot_private_get_v1_order_openorders", params):
            try:
                inst = self.symbols.by_venue_symbol(VENUE, str(raw["symbol"]))
            except UnknownSymbol:
                log.warning("open_order_unknown_symbol", venue=VENUE, symbol=raw.get("symbol"))
                continue
            out.append(await self._with_fills(raw, inst))
        return out

    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        data = await self._call(
            "spot_private_get_v1_account_accounts_account_id_balance", {"account-id": await self._account()}
        )
        out: dict[str, tuple[Decimal, Decimal]] = {}
        for row in data["list"]:
            asset = str(row["currency"]).upper()
            free, locked = out.get(asset, (ZERO, ZERO))
            if row["type"] == "trade":
                free += dec(row["balance"])
            elif row["type"] == "frozen":
                locked += dec(row["balance"])
            out[asset] = (free, locked)
        return out

    async def close(self) -> None:
        await self._ex.close()
