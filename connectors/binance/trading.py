"""Binance spot order entry through ccxt (async), raw endpoints, exact Decimal parsing.

We call ccxt's implicit REST methods (``private_post_order`` ...) rather than its unified ones: ccxt still
signs, rate-limits and transports, but we keep Binance's own strings (unified structures are floats) and
its own client order id. Errors come out as ``connectors.errors`` types via ``venue_error``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
import structlog

from config.instruments import Instrument
from connectors.binance.constants import VENUE
from connectors.errors import (
    AuthenticationFailed,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderStateUnknown,
    RateLimited,
    Rejected,
    VenueError,
    call_ccxt,
    raising_venue_errors,
    retry_after_s,
)
from connectors.symbols import SymbolRegistry, UnknownSymbol
from connectors.trading import (
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

STATUS: dict[str, OrderStatus] = {
    "NEW": OrderStatus.NEW,
    "PENDING_NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}

# Binance error code -> our error (errors.md; venue-protocols.md §1.8). -2010 is split by its message.
AUTH_CODES = {-1002, -1021, -1022, -1125, -2014, -2015}
RATE_CODES = {-1003, -1015}
UNKNOWN_CODES = {-1007}
NOT_FOUND_CODES = {-2011, -2013}
INSUFFICIENT_MESSAGES = ("Account has insufficient balance for requested action.",)


def venue_error(status: int, headers: Mapping[str, str] | None, body: Any) -> VenueError | None:
    """The error a Binance answer stands for, or None if it is a success."""
    if status in (418, 429):
        return RateLimited(VENUE, retry_after_s(dict(headers or {})), f"HTTP {status}")
    code = body.get("code") if isinstance(body, dict) else None
    msg = str(body.get("msg", "")) if isinstance(body, dict) else ""
    if isinstance(code, int) and code not in (0, 200):
        if code in UNKNOWN_CODES:
            return OrderStateUnknown(VENUE, f"{code} {msg}")
        if code in AUTH_CODES:
            return AuthenticationFailed(VENUE, code, msg)
        if code in RATE_CODES:
            return RateLimited(VENUE, retry_after_s(dict(headers or {})), msg)
        if code in NOT_FOUND_CODES:
            return OrderNotFound(VENUE, code, msg)
        if msg in INSUFFICIENT_MESSAGES:
            return InsufficientFunds(VENUE, code, msg)
        if code == -2010 or -1199 <= code <= -1100 or code == -1013:
            return InvalidOrder(VENUE, code, msg)
        return Rejected(VENUE, code, msg)
    if status >= 500:  # execution status unknown: reconcile, never assume it failed
        return OrderStateUnknown(VENUE, f"HTTP {status}")
    if status >= 400:
        return Rejected(VENUE, status, msg or "HTTP error")
    return None


_Binance = raising_venue_errors(ccxt_async.binance, venue_error)


def parse_fill(raw: Mapping[str, Any]) -> VenueFill:
    """A FULL-answer fill (price, qty, commission, commissionAsset, tradeId) or a myTrades entry (id)."""
    trade_id = raw.get("tradeId", raw.get("id"))
    return VenueFill(
        dec(raw["price"]), dec(raw["qty"]), dec(raw["commission"]), str(raw["commissionAsset"]), str(trade_id)
    )


def parse_order(raw: Mapping[str, Any], inst: Instrument, fills: Iterable[Mapping[str, Any]] = ()) -> VenueOrder:
    """POST/GET/DELETE /api/v3/order answers; totals from executedQty/cummulativeQuoteQty, fees from fills."""
    parsed = tuple(parse_fill(f) for f in fills)
    _, _, fee, fee_asset = fills_summary(parsed, inst.base if raw["side"] == "BUY" else inst.quote)
    status = STATUS.get(str(raw["status"]), OrderStatus.UNKNOWN)
    return VenueOrder(
        venue=VENUE,
        symbol=inst.symbol,
        client_order_id=str(raw.get("origClientOrderId") or raw["clientOrderId"]),
        venue_order_id=str(raw["orderId"]),
        side=OrderSide(str(raw["side"])),
        price=dec(raw["price"]),
        qty=dec(raw["origQty"]),
        status=status,
        filled_qty=dec(raw["executedQty"]),
        quote_qty=dec(raw["cummulativeQuoteQty"]),
        fee=fee,
        fee_asset=fee_asset,
        fills=parsed,
    )


class BinanceTrading:
    """``TradingVenue`` for Binance spot."""

    venue = VENUE

    def __init__(
        self,
        api_key: str,
        secret: str,
        instruments: Iterable[Instrument],
        *,
        base_url: str | None = None,
        timeout_s: float = 10.0,
        recv_window_ms: int = 5000,
        rate_limit_ms: int | None = None,
    ) -> None:
        self.symbols = SymbolRegistry(i for i in instruments if i.venue == VENUE)
        self._sent = SentIds()
        config: dict[str, Any] = {
            "apiKey": api_key,
            "secret": secret,
            "enableRateLimit": True,  # ccxt's weight-based throttle; 429/418 still map to RateLimited
            "timeout": int(timeout_s * 1000),
            "options": {
                "recvWindow": recv_window_ms,
                "adjustForTimeDifference": False,
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot"]},
            },
        }
        if rate_limit_ms is not None:
            config["rateLimit"] = rate_limit_ms
        self._ex = _Binance(config)
        if base_url is not None:
            # Every API family at the override, so nothing can reach binance.com (client-compat.md §1).
            # Each keeps its path (``/api/v3``, ``/sapi/v1`` ...), so the capital (SAPI) calls reach the fake too.
            root = base_url.rstrip("/")
            for name, url in list(self._ex.urls["api"].items()):
                self._ex.urls["api"][name] = root + urlsplit(url).path

    def _inst(self, symbol: str) -> Instrument:
        try:
            return self.symbols.instrument(VENUE, symbol)
        except UnknownSymbol:
            raise InvalidOrder(VENUE, "LOCAL", f"unknown symbol {symbol!r}") from None

    async def _call(self, method: str, params: dict[str, str], *, mutating: bool = False) -> Any:
        return await call_ccxt(VENUE, getattr(self._ex, method), params, mutating=mutating)

    async def place(self, order: ChildOrder) -> VenueOrder:
        return await place_once(self._sent, order, self._send, self.query)

    async def _send(self, order: ChildOrder) -> VenueOrder:
        inst = self._inst(order.symbol)
        if not inst.qty_on_step(order.qty) or not inst.price_on_tick(order.price):
            raise InvalidOrder(VENUE, "LOCAL", f"{order.qty} @ {order.price} is off the {inst.symbol} lot/tick grid")
        raw = await self._call(
            "private_post_order",
            {
                "symbol": inst.venue_symbol,
                "side": order.side,
                "type": "LIMIT",
                "timeInForce": order.tif,
                "quantity": decimal_text(order.qty),
                "price": decimal_text(order.price),
                "newClientOrderId": order.client_order_id,
                "newOrderRespType": "FULL",
            },
            mutating=True,
        )
        placed = parse_order(raw, inst, raw.get("fills", ()))
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
        if dec(raw["executedQty"]) > 0:
            fills = await self._call(
                "private_get_mytrades", {"symbol": inst.venue_symbol, "orderId": str(raw["orderId"])}
            )
        return parse_order(raw, inst, fills)

    async def query(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        inst = self._inst(symbol)
        try:
            raw = await self._call(
                "private_get_order", {"symbol": inst.venue_symbol, "origClientOrderId": client_order_id}
            )
        except OrderNotFound:
            return None
        return await self._with_fills(raw, inst)

    async def cancel(self, symbol: str, client_order_id: str) -> VenueOrder:
        inst = self._inst(symbol)
        try:
            raw = await self._call(
                "private_delete_order",
                {"symbol": inst.venue_symbol, "origClientOrderId": client_order_id},
                mutating=True,
            )
        except OrderNotFound:
            # Binance says -2011 for orders that already ended too: their final state is the answer.
            final = await self.query(symbol, client_order_id)
            if final is None:
                raise
            return final
        return await self._with_fills(raw, inst)

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        params = {"symbol": self._inst(symbol).venue_symbol} if symbol is not None else {}
        out: list[VenueOrder] = []
        for raw in await self._call("private_get_openorders", params):
            try:
                inst = self.symbols.by_venue_symbol(VENUE, str(raw["symbol"]))
            except UnknownSymbol:
                log.warning("open_order_unknown_symbol", venue=VENUE, symbol=raw.get("symbol"))
                continue
            out.append(await self._with_fills(raw, inst))
        return out

    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        raw = await self._call("private_get_account", {})
        return {str(b["asset"]): (dec(b["free"]), dec(b["locked"])) for b in raw["balances"]}

    async def close(self) -> None:
        await self._ex.close()
