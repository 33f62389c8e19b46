"""Binance's limits: request weight per IP per minute, new orders per account per 10 s and per day.

Fixed windows aligned to the clock, as Binance counts them. Over the weight limit a request gets 429 with
``Retry-After`` (seconds to the window's end); an IP that keeps sending after that many refusals in one
window is banned with 418 for ``ban_s``. Over an order limit: 429 with ``-1015``. The numbers are the
ones published in exchangeInfo ``rateLimits``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.api import errors
from gateway.api.auth import now_ms

_MINUTE_MS = 60_000
_TEN_S_MS = 10_000
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Limits:
    weight_1m: int = 6000
    orders_10s: int = 100
    orders_1d: int = 200_000
    ban_after: int = 10  # refused requests in one window before the IP is banned
    ban_s: int = 120


@dataclass(slots=True)
class _Window:
    index: int = -1
    used: int = 0
    refused: int = 0

    def at(self, index: int) -> _Window:
        if index != self.index:
            self.index, self.used, self.refused = index, 0, 0
        return self


class RateLimiter:
    def __init__(self, limits: Limits = Limits(), clock_ms: Callable[[], int] = now_ms) -> None:
        self.limits = limits
        self.clock_ms = clock_ms
        self._weight: dict[str, _Window] = {}
        self._banned: dict[str, int] = {}  # ip -> banned until (ms)
        self._orders_10s: dict[str, _Window] = {}
        self._orders_1d: dict[str, _Window] = {}

    def charge(self, ip: str, weight: int) -> int:
        """Add a request's weight for ``ip``; the weight used in this minute, or a 429/418 ApiError."""
        now = self.clock_ms()
        until = self._banned.get(ip)
        if until is not None:
            if now < until:
                raise errors.ApiError(
                    -1003, f"Way too much request weight used; IP banned until {until}. Please use WebSocket Streams "
                    "for live updates to avoid bans.", status=418, headers={"Retry-After": str(-(-(until - now) // 1000))})
            del self._banned[ip]
        # get() first: setdefault would build a throwaway window on every request
        w = (self._weight.get(ip) or self._weight.setdefault(ip, _Window())).at(now // _MINUTE_MS)
        if w.used + weight > self.limits.weight_1m:
            w.refused += 1
            if w.refused > self.limits.ban_after:
                until = now + self.limits.ban_s * 1000
                self._banned[ip] = until
                raise errors.ApiError(
                    -1003, f"Way too much request weight used; IP banned until {until}. Please use WebSocket Streams "
                    "for live updates to avoid bans.", status=418, headers={"Retry-After": str(self.limits.ban_s)})
            retry = -(-((w.index + 1) * _MINUTE_MS - now) // 1000)
            raise errors.ApiError(
                -1003, f"Too much request weight used; current limit is {self.limits.weight_1m} request weight per 1 "
                "MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                status=429, headers={"Retry-After": str(retry), "X-MBX-USED-WEIGHT-1M": str(w.used)})
        w.used += weight
        return w.used

    def used_weight(self, ip: str) -> int:
        w = self._weight.get(ip)
        return 0 if w is None or w.index != self.clock_ms() // _MINUTE_MS else w.used

    def count_order(self, account: str) -> tuple[int, int]:
        """Count one new order for ``account``; (count in 10 s, count today), or a 429 ``-1015`` ApiError."""
        now = self.clock_ms()
        w10 = (self._orders_10s.get(account) or self._orders_10s.setdefault(account, _Window())).at(now // _TEN_S_MS)
        w1d = (self._orders_1d.get(account) or self._orders_1d.setdefault(account, _Window())).at(now // _DAY_MS)
        if w10.used + 1 > self.limits.orders_10s:
            raise errors.ApiError(-1015, f"Too many new orders; current limit is {self.limits.orders_10s} orders per "
                                  "10 SECOND.", status=429, headers={"X-MBX-ORDER-COUNT-10S": str(w10.used)})
        if w1d.used + 1 > self.limits.orders_1d:
            raise errors.ApiError(-1015, f"Too many new orders; current limit is {self.limits.orders_1d} orders per "
                                  "DAY.", status=429, headers={"X-MBX-ORDER-COUNT-1D": str(w1d.used)})
        w10.used += 1
        w1d.used += 1
        return w10.used, w1d.used

    def order_counts(self, account: str) -> tuple[int, int]:
        now = self.clock_ms()
        w10, w1d = self._orders_10s.get(account), self._orders_1d.get(account)
        return (0 if w10 is None or w10.index != now // _TEN_S_MS else w10.used,
                0 if w1d is None or w1d.index != now // _DAY_MS else w1d.used)

    def rate_limits(self) -> list[dict[str, object]]:
        """The ``rateLimits`` array of exchangeInfo."""
        lim = self.limits
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": lim.weight_1m},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": lim.orders_10s},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": lim.orders_1d},
        ]
