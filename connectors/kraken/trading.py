"""Kraken spot order entry through ccxt (async), raw private endpoints, exact Decimal parsing.

Kraken specifics: no FOK (refused here, before sending); ``cl_ord_id`` carries our client order id and is
unique only among open orders, so a query goes to OpenOrders then ClosedOrders by ``cl_ord_id``; fees are
asked for in the quote currency (``oflags=fciq``) so every fill's fee asset is known. Errors arrive as
HTTP 200 with an ``error`` list and are mapped by ``venue_error``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

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
    call_ccxt,
    raising_venue_errors,
    retry_after_s,
)
from connectors.kraken.constants import VENUE
from connectors.symbols import SymbolRegistry, UnknownSymbol
from connectors.trading import (
    ZERO,
    ChildOrder,
    SentIds,
    VenueFill,
    VenueOrder,
    dec,
    decimal_text,
    place_once,
)
from domain import OrderSide, OrderStatus

log = structlog.get_logger(__name__)

TIME_IN_FORCE = {"IOC": "IOC", "GTC": "GTC"}  # Kraken has GTC/IOC/GTD and no FOK
STATUS = {
    "pending": OrderStatus.NEW,
    "open": OrderStatus.NEW,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
}

# Legacy X/Z asset codes (REST) -> Braid's names; newer assets have no prefix.
ASSETS = {
    "XXBT": "BTC",
    "XBT": "BTC",
    "XETH": "ETH",
    "XXDG": "DOGE",
    "XDG": "DOGE",
    "XLTC": "LTC",
    "XXRP": "XRP",
    "XXLM": "XLM",
    "XXMR": "XMR",
    "XZEC": "ZEC",
    "XETC": "ETC",
    "XREP": "REP",
    "XMLN": "MLN",
    "ZUSD": "USD",
    "ZEUR": "EUR",
    "ZGBP": "GBP",
    "ZCAD": "CAD",
    "ZJPY": "JPY",
    "ZAUD": "AUD",
    "ZCHF": "CHF",
}

# Kraken error text (prefix) -> our error; the first match wins (spot-errors guide; venue-protocols.md §2.5).
ERRORS: tuple[tuple[str, type[VenueError]], ...] = (
    ("EAPI:Invalid key", AuthenticationFailed),
    ("EAPI:Invalid signature", AuthenticationFailed),
    ("EAPI:Invalid nonce", AuthenticationFailed),
    ("EAPI:Bad request", AuthenticationFailed),
    ("EGeneral:Permission denied", AuthenticationFailed),
    ("EAPI:Rate limit exceeded", RateLimited),
    ("EOrder:Rate limit exceeded", RateLimited),
    ("EGeneral:Temporary lockout", RateLimited),
    ("EGeneral:Too many requests", RateLimited),
    ("EService:Unavailable", OrderStateUnknown),
    ("EService:Deadline elapsed", OrderStateUnknown),
    ("EService:Busy", OrderStateUnknown),
    ("EGeneral:Internal error", OrderStateUnknown),
    ("EOrder:Insufficient funds", InsufficientFunds),
    ("EOrder:Unknown order", OrderNotFound),
    ("EOrder:Invalid order", OrderNotFound),
    ("EOrder:", InvalidOrder),
    ("EGeneral:Invalid arguments", InvalidOrder),
    ("EQuery:", InvalidOrder),
)


def venue_error(status: int, headers: Mapping[str, str] | None, body: Any) -> VenueError | None:
    """The error a Kraken answer stands for, or None."""
    if status == 429:
        return RateLimited(VENUE, retry_after_s(dict(headers or {})), "HTTP 429")
    errors = body.get("error") if isinstance(body, dict) else None
    if errors:
        text = str(errors[0])
        for prefix, kind in ERRORS:
            if text.startswith(prefix):
                if kind is RateLimited:
                    return RateLimited(VENUE, retry_after_s(dict(headers or {})), text)
                if kind is OrderStateUnknown:
                    return OrderStateUnknown(VENUE, text)
                return kind(VENUE, text, text)  # type: ignore[call-arg]
        return Rejected(VENUE, text, text)
    if status >= 500:
        return OrderStateUnknown(VENUE, f"HTTP {status}")
    return None


_Kraken = raising_venue_errors(ccxt_async.kraken, venue_error)


def canonical_asset(code: str) -> str:
    return ASSETS.get(code, code)


def altname(inst: Instrument) -> str:
    """REST pair name from the WS name: 'XBT/USDT' -> 'XBTUSDT' (AddOrder takes the altname)."""
    return inst.venue_symbol.replace("/", "")


def parse_trade(txid: str, raw: Mapping[str, Any], fee_asset: str) -> VenueFill:
    """A QueryTrades entry (price, vol, fee; fee in ``fee_asset``, the quote with fciq)."""
    return VenueFill(dec(raw["price"]), dec(raw["vol"]), dec(raw["fee"]), fee_asset, txid)


def parse_order(txid: str, raw: Mapping[str, Any], inst: Instrument, trades: Mapping[str, Any]) -> VenueOrder:
    """An order from QueryOrders/OpenOrders/ClosedOrders; totals are Kraken's vol_exec/cost/fee."""
    filled = dec(raw["vol_exec"])
    status = STATUS.get(str(raw["status"]), OrderStatus.UNKNOWN)
    if status is OrderStatus.NEW and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    fills = tuple(parse_trade(t, trades[t], inst.quote) for t in raw.get("trades") or () if t in trades)
    descr = raw.get("descr") or {}
    return VenueOrder(
        venue=VENUE,
        symbol=inst.symbol,
        client_order_id=str(raw.get("cl_ord_id") or ""),
        venue_order_id=txid,
        side=OrderSide.BUY if descr.get("type") == "buy" else OrderSide.SELL,
        price=dec(descr.get("price")),
        qty=dec(raw["vol"]),
        status=status,
        filled_qty=filled,
        quote_qty=dec(raw["cost"]),
        fee=dec(raw["fee"]),
        fee_asset=inst.quote,
        fills=fills,
    )


class KrakenTrading:
    """``TradingVenue`` for Kraken spot."""

    venue = VENUE
    supports_fok = False  # Kraken's timeinforce is GTC/IOC/GTD only

    def __init__(
        self,
        api_key: str,
        secret: str,
        instruments: Iterable[Instrument],
        *,
        base_url: str | None = None,
        timeout_s: float = 10.0,
        rate_limit_ms: int | None = None,
    ) -> None:
        mine = [i for i in instruments if i.venue == VENUE]
        self.symbols = SymbolRegistry(mine)
        self._by_altname = {altname(i): i for i in mine}
        self._sent = SentIds()
        # Kraken refuses a nonce not above the last one it saw; requests in flight together can arrive out of
        # order, so private calls go one at a time.
        self._lock = asyncio.Lock()
        config: dict[str, Any] = {
            "apiKey": api_key,
            "secret": secret,
            "enableRateLimit": True,
            "timeout": int(timeout_s * 1000),
        }
        if rate_limit_ms is not None:
            config["rateLimit"] = rate_limit_ms  # ccxt's default models the starter tier's decay (1 s per point)
        self._ex = _Kraken(config)
        if base_url is not None:
            for name in list(self._ex.urls["api"]):
                self._ex.urls["api"][name] = base_url.rstrip("/")

    def _inst(self, symbol: str) -> Instrument:
        try:
            return self.symbols.instrument(VENUE, symbol)
        except UnknownSymbol:
            raise InvalidOrder(VENUE, "LOCAL", f"unknown symbol {symbol!r}") from None

    async def _call(self, method: str, params: dict[str, str], *, mutating: bool = False) -> Any:
        async with self._lock:
            raw = await call_ccxt(VENUE, getattr(self._ex, method), params, mutating=mutating)
        return raw["result"]

    async def place(self, order: ChildOrder) -> VenueOrder:
        return await place_once(self._sent, order, self._send, self.query)

    async def _send(self, order: ChildOrder) -> VenueOrder:
        inst = self._inst(order.symbol)
        tif = TIME_IN_FORCE.get(order.tif)
        if tif is None:
            raise InvalidOrder(VENUE, "LOCAL", f"Kraken has no {order.tif} time in force (GTC and IOC only)")
        if not inst.qty_on_step(order.qty) or not inst.price_on_tick(order.price):
            raise InvalidOrder(VENUE, "LOCAL", f"{order.qty} @ {order.price} is off the {inst.symbol} lot/tick grid")
        result = await self._call(
            "private_post_addorder",
            {
                "pair": altname(inst),
                "type": order.side.lower(),
                "ordertype": "limit",
                "price": decimal_text(order.price),
                "volume": decimal_text(order.qty),
                "timeinforce": tif,
                "oflags": "fciq",
                "cl_ord_id": order.client_order_id,
            },
            mutating=True,
        )
        txid = str(result["txid"][0])
        try:
            placed = await self._by_txid(txid, inst)
        except VenueError as exc:
            # Accepted, but we could not read it back: the router queries it later.
            log.warning("order_readback_failed", venue=VENUE, txid=txid, error=str(exc))
            placed = VenueOrder(
                VENUE,
                inst.symbol,
                order.client_order_id,
                txid,
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

    async def _trades(self, orders: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        txids = [t for raw in orders for t in raw.get("trades") or ()]
        out: dict[str, Any] = {}
        for i in range(0, len(txids), 20):  # QueryTrades takes at most 20 ids
            out.update(await self._call("private_post_querytrades", {"txid": ",".join(txids[i : i + 20])}))
        return out

    async def _by_txid(self, txid: str, inst: Instrument) -> VenueOrder:
        result = await self._call("private_post_queryorders", {"txid": txid, "trades": "true"})
        raw = result[txid]
        return parse_order(txid, raw, inst, await self._trades([raw]))

    async def query(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        inst = self._inst(symbol)
        params = {"cl_ord_id": client_order_id, "trades": "true"}
        found = (await self._call("private_post_openorders", params))["open"]
        if not found:
            found = (await self._call("private_post_closedorders", params))["closed"]
        if not found:
            return None
        txid, raw = next(iter(found.items()))  # newest first: the latest use of the id
        return parse_order(txid, raw, inst, await self._trades([raw]))

    async def cancel(self, symbol: str, client_order_id: str) -> VenueOrder:
        self._inst(symbol)
        try:
            await self._call("private_post_cancelorder", {"cl_ord_id": client_order_id}, mutating=True)
        except OrderNotFound:
            pass  # already final, or never there: the query below tells which
        final = await self.query(symbol, client_order_id)
        if final is None:
            raise OrderNotFound(VENUE, "EOrder:Unknown order", f"no order with cl_ord_id {client_order_id}")
        return final

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        want = self._inst(symbol) if symbol is not None else None
        found = (await self._call("private_post_openorders", {"trades": "true"}))["open"]
        trades = await self._trades(found.values())
        out: list[VenueOrder] = []
        for txid, raw in found.items():
            inst = self._by_altname.get(str((raw.get("descr") or {}).get("pair")))
            if inst is None:
                log.warning("open_order_unknown_symbol", venue=VENUE, txid=txid)
                continue
            if want is None or inst is want:
                out.append(parse_order(txid, raw, inst, trades))
        return out

    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        result = await self._call("private_post_balanceex", {})
        out: dict[str, tuple[Decimal, Decimal]] = {}
        for code, entry in result.items():
            total, held = dec(entry.get("balance")), dec(entry.get("hold_trade"))
            out[canonical_asset(code)] = (total - held, held)
        return out

    async def close(self) -> None:
        await self._ex.close()
