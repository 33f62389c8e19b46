"""Paper execution: a TradingVenue that fills children against the mirrored book of its venue.

Liquidity it takes is remembered as consumed until that venue's book next changes (the venue's next
update shows the real state), so two children in a row never fill the same displayed quantity twice.
Latency and the taker fee are configurable; balances are tracked per asset. Faults can be injected to
exercise the router: a rejection, or an order that fills but whose answer is lost (state unknown).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from decimal import Decimal

import structlog

from connectors.book import VenueBook
from connectors.errors import (
    InsufficientFunds,
    InvalidOrder,
    OrderStateUnknown,
    Rejected,
)
from connectors.numbers import units_to_decimal
from connectors.trading import ChildOrder, VenueFill, VenueOrder
from domain import OrderStatus

log = structlog.get_logger(__name__)

ZERO = Decimal(0)
BookLookup = Callable[[str], VenueBook | None]  # canonical symbol -> the mirrored book of this venue


class PaperVenue:
    def __init__(
        self,
        venue: str,
        books: BookLookup,
        *,
        taker_fee: Decimal = Decimal("0.001"),
        latency_s: float = 0.0,
        balances: dict[str, Decimal] | None = None,
    ) -> None:
        self.venue = venue
        self.books = books
        self.taker_fee = taker_fee
        self.latency_s = latency_s
        self.holdings: dict[str, Decimal] = dict(balances or {})  # None of an asset: not tracked (unlimited)
        self.track_balances = balances is not None
        self.orders: dict[str, VenueOrder] = {}
        self.placed = 0  # orders the venue actually executed (tests: a retry never doubles one)
        self.faults: list[str] = []  # "reject", "lost_answer", "unavailable": applied to the next place()
        self._consumed: dict[tuple[str, bool], tuple[int, dict[Decimal, Decimal]]] = {}
        self._trade_ids = itertools.count(1)

    # ----- TradingVenue -----
    async def place(self, order: ChildOrder) -> VenueOrder:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        existing = self.orders.get(order.client_order_id)
        if existing is not None:  # the venue knows this id: never a second order
            return existing
        fault = self.faults.pop(0) if self.faults else None
        if fault == "reject":
            raise Rejected(self.venue, "-2010", "Order rejected by the paper venue (injected fault).")
        result = self._execute(order)
        if fault == "lost_answer":
            log.info("paper_answer_lost", venue=self.venue, client_order_id=order.client_order_id)
            raise OrderStateUnknown(self.venue, "timeout waiting for the order answer (injected fault)")
        return result

    async def query(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return self.orders.get(client_order_id)

    async def cancel(self, symbol: str, client_order_id: str) -> VenueOrder:
        o = self.orders.get(client_order_id)
        if o is None:
            raise Rejected(self.venue, "-2011", "Unknown order sent.")
        if o.status.is_open:
            o = _replace(o, status=OrderStatus.CANCELED)
            self.orders[client_order_id] = o
        return o

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return [o for o in self.orders.values() if o.status.is_open and (symbol is None or o.symbol == symbol)]

    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        return {asset: (free, ZERO) for asset, free in self.holdings.items()}

    async def close(self) -> None:
        return None

    # ----- matching against the mirrored book -----
    def _execute(self, order: ChildOrder) -> VenueOrder:
        base, _, quote = order.symbol.partition("/")
        book = self.books(order.symbol)
        if book is None or not book.synced:
            raise InvalidOrder(self.venue, "-1121", f"no live book for {order.symbol} on {self.venue}")
        buy = order.side == "BUY"
        if self.track_balances:
            need = order.qty * order.price * (1 + self.taker_fee) if buy else order.qty
            asset = quote if buy else base
            if self.holdings.get(asset, ZERO) < need:
                raise InsufficientFunds(self.venue, "-2010", "Account has insufficient balance for requested action.")
        self.placed += 1
        version, consumed = self._consumed.get((order.symbol, buy), (-1, {}))
        if version != book.last_update_ns:  # the venue spoke since: its book is the truth again
            consumed = {}
        takes: list[tuple[Decimal, Decimal]] = []
        left = order.qty
        for p, q in _levels(book, buy):
            if left <= 0 or (buy and p > order.price) or (not buy and p < order.price):
                break
            avail = q - consumed.get(p, ZERO)
            if avail <= 0:
                continue
            take = min(avail, left)
            takes.append((p, take))
            left -= take
        if order.tif == "FOK" and left > 0:
            takes = []
        for p, take in takes:
            consumed[p] = consumed.get(p, ZERO) + take
        self._consumed[(order.symbol, buy)] = (book.last_update_ns, consumed)
        fills = tuple(
            VenueFill(
                price=p,
                qty=t,
                fee=p * t * self.taker_fee,
                fee_asset=quote,
                trade_id=f"{self.venue}-{next(self._trade_ids)}",
            )
            for p, t in takes
        )
        filled = sum((f.qty for f in fills), ZERO)
        quote_qty = sum((f.price * f.qty for f in fills), ZERO)
        fee = sum((f.fee for f in fills), ZERO)
        if filled == order.qty:
            status = OrderStatus.FILLED
        elif order.tif == "GTC":
            status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.NEW
        else:
            status = OrderStatus.EXPIRED
        if self.track_balances and filled:
            if buy:
                self.holdings[quote] = self.holdings.get(quote, ZERO) - quote_qty - fee
                self.holdings[base] = self.holdings.get(base, ZERO) + filled
            else:
                self.holdings[base] = self.holdings.get(base, ZERO) - filled
                self.holdings[quote] = self.holdings.get(quote, ZERO) + quote_qty - fee
        result = VenueOrder(
            venue=self.venue,
            symbol=order.symbol,
            client_order_id=order.client_order_id,
            venue_order_id=f"P{self.placed}",
            side=order.side,
            price=order.price,
            qty=order.qty,
            status=status,
            filled_qty=filled,
            quote_qty=quote_qty,
            fee=fee,
            fee_asset=quote,
            fills=fills,
        )
        self.orders[order.client_order_id] = result
        return result


def _levels(book: VenueBook, buy: bool, chunk: int = 50) -> Iterator[tuple[Decimal, Decimal]]:
    """The side a child takes, best first, converted to Decimal a chunk at a time."""
    levels = book.levels
    fetch = levels.asks if buy else levels.bids
    offset = 0
    while True:
        rows = fetch(chunk, offset)
        for p, q in rows:
            yield units_to_decimal(p, levels.price_scale), units_to_decimal(q, levels.qty_scale)
        if len(rows) < chunk:
            return
        offset += chunk


def _replace(o: VenueOrder, **changes: object) -> VenueOrder:
    from dataclasses import replace

    return replace(o, **changes)  # type: ignore[arg-type]
