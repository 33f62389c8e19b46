"""The simulators' own truth: a plain Decimal book per symbol and a seeded generator of level changes.

Deliberately independent of the compiled L2 book, so that comparing a mirrored book with the simulator's
book checks the connector rather than the book against itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

Level = tuple[Decimal, Decimal]


@dataclass(frozen=True, slots=True)
class Change:
    bid: bool
    price: Decimal
    qty: Decimal  # absolute; zero removes the level


@dataclass(frozen=True, slots=True)
class SimTrade:
    """A public trade: a taker lifting the best ask (``taker_buy``) or hitting the best bid."""

    price: Decimal
    qty: Decimal
    taker_buy: bool


@dataclass(slots=True)
class SimBook:
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)

    def apply(self, changes: list[Change]) -> None:
        for ch in changes:
            side = self.bids if ch.bid else self.asks
            if ch.qty == 0:
                side.pop(ch.price, None)
            else:
                side[ch.price] = ch.qty

    def top(self, depth: int | None = None) -> tuple[list[Level], list[Level]]:
        bids = sorted(self.bids.items(), reverse=True)
        asks = sorted(self.asks.items())
        if depth is not None:
            bids, asks = bids[:depth], asks[:depth]
        return bids, asks

    def truncate(self, depth: int) -> None:
        bids, asks = self.top(depth)
        self.bids, self.asks = dict(bids), dict(asks)


@dataclass(slots=True)
class MarketGenerator:
    """A random walk around ``mid`` on a tick grid; each step changes a few levels near the top."""

    mid: Decimal
    tick: Decimal
    lot: Decimal
    levels: int = 50
    seed: int = 1
    changes_per_step: tuple[int, int] = (1, 6)
    trade_chance: float = 0.3  # a public trade after a step, this often
    rng: random.Random = field(init=False)
    trade_rng: random.Random = field(init=False)  # its own stream: trades never change the book sequence

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # nosec B311 # seeded pseudo-random market simulation, not security
        self.trade_rng = random.Random(f"{self.seed}:trades")  # nosec B311 # the same, for public trades

    def trade(self, book: SimBook) -> SimTrade | None:
        """Maybe a public trade at the touch (the book is left as it is)."""
        rng = self.trade_rng
        if rng.random() >= self.trade_chance or not book.bids or not book.asks:
            return None
        buy = rng.random() < 0.5
        return SimTrade(min(book.asks) if buy else max(book.bids), self.lot * rng.randint(1, 500), buy)

    def _qty(self) -> Decimal:
        return self.lot * self.rng.randint(1, 5000)

    def initial(self) -> SimBook:
        book = SimBook()
        for i in range(1, self.levels + 1):
            book.bids[self.mid - self.tick * i] = self._qty()
            book.asks[self.mid + self.tick * i] = self._qty()
        return book

    def step(self, book: SimBook) -> list[Change]:
        rng = self.rng
        changes: list[Change] = []
        best_bid = max(book.bids) if book.bids else self.mid - self.tick
        best_ask = min(book.asks) if book.asks else self.mid + self.tick
        for _ in range(rng.randint(*self.changes_per_step)):
            bid = rng.random() < 0.5
            offset = self.tick * rng.randint(0, 8)
            if bid:
                price = min(best_bid + self.tick * rng.randint(-1, 1) - offset, best_ask - self.tick)
                if price <= 0:
                    continue
                remove = price in book.bids and rng.random() < 0.3 and len(book.bids) > 5
            else:
                price = max(best_ask + self.tick * rng.randint(-1, 1) + offset, best_bid + self.tick)
                remove = price in book.asks and rng.random() < 0.3 and len(book.asks) > 5
            ch = Change(bid, price, Decimal(0) if remove else self._qty())
            book.apply([ch])
            changes.append(ch)
            if book.bids:
                best_bid = max(book.bids)
            if book.asks:
                best_ask = min(book.asks)
        return changes
