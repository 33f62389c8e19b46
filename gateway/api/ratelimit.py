"""Binance's limits: request weight per IP per minute, new orders per account per 10 s and per day, new
WebSocket connections per IP per 5 minutes.

Fixed windows aligned to the clock, as Binance counts them. Over the weight limit a request gets 429 with
``Retry-After`` (seconds to the window's end); an IP that keeps sending after that many refusals in one
window is banned with 418 for ``ban_s``. Over an order limit: 429 with ``-1015``. The numbers are the
ones published in exchangeInfo ``rateLimits``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from domain import now_ms
from gateway.api import errors
from gateway.binance_errors import RequestError

_MINUTE_MS = 60_000
_TEN_S_MS = 10_000
_DAY_MS = 86_400_000
_FIVE_MIN_MS = 300_000


@dataclass(frozen=True, slots=True)
class Limits:
    weight_1m: int = 6000
    orders_10s: int = 100
    orders_1d: int = 200_000
    ban_after: int = 10  # refused requests in one window before the IP is banned
    ban_s: int = 120
    ws_connections_5m: int = 300  # new WebSocket connections per IP per 5 minutes (Binance's number)


@dataclass(slots=True)
class _Window:
    index: int = -1
    used: int = 0
    refused: int = 0

    def at(self, index: int) -> _Window:
        if index != self.index:
            self.index, self.used, self.refused = index, 0, 0
        return self


# Clients tracked at most per table: beyond it the least recently seen one is forgotten (its count restarts).
MAX_TRACKED = 100_000


class _Windows:
    """One fixed-window counter per key, with bounded memory.

    Kept in least-recently-used order (a dict re-inserts a key on every use), so the entries of windows that
    are over sit at the front and go as soon as the clock enters a new window, and when more than
    ``max_entries`` keys are active in one window the one seen longest ago is evicted.
    """

    __slots__ = ("span_ms", "max_entries", "_by_key", "_current")

    def __init__(self, span_ms: int, max_entries: int) -> None:
        self.span_ms = span_ms
        self.max_entries = max_entries
        self._by_key: dict[str, _Window] = {}
        self._current = -1

    def __len__(self) -> int:
        return len(self._by_key)

    def touch(self, key: str, now: int) -> _Window:
        """The key's window at ``now`` (a fresh one if it had none or its window is over)."""
        index = now // self.span_ms
        by_key = self._by_key
        if index != self._current:
            self._current = index
            self._expire(index)
        w = by_key.pop(key, None)
        if w is None:
            if len(by_key) >= self.max_entries:
                del by_key[next(iter(by_key))]
            w = _Window()
        by_key[key] = w  # to the back: the most recently seen
        return w.at(index)

    def used(self, key: str, now: int) -> int:
        w = self._by_key.get(key)
        return 0 if w is None or w.index != now // self.span_ms else w.used

    def _expire(self, index: int) -> None:
        by_key = self._by_key
        while by_key:
            key = next(iter(by_key))
            if by_key[key].index >= index:
                return
            del by_key[key]


class RateLimiter:
    def __init__(
        self, limits: Limits = Limits(), clock_ms: Callable[[], int] = now_ms, max_entries: int = MAX_TRACKED
    ) -> None:
        self.limits = limits
        self.clock_ms = clock_ms
        self._weight = _Windows(_MINUTE_MS, max_entries)
        self._banned: dict[str, int] = {}  # ip -> banned until (ms), in ban order (so in expiry order)
        self._max_banned = max_entries
        self._orders_10s = _Windows(_TEN_S_MS, max_entries)
        self._orders_1d = _Windows(_DAY_MS, max_entries)
        self._ws = _Windows(_FIVE_MIN_MS, max_entries)

    def tracked(self) -> int:
        """How many clients the limiter holds state for (bounded by ``max_entries`` per table)."""
        return len(self._weight) + len(self._banned) + len(self._orders_10s) + len(self._orders_1d) + len(self._ws)

    def charge(self, ip: str, weight: int) -> int:
        """Add a request's weight for ``ip``; the weight used in this minute, or a 429/418 ApiError."""
        now = self.clock_ms()
        banned = self._banned
        if banned:
            until = banned.get(ip)
            if until is not None:
                if now < until:
                    raise errors.ApiError.of(
                        RequestError.IP_BANNED, until=until, headers={"Retry-After": str(-(-(until - now) // 1000))}
                    )
                del banned[ip]
            while banned:  # bans all last ban_s, so the first one ends first
                first = next(iter(banned))
                if banned[first] > now:
                    break
                del banned[first]
        w = self._weight.touch(ip, now)
        if w.used + weight > self.limits.weight_1m:
            w.refused += 1
            if w.refused > self.limits.ban_after:
                until = now + self.limits.ban_s * 1000
                if len(banned) >= self._max_banned:
                    del banned[next(iter(banned))]
                banned[ip] = until
                raise errors.ApiError.of(
                    RequestError.IP_BANNED, until=until, headers={"Retry-After": str(self.limits.ban_s)}
                )
            retry = -(-((w.index + 1) * _MINUTE_MS - now) // 1000)
            raise errors.ApiError.of(
                RequestError.TOO_MUCH_WEIGHT,
                limit=self.limits.weight_1m,
                headers={"Retry-After": str(retry), "X-MBX-USED-WEIGHT-1M": str(w.used)},
            )
        w.used += weight
        return w.used

    def used_weight(self, ip: str) -> int:
        return self._weight.used(ip, self.clock_ms())

    def count_order(self, account: str) -> tuple[int, int]:
        """Count one new order for ``account``; (count in 10 s, count today), or a 429 ``-1015`` ApiError."""
        now = self.clock_ms()
        w10 = self._orders_10s.touch(account, now)
        w1d = self._orders_1d.touch(account, now)
        if w10.used + 1 > self.limits.orders_10s:
            raise errors.ApiError.of(
                RequestError.TOO_MANY_ORDERS,
                limit=self.limits.orders_10s,
                interval="10 SECOND",
                headers={"X-MBX-ORDER-COUNT-10S": str(w10.used)},
            )
        if w1d.used + 1 > self.limits.orders_1d:
            raise errors.ApiError.of(
                RequestError.TOO_MANY_ORDERS,
                limit=self.limits.orders_1d,
                interval="DAY",
                headers={"X-MBX-ORDER-COUNT-1D": str(w1d.used)},
            )
        w10.used += 1
        w1d.used += 1
        return w10.used, w1d.used

    def connect_ws(self, ip: str) -> int:
        """Count one new WebSocket connection from ``ip``; the count in this 5-minute window, or a 429 ApiError."""
        now = self.clock_ms()
        w = self._ws.touch(ip, now)
        if w.used + 1 > self.limits.ws_connections_5m:
            retry = -(-((w.index + 1) * _FIVE_MIN_MS - now) // 1000)
            raise errors.ApiError.of(
                RequestError.TOO_MANY_CONNECTIONS,
                limit=self.limits.ws_connections_5m,
                headers={"Retry-After": str(retry)},
            )
        w.used += 1
        return w.used

    def order_counts(self, account: str) -> tuple[int, int]:
        now = self.clock_ms()
        return self._orders_10s.used(account, now), self._orders_1d.used(account, now)

    def rate_limits(self) -> list[dict[str, object]]:
        """The ``rateLimits`` array of exchangeInfo."""
        lim = self.limits
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": lim.weight_1m},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": lim.orders_10s},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": lim.orders_1d},
        ]
