"""Tier limits applied to one deposit, one withdrawal or one order: pure functions of the limits, the amount
valued in the quote currency, and (for withdrawals) what the account has already withdrawn.

A limit is the largest amount allowed: a withdrawal that brings the day's total to exactly the daily limit
passes; one smallest step more is refused. Days and months are UTC calendar days and months (the limits
reset at 00:00 UTC, as exchanges' do).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from config.kyc import TierLimits


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "may this go ahead?".

    For a deposit, ``allowed`` False means: credit it, but locked until the limit no longer applies
    (a higher tier, or an operator's release). ``code`` is stable for programs; ``reason`` is for people.
    """

    allowed: bool
    code: str = ""
    reason: str = ""

    @property
    def locked(self) -> bool:
        return not self.allowed


ALLOW = Decision(True)


@dataclass(frozen=True, slots=True)
class PastWithdrawal:
    """One withdrawal already made (custody's record): when, what, and its quote value then if known."""

    ts_ms: int
    asset: str
    amount: Decimal
    value: Decimal | None = None


def day_start_ms(now_ms: int) -> int:
    d = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC).date()
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()) * 1000


def month_start_ms(now_ms: int) -> int:
    d = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC).date()
    return int(dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC).timestamp()) * 1000


def deposit_decision(tier: int, limits: TierLimits, value: Decimal | None, quote: str) -> Decision:
    """A deposit worth ``value`` (quote currency; ``None`` when it cannot be valued)."""
    if not limits.may_deposit:
        return Decision(False, "KYC_TIER_NO_DEPOSIT", f"tier {tier} accounts may not deposit; verify identity first")
    if limits.max_deposit is None:
        return ALLOW
    if value is None:
        return Decision(False, "KYC_NO_PRICE", "the deposit cannot be valued (no price), so it is held for review")
    if value > limits.max_deposit:
        return Decision(
            False,
            "KYC_DEPOSIT_LIMIT",
            f"deposit worth {value} {quote} is above the tier {tier} limit of {limits.max_deposit} {quote}",
        )
    return ALLOW


def withdrawal_decision(
    tier: int, limits: TierLimits, value: Decimal | None, now_ms: int, past: Iterable[tuple[int, Decimal]], quote: str
) -> Decision:
    """A withdrawal worth ``value`` now, given ``past`` as ``(ts_ms, value)`` of earlier withdrawals."""
    if value is None:
        return Decision(False, "KYC_NO_PRICE", "the withdrawal cannot be valued (no price for the asset)")
    day0, month0 = day_start_ms(now_ms), month_start_ms(now_ms)
    day = month = Decimal(0)
    for ts, v in past:
        if month0 <= ts <= now_ms:
            month += v
            if ts >= day0:
                day += v
    for name, limit, used in (("daily", limits.daily_withdrawal, day), ("monthly", limits.monthly_withdrawal, month)):
        if limit is not None and used + value > limit:
            return Decision(
                False,
                f"KYC_{name.upper()}_WITHDRAWAL_LIMIT",
                f"{name} withdrawal limit of tier {tier} is {limit} {quote}: {used} used, {value} requested",
            )
    return ALLOW
