"""Pre-trade risk: each rule at its exact boundary, market orders on the reference, clear details."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from config.settings import Settings
from router.reasons import RejectReason, error_of
from router.risk import PreTradeRisk, RiskLimits

SYM = "BTC/USDT"
TICK = D("0.01")
REF = D("50000.00")


def risk(**limits: object) -> PreTradeRisk:
    return PreTradeRisk(RiskLimits(**limits))  # type: ignore[arg-type]


def test_no_limits_passes_everything_with_a_reference() -> None:
    r = risk()
    assert r.check(SYM, "BUY", D("1000"), D("1"), REF, 10_000) is None
    assert r.check(SYM, "SELL", D("1000"), None, REF, 10_000) is None
    assert r.check(SYM, "buy", D("1"), D("99"), None, 0) is None  # a limit order needs no reference without a collar


def test_max_notional_limit_order_boundary() -> None:
    r = risk(max_order_notional=D("100000"))
    assert r.check(SYM, "BUY", D("2"), D("50000.00"), REF, 0) is None  # exactly at the limit passes
    assert r.check(SYM, "BUY", D("2"), D("50000.01"), REF, 0) is RejectReason.RISK_MAX_NOTIONAL
    assert r.check(SYM, "SELL", D("2.00000001"), D("50000"), REF, 0) is RejectReason.RISK_MAX_NOTIONAL


def test_max_notional_market_order_uses_reference() -> None:
    r = risk(max_order_notional=D("100000"))
    assert r.check(SYM, "BUY", D("2"), None, D("50000"), 0) is None
    assert r.check(SYM, "BUY", D("2"), None, D("50000.01"), 0) is RejectReason.RISK_MAX_NOTIONAL
    assert r.check(SYM, "SELL", D("2"), None, None, 0) is RejectReason.RISK_NO_REFERENCE_PRICE


def test_notional_is_exact_at_many_digits() -> None:
    # 40 significant digits: more than the default 28-digit context holds.
    limit = D("123456789012345678901234567890.1234567895")
    r = risk(max_order_notional=limit)
    qty = D("0.000000001")
    price = D("123456789012345678901234567890123456789.5")
    assert r.check(SYM, "BUY", qty, price, price, 0) is None
    assert (
        r.check(SYM, "BUY", qty, D("123456789012345678901234567890123456789.500000000001"), price, 0)
        is RejectReason.RISK_MAX_NOTIONAL
    )


def test_collar_buy_boundary() -> None:
    r = risk(collar_bps=D("500"))  # 5 %: 52500.00
    assert r.check(SYM, "BUY", D("1"), D("52500.00"), REF, 0) is None
    assert r.check(SYM, "BUY", D("1"), D("52500.00") + TICK, REF, 0) is RejectReason.RISK_PRICE_COLLAR
    assert r.check(SYM, "BUY", D("1"), D("1.00"), REF, 0) is None  # far below is a passive buy, not collared
    assert r.check(SYM, "BUY", D("1"), None, REF, 0) is None  # market orders are protected by the router


def test_collar_sell_boundary() -> None:
    r = risk(collar_bps=D("500"))  # 5 %: 47500.00
    assert r.check(SYM, "SELL", D("1"), D("47500.00"), REF, 0) is None
    assert r.check(SYM, "SELL", D("1"), D("47500.00") - TICK, REF, 0) is RejectReason.RISK_PRICE_COLLAR
    assert r.check(SYM, "SELL", D("1"), D("1000000"), REF, 0) is None


def test_collar_fractional_bps_exact() -> None:
    r = risk(collar_bps=D("0.5"))  # 0.005 %: 50002.50
    assert r.check(SYM, "BUY", D("1"), D("50002.50"), REF, 0) is None
    assert r.check(SYM, "BUY", D("1"), D("50002.5000001"), REF, 0) is RejectReason.RISK_PRICE_COLLAR
    zero = risk(collar_bps=D(0))
    assert zero.check(SYM, "BUY", D("1"), REF, REF, 0) is None
    assert zero.check(SYM, "BUY", D("1"), REF + TICK, REF, 0) is RejectReason.RISK_PRICE_COLLAR


def test_collar_needs_a_reference() -> None:
    r = risk(collar_bps=D("500"))
    assert r.check(SYM, "BUY", D("1"), D("50000"), None, 0) is RejectReason.RISK_NO_REFERENCE_PRICE
    assert r.check(SYM, "BUY", D("1"), D("50000"), D(0), 0) is RejectReason.RISK_NO_REFERENCE_PRICE


def test_open_orders_boundary() -> None:
    r = risk(max_open_orders=3)
    assert r.check(SYM, "BUY", D("1"), D("1"), REF, 2) is None  # the new one is the third
    assert r.check(SYM, "BUY", D("1"), D("1"), REF, 3) is RejectReason.RISK_OPEN_ORDERS


def test_order_of_checks() -> None:
    r = risk(max_order_notional=D("10"), collar_bps=D("1"), max_open_orders=1)
    # Breaks all three: the open-order count answers first, then the notional, then the collar.
    assert r.check(SYM, "BUY", D("1"), D("60000"), REF, 1) is RejectReason.RISK_OPEN_ORDERS
    assert r.check(SYM, "BUY", D("1"), D("60000"), REF, 0) is RejectReason.RISK_MAX_NOTIONAL
    assert risk(collar_bps=D("1")).check(SYM, "BUY", D("1"), D("60000"), REF, 0) is RejectReason.RISK_PRICE_COLLAR


def test_per_symbol_limits_replace_the_default() -> None:
    r = PreTradeRisk(RiskLimits(max_order_notional=D("100")), {"ETH/USDT": RiskLimits(max_order_notional=D("1000"))})
    assert r.check(SYM, "BUY", D("1"), D("101"), REF, 0) is RejectReason.RISK_MAX_NOTIONAL
    assert r.check("ETH/USDT", "BUY", D("1"), D("101"), REF, 0) is None
    assert r.limits_for("ETH/USDT").max_order_notional == D("1000")


def test_evaluate_details_are_clear() -> None:
    r = risk(max_order_notional=D("100000"), collar_bps=D("500"), max_open_orders=3)
    found = r.evaluate(SYM, "BUY", D("3"), D("50000"), REF, 0)
    assert found is not None and found.detail == "notional 150000 exceeds the limit 100000"
    found = r.evaluate(SYM, "SELL", D("1"), D("47499.99"), REF, 0)
    assert found is not None and "sell price 47499.99 below 47500" in found.detail and "500 bps" in found.detail
    found = r.evaluate(SYM, "BUY", D("1"), D("1"), REF, 3)
    assert found is not None and found.detail == "3 open orders, the limit is 3"
    assert found.as_binance() == {"code": -2010, "msg": "Filter failure: MAX_NUM_ORDERS"}
    assert error_of(RejectReason.RISK_MAX_NOTIONAL) == (
        -2010,
        "Order would exceed the maximum notional for this symbol.",
    )


def test_limits_validate() -> None:
    with pytest.raises(ValueError, match="max_order_notional"):
        RiskLimits(max_order_notional=D(0))
    with pytest.raises(ValueError, match="collar_bps"):
        RiskLimits(collar_bps=D(-1))
    with pytest.raises(ValueError, match="max_open_orders"):
        RiskLimits(max_open_orders=0)
    with pytest.raises(TypeError, match="float"):
        RiskLimits(collar_bps=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="side"):
        risk().check(SYM, "HOLD", D("1"), D("1"), REF, 0)


def test_from_settings() -> None:
    limits = RiskLimits.from_settings(
        Settings(risk_max_order_notional=D("5000"), risk_collar_bps=D("250"), risk_max_open_orders=7)
    )
    assert limits == RiskLimits(D("5000"), D("250"), 7)
    defaults = RiskLimits.from_settings(Settings())
    assert defaults == RiskLimits(None, D("1000"), 200)
