"""The in-memory API rate limiter: Binance's limits per IP and per account, in bounded memory."""

from __future__ import annotations

import pytest

from gateway.api.errors import ApiError
from gateway.api.ratelimit import Limits, RateLimiter


class Clock:
    def __init__(self, ms: int = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_many_ips_leave_memory_bounded_and_active_ips_limited() -> None:
    clock = Clock()
    limiter = RateLimiter(Limits(weight_1m=50, ban_after=1_000), clock, max_entries=5_000)
    for n in range(100_000):
        limiter.charge(f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}", 1)
        if n % 2_500 == 0:  # one busy client among the crowd: its count is never lost
            limiter.charge("192.0.2.1", 1)
        assert limiter.tracked() <= 5_000
    assert limiter.used_weight("192.0.2.1") == 40
    limiter.charge("192.0.2.1", 10)
    with pytest.raises(ApiError) as refused:
        limiter.charge("192.0.2.1", 1)
    assert refused.value.code == -1003 and refused.value.status == 429
    clock.ms += 60_000  # the next minute: every window of the last one is gone at the first request
    assert limiter.charge("192.0.2.1", 1) == 1
    assert limiter.tracked() == 1


def test_an_ip_seen_longest_ago_is_the_one_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(Limits(weight_1m=100), clock, max_entries=3)
    for ip in ("a", "b", "c"):
        limiter.charge(ip, 5)
    limiter.charge("a", 5)  # a is now the most recent
    limiter.charge("d", 5)  # full: b (seen longest ago) goes
    assert [limiter.used_weight(ip) for ip in "abcd"] == [10, 0, 5, 5]


def test_bans_expire_and_are_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(Limits(weight_1m=1, ban_after=1, ban_s=120), clock, max_entries=100)
    for n in range(1_000):
        ip = f"198.51.100.{n}"
        limiter.charge(ip, 1)
        for _ in range(2):
            with pytest.raises(ApiError):
                limiter.charge(ip, 1)
        assert limiter.tracked() <= 200
    with pytest.raises(ApiError) as banned:
        limiter.charge("198.51.100.999", 1)
    assert banned.value.status == 418
    clock.ms += 121_000
    assert limiter.charge("198.51.100.999", 1) == 1
    assert limiter.tracked() == 1


def test_order_counts_per_account_expire_with_their_window() -> None:
    clock = Clock()
    limiter = RateLimiter(Limits(orders_10s=2, orders_1d=3), clock, max_entries=10)
    assert limiter.count_order("7") == (1, 1)
    assert limiter.count_order("7") == (2, 2)
    with pytest.raises(ApiError) as refused:
        limiter.count_order("7")
    assert refused.value.code == -1015
    clock.ms += 10_000
    assert limiter.order_counts("7") == (0, 2)
    assert limiter.count_order("7") == (1, 3)
    with pytest.raises(ApiError):
        clock.ms += 10_000
        limiter.count_order("7")
    for n in range(1_000):
        limiter.count_order(str(1_000 + n))
    assert limiter.tracked() <= 20
