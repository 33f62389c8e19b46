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

from connectors.base import VenueTrade
from domain import now_ms
from gateway.api.market_candles import INTERVALS, Candle, CandleStore, aggregate, bucket_of, parse_time_zone
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
    """One trade of the market as a whole: a venue's public trade or one of Braid's own fills.

    ``id`` is Braid's public trade id for the symbol (one sequence over every source, in arrival order);
    ``source`` says where it happened: ``binance``, ``kraken``, ``htx`` (the venues' public trade streams) or
    ``braid`` (a fill of Braid's own clients)."""

    id: int
    price: Decimal
    qty: Decimal
    time: int
    buyer_maker: bool
    source: str = "braid"

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

    def as_agg_event(self, symbol: str) -> dict[str, object]:
        return {"e": "aggTrade", "E": now_ms(), "s": symbol, **self.as_agg()}


_TIMED = ("ticker", "miniTicker", "avgPrice")  # streams pushed once a second, like Binance's
_AVG_MINS = 5


class MarketPublisher:
    """Depth feeds, and the market's public trades, candles and tickers, for every symbol.

    Depth is refreshed every ``interval_s``; trades (venue trades and Braid's own fills) are pushed as they
    come, with the kline streams of the intervals someone follows; tickers and average prices once a second.
    """

    def __init__(
        self,
        books: dict[str, ConsolidatedBook],
        levels: int = 200,
        interval_s: float = 0.1,
        internal: InternalLevels | None = None,
        mode: PublishedBook = "netted",
        *,
        trades_kept: int = 10_000,
        seconds_kept: int = 3_600,
        minutes_kept: int = 10_080,
    ) -> None:
        self.feeds = {sym: DepthFeed(sym, book, levels, internal=internal, mode=mode) for sym, book in books.items()}
        self.by_canonical = {book.symbol: sym for sym, book in books.items()}
        self.trades: dict[str, collections.deque[PublicTrade]] = {
            s: collections.deque(maxlen=trades_kept) for s in books
        }
        self.candles = {s: CandleStore(seconds_kept, minutes_kept) for s in books}
        self.streams: dict[str, set[Subscriber]] = {}  # trade-driven and timed streams, by lower-case name
        self._running: dict[str, tuple[int, int, Candle]] = {}  # kline stream -> its current candle
        self._next_id = dict.fromkeys(books, 1)
        self._braid_seen: collections.OrderedDict[tuple[str, object], None] = collections.OrderedDict()
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._last_timed = 0.0

    # ----- trades in -----
    def on_venue_trade(self, trade: VenueTrade) -> None:
        """A venue's public trade (router/market.py hands every one over)."""
        sym = self.by_canonical.get(trade.symbol)
        if sym is not None:
            self.add_trade(sym, trade.price, trade.qty, trade.time_ms, trade.buyer_maker, source=trade.venue)

    def add_braid_fill(self, symbol: str, fill_id: object, price: Decimal, qty: Decimal, t: int, maker: bool) -> None:
        """One of Braid's own fills, once (both parties of an internal match report the same fill)."""
        key = (symbol, fill_id)
        if key in self._braid_seen:
            return
        self._braid_seen[key] = None
        if len(self._braid_seen) > 10_000:
            self._braid_seen.popitem(last=False)
        self.add_trade(symbol, price, qty, t, maker, source="braid")

    def add_trade(
        self, symbol: str, price: Decimal, qty: Decimal, t: int, buyer_maker: bool, *, source: str = "braid"
    ) -> PublicTrade:
        tid = self._next_id[symbol]
        self._next_id[symbol] = tid + 1
        tr = PublicTrade(tid, price, qty, t, buyer_maker, source)
        self.trades[symbol].append(tr)
        self.candles[symbol].add(tid, price, qty, t, buyer_maker)
        low = symbol.lower()
        streams = self.streams
        if streams:
            subs = streams.get(f"{low}@trade")
            if subs:
                self._push(subs, tr.as_event(symbol))
            subs = streams.get(f"{low}@aggtrade")
            if subs:
                self._push(subs, tr.as_agg_event(symbol))
            for name, (open_t, close_t, candle) in list(self._running.items()):
                if name.startswith(low + "@kline_"):
                    self._kline_trade(name, symbol, tr, open_t, close_t, candle)
        return tr

    def _kline_trade(self, name: str, symbol: str, tr: PublicTrade, open_t: int, close_t: int, c: Candle) -> None:
        interval, _, zone = name.split("@kline_", 1)[1].partition("@")
        tz = parse_time_zone(zone) or 0
        subs = self.streams.get(name, set())
        if tr.time < open_t:
            return  # a late venue trade for a candle already closed on the stream (REST klines have it)
        if tr.time > close_t:
            if c.count:  # the candle the stream was showing closes (one that never traded is not shown)
                self._push(subs, _kline_event(symbol, interval, open_t, close_t, c, closed=True))
            open_t, close_t = bucket_of(interval, tr.time, tz)
            c = Candle(open_t, tr.price, tr.id)
        c.add(tr.id, tr.price, tr.qty, tr.time, tr.buyer_maker)
        self._running[name] = (open_t, close_t, c)
        self._push(subs, _kline_event(symbol, interval, open_t, close_t, c, closed=False))

    @staticmethod
    def _push(subs: set[Subscriber], event: dict[str, object]) -> None:
        for cb in list(subs):
            cb(event)

    # ----- streams -----
    def subscribe(self, stream: str, cb: Subscriber) -> Callable[[], None] | None:
        """Follow a trade, kline, ticker or average-price stream; None if this is not one of them."""
        sym, _, kind = stream.partition("@")
        if stream in ("!ticker@arr", "!miniTicker@arr"):
            name = stream.lower()
        else:
            symbol = sym.upper()
            if symbol not in self.feeds:
                return None
            if kind.startswith("kline_"):
                interval, _, zone = kind[6:].partition("@")  # <s>@kline_1h, or in a time zone: @kline_1h@+08:00
                tz = parse_time_zone(zone) if zone else 0
                if interval not in INTERVALS or tz is None:
                    return None
                name = f"{sym.lower()}@kline_{interval}" + (f"@{zone}" if zone else "")
                if name not in self._running:
                    now = now_ms()
                    open_t, close_t = bucket_of(interval, now, tz)
                    rows = aggregate(self.candles[symbol].base(interval), interval, tz)
                    current = rows[-1][2] if rows and rows[-1][0] == open_t else Candle(open_t, self.price(symbol), 0)
                    self._running[name] = (open_t, close_t, current)
            elif kind in ("trade", "aggTrade", *_TIMED):
                name = f"{sym.lower()}@{kind.lower()}"
            else:
                return None
        subs = self.streams.setdefault(name, set())
        subs.add(cb)

        def undo() -> None:
            subs.discard(cb)
            if not subs:
                self.streams.pop(name, None)
                self._running.pop(name, None)

        return undo

    def push_timed(self) -> None:
        """The once-a-second streams: ``@ticker``, ``@miniTicker``, ``@avgPrice``, ``!ticker@arr``."""
        for name, subs in list(self.streams.items()):
            if not subs:
                continue
            if name == "!ticker@arr":
                self._push_list(subs, [self.ticker_event(s) for s in self.feeds])
                continue
            if name == "!miniticker@arr":
                self._push_list(subs, [self.mini_ticker_event(s) for s in self.feeds])
                continue
            sym, _, kind = name.partition("@")
            symbol = sym.upper()
            if kind == "ticker":
                self._push(subs, self.ticker_event(symbol))
            elif kind == "miniticker":
                self._push(subs, self.mini_ticker_event(symbol))
            elif kind == "avgprice":
                price, last = self.avg_price(symbol)
                self._push(subs, {"e": "avgPrice", "E": now_ms(), "s": symbol, "i": f"{_AVG_MINS}m",
                                  "w": fmt(price), "T": last})  # fmt: skip

    @staticmethod
    def _push_list(subs: set[Subscriber], events: list[dict[str, object]]) -> None:
        for cb in list(subs):
            cb(events)  # type: ignore[arg-type]

    def refresh_all(self) -> None:
        for feed in self.feeds.values():
            try:
                feed.refresh()
            except Exception:  # one symbol's bad pass must not stop the others
                log.exception("depth_refresh_failed", symbol=feed.symbol)
        now = time.monotonic()
        if self.streams and now - self._last_timed >= 1.0:
            self._last_timed = now
            try:
                self.push_timed()
            except Exception:
                log.exception("timed_streams_failed")

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

    # ----- tickers, average price and candles -----
    def window_stats(self, symbol: str, window_ms: int, now: int | None = None) -> dict[str, object]:
        """The rolling-window figures Binance's ``ticker`` and ``ticker/24hr`` share (FULL minus the book)."""
        now = now_ms() if now is None else now
        c = self.candles[symbol].window(now, window_ms)
        if c is None or not c.count:
            last = self.price(symbol)
            return {
                "symbol": symbol, "priceChange": fmt(ZERO), "priceChangePercent": "0.000",
                "weightedAvgPrice": fmt(ZERO), "openPrice": fmt(ZERO), "highPrice": fmt(ZERO),
                "lowPrice": fmt(ZERO), "lastPrice": fmt(last), "volume": fmt(ZERO), "quoteVolume": fmt(ZERO),
                "openTime": now - window_ms, "closeTime": now, "firstId": -1, "lastId": -1, "count": 0,
            }  # fmt: skip
        change = c.close - c.open
        pct = change * 100 / c.open if c.open else ZERO
        return {
            "symbol": symbol,
            "priceChange": fmt(change),
            "priceChangePercent": f"{pct:.3f}",
            "weightedAvgPrice": fmt(c.quote_volume / c.volume if c.volume else c.close),
            "openPrice": fmt(c.open),
            "highPrice": fmt(c.high),
            "lowPrice": fmt(c.low),
            "lastPrice": fmt(c.close),
            "volume": fmt(c.volume),
            "quoteVolume": fmt(c.quote_volume),
            "openTime": now - window_ms,
            "closeTime": now,
            "firstId": c.first_id,
            "lastId": c.last_id,
            "count": c.count,
        }

    def ticker_24h(self, symbol: str) -> dict[str, object]:
        stats = self.window_stats(symbol, 86_400_000)
        bp, bq, ap, aq = self.feeds[symbol].top()
        trades = self.trades[symbol]
        out = dict(stats)
        out.update(
            prevClosePrice=stats["openPrice"],
            lastQty=fmt(trades[-1].qty if trades else ZERO),
            bidPrice=fmt(bp),
            bidQty=fmt(bq),
            askPrice=fmt(ap),
            askQty=fmt(aq),
        )
        order = ("symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice", "lastPrice",
                 "lastQty", "bidPrice", "bidQty", "askPrice", "askQty", "openPrice", "highPrice", "lowPrice",
                 "volume", "quoteVolume", "openTime", "closeTime", "firstId", "lastId", "count")  # fmt: skip
        return {k: out[k] for k in order}

    def ticker_event(self, symbol: str) -> dict[str, object]:
        t = self.ticker_24h(symbol)
        return {
            "e": "24hrTicker", "E": now_ms(), "s": symbol, "p": t["priceChange"], "P": t["priceChangePercent"],
            "w": t["weightedAvgPrice"], "x": t["prevClosePrice"], "c": t["lastPrice"], "Q": t["lastQty"],
            "b": t["bidPrice"], "B": t["bidQty"], "a": t["askPrice"], "A": t["askQty"], "o": t["openPrice"],
            "h": t["highPrice"], "l": t["lowPrice"], "v": t["volume"], "q": t["quoteVolume"], "O": t["openTime"],
            "C": t["closeTime"], "F": t["firstId"], "L": t["lastId"], "n": t["count"],
        }  # fmt: skip

    def mini_ticker_event(self, symbol: str) -> dict[str, object]:
        t = self.window_stats(symbol, 86_400_000)
        return {
            "e": "24hrMiniTicker", "E": now_ms(), "s": symbol, "c": t["lastPrice"], "o": t["openPrice"],
            "h": t["highPrice"], "l": t["lowPrice"], "v": t["volume"], "q": t["quoteVolume"],
        }  # fmt: skip

    def avg_price(self, symbol: str) -> tuple[Decimal, int]:
        """Binance's ``avgPrice``: volume-weighted over the last 5 minutes (the last price if none), and the
        time of the last trade."""
        now = now_ms()
        c = self.candles[symbol].window(now, _AVG_MINS * 60_000)
        trades = self.trades[symbol]
        last_time = trades[-1].time if trades else now
        if c is None or not c.volume:
            return self.price(symbol), last_time
        return c.quote_volume / c.volume, last_time

    def price(self, symbol: str) -> Decimal:
        trades = self.trades[symbol]
        if trades:
            return trades[-1].price
        bp, _, ap, _ = self.feeds[symbol].top()
        if bp is not None and ap is not None:
            return (bp + ap) / 2
        return bp or ap or ZERO

    def klines(
        self, symbol: str, interval: str, start: int | None, end: int | None, limit: int, tz_ms: int = 0
    ) -> list[list[object]]:
        return self.candles[symbol].klines(interval, start, end, limit, tz_ms)


def _kline_event(
    symbol: str, interval: str, open_t: int, close_t: int, c: Candle, *, closed: bool
) -> dict[str, object]:
    return {
        "e": "kline",
        "E": now_ms(),
        "s": symbol,
        "k": {
            "t": open_t, "T": close_t, "s": symbol, "i": interval, "f": c.first_id if c.count else -1,
            "L": c.last_id if c.count else -1, "o": fmt(c.open), "c": fmt(c.close), "h": fmt(c.high),
            "l": fmt(c.low), "v": fmt(c.volume), "n": c.count, "x": closed, "q": fmt(c.quote_volume),
            "V": fmt(c.taker_base), "Q": fmt(c.taker_quote), "B": "0",
        },
    }  # fmt: skip
