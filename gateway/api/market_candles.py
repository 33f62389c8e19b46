"""Candles (klines) and rolling-window statistics from public trades, exact (Decimal), as Binance shapes them.

Trades are folded as they arrive into 1-second and 1-minute candles. Every Binance interval is built from
those: ``1s`` from the seconds, the rest from the minutes (any ``timeZone`` Binance accepts is a whole number of
15 minutes, so minute candles always fall inside one bucket). Weeks start on Monday, months on the 1st, both
in the requested time zone; the other intervals are counted from the epoch, shifted by the time zone. How
much is kept is bounded (``BRAID_API_CANDLE_SECONDS_KEPT``, ``BRAID_API_CANDLE_MINUTES_KEPT``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

ZERO = Decimal(0)
SECOND, MINUTE, HOUR, DAY = 1_000, 60_000, 3_600_000, 86_400_000
WEEK = 7 * DAY
_MONDAY = 4 * DAY  # 1970-01-01 was a Thursday
INTERVALS: dict[str, int] = {
    "1s": SECOND,
    "1m": MINUTE,
    "3m": 3 * MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": HOUR,
    "2h": 2 * HOUR,
    "4h": 4 * HOUR,
    "6h": 6 * HOUR,
    "8h": 8 * HOUR,
    "12h": 12 * HOUR,
    "1d": DAY,
    "3d": 3 * DAY,
    "1w": WEEK,
    "1M": 0,  # calendar months
}
_TZ = re.compile(r"^([+-]?)(\d{1,2})(?::(\d{2}))?$")
_WINDOW = re.compile(r"^(\d{1,2})([mhd])$")


def parse_time_zone(text: str | None) -> int | None:
    """Binance's ``timeZone`` (``0``, ``8``, ``-1:00``, ``+05:45``; -12:00..+14:00) in ms, None if invalid."""
    if text is None or text == "":
        return 0
    m = _TZ.match(text.strip())
    if m is None:
        return None
    hours, minutes = int(m.group(2)), int(m.group(3) or 0)
    if minutes >= 60 or minutes % 15:
        return None
    offset = (hours * 60 + minutes) * MINUTE * (-1 if m.group(1) == "-" else 1)
    if not -12 * HOUR <= offset <= 14 * HOUR:
        return None
    return offset


def parse_window(text: str | None) -> int | None:
    """Binance's rolling ``windowSize`` (``1m``..``59m``, ``1h``..``23h``, ``1d``..``7d``; default 1d) in ms."""
    if text is None:
        return DAY
    m = _WINDOW.match(text)
    if m is None:
        return None
    n, unit = int(m.group(1)), m.group(2)
    limit, size = {"m": (59, MINUTE), "h": (23, HOUR), "d": (7, DAY)}[unit]
    return n * size if 1 <= n <= limit else None


def bucket_of(interval: str, t_ms: int, tz_ms: int = 0) -> tuple[int, int]:
    """(open time, close time) in UTC ms of the ``interval`` candle holding ``t_ms``, in time zone ``tz_ms``."""
    local = t_ms + tz_ms
    if interval == "1M":
        d = datetime.fromtimestamp(local // 1000, UTC)
        start = datetime(d.year, d.month, 1, tzinfo=UTC)
        end = datetime(d.year + d.month // 12, d.month % 12 + 1, 1, tzinfo=UTC)
        return int(start.timestamp()) * 1000 - tz_ms, int(end.timestamp()) * 1000 - tz_ms - 1
    size = INTERVALS[interval]
    if interval == "1w":
        open_local = (local - _MONDAY) // WEEK * WEEK + _MONDAY
    else:
        open_local = local // size * size
    return open_local - tz_ms, open_local - tz_ms + size - 1


class Candle:
    """One candle: OHLC, base and quote volume, trade count and ids, the taker-buy part."""

    __slots__ = (
        "open_time",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "count",
        "taker_base",
        "taker_quote",
        "first_id",
        "last_id",
        "first_time",
        "last_time",
    )

    def __init__(self, open_time: int, price: Decimal, first_id: int) -> None:
        self.open_time = open_time
        self.open = self.high = self.low = self.close = price
        self.volume = self.quote_volume = self.taker_base = self.taker_quote = ZERO
        self.count = 0
        self.first_id = self.last_id = first_id
        self.first_time: int | None = None  # time of the trade that gave the open
        self.last_time = open_time

    def add(self, trade_id: int, price: Decimal, qty: Decimal, t: int, buyer_maker: bool) -> None:
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        # The open is the earliest trade, the close the latest: venues' trades arrive slightly out of time order.
        if self.first_time is None or t < self.first_time:
            self.open, self.first_time = price, t
        if t >= self.last_time:
            self.close, self.last_time = price, t
        quote = price * qty
        self.volume += qty
        self.quote_volume += quote
        self.count += 1
        if not buyer_maker:
            self.taker_base += qty
            self.taker_quote += quote
        self.first_id = min(self.first_id, trade_id)
        self.last_id = max(self.last_id, trade_id)

    def merge(self, other: Candle) -> None:
        """Fold a later candle into this one."""
        self.high = max(self.high, other.high)
        self.low = min(self.low, other.low)
        if other.last_time >= self.last_time:
            self.close, self.last_time = other.close, other.last_time
        if other.first_time is not None and (self.first_time is None or other.first_time < self.first_time):
            self.open, self.first_time = other.open, other.first_time
        self.volume += other.volume
        self.quote_volume += other.quote_volume
        self.count += other.count
        self.taker_base += other.taker_base
        self.taker_quote += other.taker_quote
        self.first_id = min(self.first_id, other.first_id)
        self.last_id = max(self.last_id, other.last_id)

    def copy(self, open_time: int | None = None) -> Candle:
        c = Candle.__new__(Candle)
        for name in Candle.__slots__:
            setattr(c, name, getattr(self, name))
        if open_time is not None:
            c.open_time = open_time
        return c


def aggregate(base: Iterable[Candle], interval: str, tz_ms: int = 0) -> list[tuple[int, int, Candle]]:
    """Fold base candles (in time order) into ``interval`` candles: [(open time, close time, candle)]."""
    out: list[tuple[int, int, Candle]] = []
    for c in base:
        open_t, close_t = bucket_of(interval, c.open_time, tz_ms)
        if out and out[-1][0] == open_t:
            out[-1][2].merge(c)
        else:
            out.append((open_t, close_t, c.copy(open_t)))
    return out


class CandleStore:
    """One symbol's 1-second and 1-minute candles, bounded, fed trade by trade."""

    def __init__(self, seconds_kept: int = 3_600, minutes_kept: int = 10_080) -> None:
        self.seconds: dict[int, Candle] = {}
        self.minutes: dict[int, Candle] = {}
        self.seconds_kept = seconds_kept
        self.minutes_kept = minutes_kept

    def add(self, trade_id: int, price: Decimal, qty: Decimal, t: int, buyer_maker: bool) -> None:
        for store, size, kept in ((self.seconds, SECOND, self.seconds_kept), (self.minutes, MINUTE, self.minutes_kept)):
            key = t // size * size
            c = store.get(key)
            if c is None:
                c = store[key] = Candle(key, price, trade_id)
                if len(store) > kept:
                    del store[min(store)]
            c.add(trade_id, price, qty, t, buyer_maker)

    def base(self, interval: str) -> list[Candle]:
        store = self.seconds if interval == "1s" else self.minutes
        return [store[k] for k in sorted(store)]

    def klines(
        self, interval: str, start: int | None, end: int | None, limit: int, tz_ms: int = 0
    ) -> list[list[object]]:
        """Binance kline rows: open time within [start, end]; the first ``limit`` after ``start``, else the last."""
        rows = [
            (o, c, k)
            for o, c, k in aggregate(self.base(interval), interval, tz_ms)
            if (start is None or o >= start) and (end is None or o <= end)
        ]
        picked = rows[:limit] if start is not None else rows[-limit:]
        return [kline_row(o, c, k) for o, c, k in picked]

    def window(self, now_ms: int, window_ms: int) -> Candle | None:
        """Everything traded in the last ``window_ms`` (to the second within the seconds kept, else the minute)."""
        fine = window_ms <= self.seconds_kept * SECOND
        store, size = (self.seconds, SECOND) if fine else (self.minutes, MINUTE)
        since = (now_ms - window_ms) // size * size + (size if fine else 0)
        out: Candle | None = None
        for k in sorted(store):
            if k < since:
                continue
            if out is None:
                out = store[k].copy()
            else:
                out.merge(store[k])
        return out


def fmt8(d: Decimal) -> str:
    return f"{d:.8f}" if d else "0.00000000"


def kline_row(open_time: int, close_time: int, c: Candle) -> list[object]:
    return [
        open_time,
        fmt8(c.open),
        fmt8(c.high),
        fmt8(c.low),
        fmt8(c.close),
        fmt8(c.volume),
        close_time,
        fmt8(c.quote_volume),
        c.count,
        fmt8(c.taker_base),
        fmt8(c.taker_quote),
        "0",
    ]
