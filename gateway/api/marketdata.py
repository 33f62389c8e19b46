"""Market data as Binance publishes it: a numbered depth book per symbol, its diff events, public trades.

The depth a client sees is the published book's top ``levels`` per side: the consolidated book (every
venue plus Braid's own resting orders) with any crossed or locked top netted out (router/published.py).
Each refresh compares the new top with the last published one; if anything changed, the update id goes up
by one and a ``depthUpdate`` with ``U == u == id`` carries exactly the changed levels (quantity 0: gone).
REST ``depth`` answers from the same published state with ``lastUpdateId == id``, so a client that buffers
the stream, fetches the snapshot and applies events with ``U <= lastUpdateId+1 <= u`` (Binance's own
procedure) keeps an exact copy.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from domain import now_ms
from router.consolidated import ConsolidatedBook
from router.published import PublishedBook, published_levels

log = structlog.get_logger(__name__)
ZERO = Decimal(0)
Subscriber = Callable[[dict[str, object]], None]
# Braid's own resting orders for a symbol: (version, bids, asks), version changing whenever they do
InternalLevels = Callable[[str], tuple[int, dict[Decimal, Decimal], dict[Decimal, Decimal]]]


_ZERO_TEXT = "0.00000000"


def fmt(d: Decimal | None) -> str:
    """Binance's wire format for decimals: 8 places, as text."""
    return f"{d:.8f}" if d else _ZERO_TEXT  # zero (and -0, None) is the commonest field: no formatting


def _diff(old: dict[Decimal, Decimal], new: dict[Decimal, Decimal]) -> list[list[str]]:
    out = [[fmt(p), fmt(q)] for p, q in new.items() if old.get(p) != q]
    out += [[fmt(p), fmt(ZERO)] for p in old if p not in new]
    return out


@dataclass
class DepthFeed:
    symbol: str  # Binance spelling
    book: ConsolidatedBook
    levels: int = 200
    update_id: int = field(default_factory=now_ms)  # ids never go back across a restart
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    subscribers: set[Subscriber] = field(default_factory=set)
    top_subscribers: set[Subscriber] = field(default_factory=set)  # bookTicker
    last_top: tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None] = (None, None, None, None)
    version: object = None  # the venue books' update stamps (and the internal version) at the last refresh
    internal: InternalLevels | None = None  # Braid's own resting orders, shown with the venues' liquidity
    mode: PublishedBook = "netted"  # which uncrossed book is published (router/published.py)

    def refresh(self, now_ns: int | None = None) -> dict[str, object] | None:
        """Publish the book's changes since the last refresh as one diff event (None if nothing changed)."""
        now = now_ns or time.time_ns()
        own = self.internal(self.symbol) if self.internal is not None else (0, {}, {})
        version = (own[0], tuple((v, b.last_update_ns) for v, b in self.book.live_venue_books(now).items()))
        if version == self.version:  # no venue book moved and none came or went: nothing to compare
            return None
        self.version = version
        bid_levels, ask_levels = published_levels(
            self.book, self.levels, self.mode, own_bids=own[1], own_asks=own[2], now_ns=now
        )
        bids, asks = dict(bid_levels), dict(ask_levels)
        b, a = _diff(self.bids, bids), _diff(self.asks, asks)
        if not b and not a:
            return None
        self.update_id += 1
        self.bids, self.asks = bids, asks
        event: dict[str, object] = {
            "e": "depthUpdate",
            "E": now_ms(),
            "s": self.symbol,
            "U": self.update_id,
            "u": self.update_id,
            "b": b,
            "a": a,
        }
        for cb in list(self.subscribers):
            cb(event)
        top = self.top()
        if top != self.last_top:
            self.last_top = top
            if self.top_subscribers:
                bt = self.book_ticker()
                for cb in list(self.top_subscribers):
                    cb(bt)
        return event

    def top(self) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]:
        bp = max(self.bids) if self.bids else None
        ap = min(self.asks) if self.asks else None
        return bp, (self.bids[bp] if bp is not None else None), ap, (self.asks[ap] if ap is not None else None)

    def snapshot(self, limit: int) -> dict[str, object]:
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return {
            "lastUpdateId": self.update_id,
            "bids": [[fmt(p), fmt(q)] for p, q in bids],
            "asks": [[fmt(p), fmt(q)] for p, q in asks],
        }

    def book_ticker(self) -> dict[str, object]:
        bp, bq, ap, aq = self.top()
        return {"u": self.update_id, "s": self.symbol, "b": fmt(bp), "B": fmt(bq), "a": fmt(ap), "A": fmt(aq)}


@dataclass(frozen=True, slots=True)
class PublicTrade:
    id: int
    price: Decimal
    qty: Decimal
    time: int
    buyer_maker: bool

    def as_rest(self) -> dict[str, object]:
        return {
            "id": self.id,
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "quoteQty": fmt(self.price * self.qty),
            "time": self.time,
            "isBuyerMaker": self.buyer_maker,
            "isBestMatch": True,
        }

    def as_agg(self) -> dict[str, object]:
        return {
            "a": self.id,
            "p": fmt(self.price),
            "q": fmt(self.qty),
            "f": self.id,
            "l": self.id,
            "T": self.time,
            "m": self.buyer_maker,
            "M": True,
        }

    def as_event(self, symbol: str) -> dict[str, object]:
        return {
            "e": "trade",
            "E": now_ms(),
            "s": symbol,
            "t": self.id,
            "p": fmt(self.price),
            "q": fmt(self.qty),
            "T": self.time,
            "m": self.buyer_maker,
            "M": True,
        }


class MarketPublisher:
    """Depth feeds and public trades of every symbol, refreshed every ``interval_s`` while running."""

    def __init__(
        self,
        books: dict[str, ConsolidatedBook],
        levels: int = 200,
        interval_s: float = 0.1,
        internal: InternalLevels | None = None,
        mode: PublishedBook = "netted",
    ) -> None:
        self.feeds = {sym: DepthFeed(sym, book, levels, internal=internal, mode=mode) for sym, book in books.items()}
        self.trades: dict[str, collections.deque[PublicTrade]] = {s: collections.deque(maxlen=5000) for s in books}
        self.trade_subscribers: dict[str, set[Subscriber]] = {s: set() for s in books}
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def add_trade(self, symbol: str, trade_id: int, price: Decimal, qty: Decimal, t: int, buyer_maker: bool) -> None:
        tr = PublicTrade(trade_id, price, qty, t, buyer_maker)
        self.trades[symbol].append(tr)
        subs = self.trade_subscribers.get(symbol)
        if subs:
            event = tr.as_event(symbol)
            for cb in list(subs):
                cb(event)

    def refresh_all(self) -> None:
        for feed in self.feeds.values():
            try:
                feed.refresh()
            except Exception:  # one symbol's bad pass must not stop the others
                log.exception("depth_refresh_failed", symbol=feed.symbol)

    async def run(self) -> None:
        while True:
            self.refresh_all()
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self._task is None:
            self.refresh_all()
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    # ----- tickers and candles from the published state and recent trades -----
    def ticker_24h(self, symbol: str) -> dict[str, object]:
        feed = self.feeds[symbol]
        bp, bq, ap, aq = feed.top()
        now = now_ms()
        recent = [t for t in self.trades[symbol] if t.time >= now - 86_400_000]
        mid = (bp + ap) / 2 if bp is not None and ap is not None else (bp or ap)
        last = recent[-1].price if recent else (mid or ZERO)
        open_ = recent[0].price if recent else last
        high = max((t.price for t in recent), default=last)
        low = min((t.price for t in recent), default=last)
        vol = sum((t.qty for t in recent), ZERO)
        qvol = sum((t.qty * t.price for t in recent), ZERO)
        change = last - open_
        pct = (change / open_ * 100) if open_ else ZERO
        return {
            "symbol": symbol,
            "priceChange": fmt(change),
            "priceChangePercent": f"{pct:.3f}",
            "weightedAvgPrice": fmt(qvol / vol if vol else last),
            "prevClosePrice": fmt(open_),
            "lastPrice": fmt(last),
            "lastQty": fmt(recent[-1].qty if recent else ZERO),
            "bidPrice": fmt(bp),
            "bidQty": fmt(bq),
            "askPrice": fmt(ap),
            "askQty": fmt(aq),
            "openPrice": fmt(open_),
            "highPrice": fmt(high),
            "lowPrice": fmt(low),
            "volume": fmt(vol),
            "quoteVolume": fmt(qvol),
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": recent[0].id if recent else -1,
            "lastId": recent[-1].id if recent else -1,
            "count": len(recent),
        }

    def price(self, symbol: str) -> Decimal:
        trades = self.trades[symbol]
        if trades:
            return trades[-1].price
        bp, _, ap, _ = self.feeds[symbol].top()
        if bp is not None and ap is not None:
            return (bp + ap) / 2
        return bp or ap or ZERO

    def klines(
        self, symbol: str, interval_ms: int, start: int | None, end: int | None, limit: int
    ) -> list[list[object]]:
        buckets: dict[int, list[PublicTrade]] = {}
        for t in self.trades[symbol]:
            if (start is not None and t.time < start) or (end is not None and t.time > end):
                continue
            buckets.setdefault(t.time // interval_ms * interval_ms, []).append(t)
        rows = []
        for open_time in sorted(buckets)[-limit:]:
            ts = buckets[open_time]
            vol = sum((t.qty for t in ts), ZERO)
            qvol = sum((t.qty * t.price for t in ts), ZERO)
            taker_buy = [t for t in ts if not t.buyer_maker]
            rows.append(
                [
                    open_time,
                    fmt(ts[0].price),
                    fmt(max(t.price for t in ts)),
                    fmt(min(t.price for t in ts)),
                    fmt(ts[-1].price),
                    fmt(vol),
                    open_time + interval_ms - 1,
                    fmt(qvol),
                    len(ts),
                    fmt(sum((t.qty for t in taker_buy), ZERO)),
                    fmt(sum((t.qty * t.price for t in taker_buy), ZERO)),
                    "0",
                ]
            )
        return rows
