"""A small in-memory exchange behind each fake venue: accounts, orders, IOC/FOK/GTC, fees. Pure, no I/O.

Orders trade against ``Liquidity`` (a book the test gives, or later the market-data simulators' truth
books). Whatever a GTC order does not fill at once rests here until cancelled; it does not match later
liquidity (the router only sends IOC/FOK children; GTC exists to test cancel and open orders).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

ZERO = Decimal(0)
Level = tuple[Decimal, Decimal]


class Liquidity(Protocol):
    def take(
        self, symbol: str, side: str, qty: Decimal, limit_price: Decimal, all_or_none: bool = False
    ) -> list[Level]:
        """Consume up to ``qty`` at prices no worse than ``limit_price`` for a taker on ``side`` ("BUY" takes asks).

        Returns the (price, qty) executed, best first; nothing at all if ``all_or_none`` and ``qty`` is not there.
        """
        ...


@dataclass
class StaticBook:
    """Resting liquidity per symbol (the venue's own symbol spelling), consumed as it is taken."""

    asks: dict[str, list[Level]] = field(default_factory=dict)
    bids: dict[str, list[Level]] = field(default_factory=dict)

    def take(
        self, symbol: str, side: str, qty: Decimal, limit_price: Decimal, all_or_none: bool = False
    ) -> list[Level]:
        levels = sorted(self.asks.get(symbol, [])) if side == "BUY" else sorted(self.bids.get(symbol, []), reverse=True)
        crosses = (lambda p: p <= limit_price) if side == "BUY" else (lambda p: p >= limit_price)
        if all_or_none and sum((q for p, q in levels if crosses(p)), ZERO) < qty:
            return []
        out: list[Level] = []
        left = qty
        rest: list[Level] = []
        for price, avail in levels:
            if left > 0 and crosses(price):
                got = min(left, avail)
                out.append((price, got))
                left -= got
                if avail > got:
                    rest.append((price, avail - got))
            else:
                rest.append((price, avail))
        (self.asks if side == "BUY" else self.bids)[symbol] = rest
        return out


class PriceLevels(Protocol):
    """Anything holding ``bids``/``asks`` as price -> qty dicts, e.g. the market-data simulators' ``SimBook``."""

    bids: dict[Decimal, Decimal]
    asks: dict[Decimal, Decimal]


class BookLiquidity:
    """Liquidity read from live price-level books (by venue symbol), such as the market-data simulators' truth.

    With ``consume`` the taken quantity is removed from the book, as a real trade would; without it the book is
    left to its own generator and every order sees the full depth.
    """

    def __init__(self, books: Mapping[str, PriceLevels], *, consume: bool = False) -> None:
        self.books = books
        self.consume = consume

    def take(
        self, symbol: str, side: str, qty: Decimal, limit_price: Decimal, all_or_none: bool = False
    ) -> list[Level]:
        book = self.books.get(symbol)
        if book is None:
            return []
        levels = book.asks if side == "BUY" else book.bids
        static = StaticBook(asks={symbol: sorted(book.asks.items())}, bids={symbol: sorted(book.bids.items())})
        out = static.take(symbol, side, qty, limit_price, all_or_none)
        if self.consume:
            for price, got in out:
                left = levels[price] - got
                if left > 0:
                    levels[price] = left
                else:
                    del levels[price]
        return out


@dataclass(frozen=True)
class SimMarket:
    symbol: str  # the venue's spelling
    base: str  # the venue's asset names
    quote: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal = ZERO
    min_notional: Decimal = ZERO


@dataclass(frozen=True)
class SimFill:
    trade_id: int
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    time_ms: int


@dataclass
class SimOrder:
    order_id: int
    client_id: str
    symbol: str
    side: str  # BUY | SELL
    price: Decimal
    qty: Decimal
    tif: str  # IOC | FOK | GTC
    created_ms: int
    status: str = "NEW"  # NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED
    fills: list[SimFill] = field(default_factory=list)
    updated_ms: int = 0

    @property
    def filled(self) -> Decimal:
        return sum((f.qty for f in self.fills), ZERO)

    @property
    def quote_filled(self) -> Decimal:
        return sum((f.price * f.qty for f in self.fills), ZERO)

    @property
    def fees(self) -> Decimal:
        return sum((f.fee for f in self.fills), ZERO)

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


class Reject(Exception):
    """Why the exchange refused; each fake server turns ``kind`` into its venue's error."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}")
        # insufficient_funds | duplicate | unknown_symbol | bad_price | bad_qty | min_notional | not_found | not_open
        self.kind = kind
        self.detail = detail


FeeAsset = Callable[[str, SimMarket], str]


def fee_in_received(side: str, market: SimMarket) -> str:
    """Binance/HTX default: the commission is taken from what the taker receives."""
    return market.base if side == "BUY" else market.quote


def fee_in_quote(side: str, market: SimMarket) -> str:
    """Kraken with oflags=fciq."""
    return market.quote


class MatchingEngine:
    def __init__(
        self,
        markets: list[SimMarket],
        liquidity: Liquidity,
        balances: dict[str, Decimal] | None = None,
        *,
        taker_fee: Decimal = Decimal("0.001"),
        fee_asset: FeeAsset = fee_in_received,
        unique_ids: str = "open",  # "open": a client id is unique among open orders; "all": forever
        clock_ms: Callable[[], int] | None = None,
        first_order_id: int = 1000,
    ) -> None:
        self.markets = {m.symbol: m for m in markets}
        self.liquidity = liquidity
        self.free: dict[str, Decimal] = dict(balances or {})
        self.locked: dict[str, Decimal] = {}
        self.taker_fee = taker_fee
        self.fee_asset = fee_asset
        self.unique_ids = unique_ids
        self.clock_ms = clock_ms or (lambda: 0)
        self.orders: dict[int, SimOrder] = {}
        self._order_ids = itertools.count(first_order_id)
        self._trade_ids = itertools.count(1)

    # ----- queries -----
    def by_client_id(self, client_id: str) -> SimOrder | None:
        # The newest order with this id wins (venues that allow reuse after close answer with the latest).
        found = [o for o in self.orders.values() if o.client_id == client_id]
        return found[-1] if found else None

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)]

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        return self.free.get(asset, ZERO), self.locked.get(asset, ZERO)

    def assets(self) -> list[str]:
        return sorted(set(self.free) | set(self.locked))

    # ----- commands -----
    def place(self, symbol: str, side: str, qty: Decimal, price: Decimal, tif: str, client_id: str) -> SimOrder:
        market = self.markets.get(symbol)
        if market is None:
            raise Reject("unknown_symbol", symbol)
        if qty <= 0 or (market.step and qty % market.step) or qty < market.min_qty:
            raise Reject("bad_qty", str(qty))
        if price <= 0 or (market.tick and price % market.tick):
            raise Reject("bad_price", str(price))
        if market.min_notional and qty * price < market.min_notional:
            raise Reject("min_notional", str(qty * price))
        prior = self.by_client_id(client_id)
        if prior is not None and (self.unique_ids == "all" or prior.is_open):
            raise Reject("duplicate", client_id)
        lock_asset, lock_amount = (market.quote, qty * price) if side == "BUY" else (market.base, qty)
        if self.free.get(lock_asset, ZERO) < lock_amount:
            raise Reject("insufficient_funds", f"{lock_asset} free {self.free.get(lock_asset, ZERO)} < {lock_amount}")
        now = self.clock_ms()
        order = SimOrder(next(self._order_ids), client_id, symbol, side, price, qty, tif, now, updated_ms=now)
        self._move(lock_asset, lock_amount, to_locked=True)
        self.orders[order.order_id] = order
        for fill_price, fill_qty in self.liquidity.take(symbol, side, qty, price, all_or_none=(tif == "FOK")):
            self._fill(order, market, fill_price, fill_qty, now)
        if order.filled == qty:
            order.status = "FILLED"
        elif tif in ("IOC", "FOK"):
            order.status = "EXPIRED"
        elif order.fills:
            order.status = "PARTIALLY_FILLED"
        if not order.is_open:
            self._release(order, market)
        return order

    def cancel(self, order: SimOrder) -> SimOrder:
        if not order.is_open:
            raise Reject("not_open", order.status)
        order.status = "CANCELED"
        order.updated_ms = self.clock_ms()
        self._release(order, self.markets[order.symbol])
        return order

    # ----- bookkeeping -----
    def _fill(self, order: SimOrder, market: SimMarket, price: Decimal, qty: Decimal, now: int) -> None:
        fee_asset = self.fee_asset(order.side, market)
        notional = price * qty
        fee = (qty if fee_asset == market.base else notional) * self.taker_fee
        if order.side == "BUY":
            # Locked at the limit; the price improvement goes back to free when the order ends.
            self.locked[market.quote] -= notional
            self._credit(market.base, qty)
        else:
            self.locked[market.base] -= qty
            self._credit(market.quote, notional)
        self._credit(fee_asset, -fee)
        order.fills.append(SimFill(next(self._trade_ids), price, qty, fee, fee_asset, now))
        order.updated_ms = now

    def _release(self, order: SimOrder, market: SimMarket) -> None:
        if order.side == "BUY":
            left = order.qty * order.price - order.quote_filled
            self._move(market.quote, left, to_locked=False)
        else:
            self._move(market.base, order.qty - order.filled, to_locked=False)

    def _move(self, asset: str, amount: Decimal, *, to_locked: bool) -> None:
        sign = 1 if to_locked else -1
        self.free[asset] = self.free.get(asset, ZERO) - sign * amount
        self.locked[asset] = self.locked.get(asset, ZERO) + sign * amount

    def _credit(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.free.get(asset, ZERO) + amount
