"""Tier limits: an order, a withdrawal and a deposit are refused at the boundary (one smallest step over the
limit) and allowed one step below it (at the limit); tier 0 may not trade; tier changes are recorded."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from compliance import Kyc, KycError, PastWithdrawal
from router.reasons import RejectReason, error_of
from router.risk import PreTradeRisk, RiskLimits

STEP = Decimal("0.00000001")
T = int(dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC).timestamp() * 1000)  # mid-month, midday UTC
DAY = 86_400_000


def risk(kyc: Kyc) -> PreTradeRisk:
    return PreTradeRisk(RiskLimits(), account_limits=kyc.limits)


def test_tier0_may_not_trade(kyc: Kyc) -> None:
    found = risk(kyc).evaluate("BTC/USDT", "BUY", Decimal("0.001"), Decimal("50000"), Decimal("50000"), 0, "1")
    assert found is not None and found.reason is RejectReason.RISK_KYC_TRADING
    assert error_of(found.reason) == (-2010, "This action is disabled on this account: identity verification required.")
    # the check is skipped for callers that name no account (the router's own tests, replay)
    assert risk(kyc).evaluate("BTC/USDT", "BUY", Decimal("0.001"), Decimal("50000"), Decimal("50000"), 0) is None


def test_order_notional_boundary(kyc: Kyc) -> None:
    kyc.set_tier(1, 1, reason="basic identity", actor="op")
    limit = kyc.settings.tier1.max_order_notional
    assert limit == Decimal(10000)
    r = risk(kyc)
    price = Decimal("50000")
    at_limit = limit / price  # 0.2 BTC = 10000 USDT exactly
    assert r.evaluate("BTC/USDT", "BUY", at_limit, price, price, 0, "1") is None
    over = r.evaluate("BTC/USDT", "BUY", at_limit + STEP, price, price, 0, "1")
    assert over is not None and over.reason is RejectReason.RISK_KYC_NOTIONAL
    msg = "Order would exceed the maximum notional of your verification level."
    assert over.as_binance() == {"code": -2010, "msg": msg}
    # a market order is valued at the reference price
    assert r.evaluate("BTC/USDT", "SELL", at_limit, None, price, 0, "1") is None
    assert r.evaluate("BTC/USDT", "SELL", at_limit + STEP, None, price, 0, "1") is not None
    kyc.set_tier(1, 2, reason="documents", actor="op")  # a higher tier lifts the limit
    assert r.evaluate("BTC/USDT", "BUY", at_limit + STEP, price, price, 0, "1") is None


def test_withdrawal_daily_and_monthly_boundaries(kyc: Kyc) -> None:
    kyc.set_tier(3, 1, reason="basic identity", actor="op")
    daily = kyc.settings.tier1.daily_withdrawal  # 2000 USDT
    assert daily == Decimal(2000)
    today = [PastWithdrawal(T - 3_600_000, "USDT", Decimal(500))]
    assert kyc.withdrawal_allowed(3, "USDT", daily - 500, T, today).allowed
    refused = kyc.withdrawal_allowed(3, "USDT", daily - 500 + STEP, T, today)
    assert not refused.allowed and refused.code == "KYC_DAILY_WITHDRAWAL_LIMIT"
    assert "500 used" in refused.reason
    # yesterday's withdrawals count for the month only; valued in BTC at the mid (50000)
    yesterday = [PastWithdrawal(T - DAY, "BTC", Decimal("0.37"))]  # 18500 USDT
    monthly = kyc.settings.tier1.monthly_withdrawal  # 20000
    assert kyc.withdrawal_allowed(3, "USDT", monthly - Decimal(18500), T, yesterday).allowed
    m = kyc.withdrawal_allowed(3, "USDT", monthly - Decimal(18500) + STEP, T, yesterday)
    assert not m.allowed and m.code == "KYC_MONTHLY_WITHDRAWAL_LIMIT"
    # last month's withdrawals do not count
    old = [PastWithdrawal(T - 20 * DAY, "USDT", Decimal(19000))]
    assert kyc.withdrawal_allowed(3, "USDT", daily, T, old).allowed


def test_withdrawal_of_an_asset_without_a_price_is_refused(kyc: Kyc) -> None:
    kyc.set_tier(3, 2, reason="documents", actor="op")
    d = kyc.withdrawal_allowed(3, "DOGE", Decimal(1), T, [])
    assert not d.allowed and d.code == "KYC_NO_PRICE"


def test_withdrawal_history_from_a_callable(store, audit_log) -> None:
    from config.kyc import KycSettings
    from tests.compliance.conftest import price_of

    asked = []

    def history(account: int, since_ms: int) -> list[PastWithdrawal]:
        asked.append((account, since_ms))
        return [PastWithdrawal(T - 1000, "USDT", Decimal(2000))]

    k = Kyc(KycSettings(), store, price_of, history=history)
    k.set_tier(4, 1, reason="basic", actor="op")
    assert not k.withdrawal_allowed(4, "USDT", STEP, T).allowed
    assert asked == [(4, int(dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp() * 1000))]


def test_deposit_unlock_boundary(kyc: Kyc) -> None:
    d0 = kyc.deposit_allowed(5, "USDT", Decimal(1))
    assert d0.locked and d0.code == "KYC_TIER_NO_DEPOSIT"
    kyc.set_tier(5, 1, reason="basic identity", actor="op")
    limit = kyc.settings.tier1.max_deposit
    assert kyc.deposit_allowed(5, "BTC", limit).allowed
    over = kyc.deposit_allowed(5, "BTC", limit + STEP)
    assert over.locked and over.code == "KYC_DEPOSIT_LIMIT"
    assert kyc.deposit_allowed(5, "XYZ", None).locked  # cannot be valued: held


def test_set_tier_is_recorded_and_audited(kyc: Kyc, audit_log: list) -> None:
    kyc.set_tier(6, 2, reason="passport and selfie checked", actor="carol", ip="10.0.0.5")
    assert audit_log == [
        (
            "carol",
            "10.0.0.5",
            "kyc.set_tier",
            "account:6",
            {"from": 0, "to": 2, "reason": "passport and selfie checked", "source": "operator"},
        )
    ]
    assert kyc.store.history(6)[0]["actor"] == "carol"
    with pytest.raises(KycError):
        kyc.set_tier(6, 4, reason="x", actor="carol")
    with pytest.raises(KycError):
        kyc.set_tier(6, 1, reason="  ", actor="carol")


def test_a_tier_set_by_another_process_is_seen(kyc: Kyc, store) -> None:
    from config.kyc import KycSettings
    from tests.compliance.conftest import price_of

    other = Kyc(KycSettings(), store, price_of, refresh_s=0)
    assert other.tier(8) == 0
    kyc.set_tier(8, 3, reason="enhanced due diligence", actor="op")
    assert other.tier(8) == 3
