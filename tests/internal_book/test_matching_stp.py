"""Self-trade prevention: the taker's mode decides; the group is tenant + account."""

from __future__ import annotations

from decimal import Decimal as D

from ib_fixtures import Engine, kinds, limit, of

from domain import OrderSide, OrderStatus, StpMode
from internal_book import OrderExpired, Trade

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def _two_makers(engine: Engine) -> tuple[int, int]:
    own = engine.apply(limit(SELL, "1", "100", "me"))[0].order_id
    other = engine.apply(limit(SELL, "1", "100.5", "you"))[0].order_id
    return own, other


def test_expire_taker_expires_the_incoming_order_and_keeps_the_maker(engine: Engine) -> None:
    own, _ = _two_makers(engine)
    out = engine.apply(limit(BUY, "2", "101", "me", stp_mode=StpMode.EXPIRE_TAKER))
    assert kinds(out) == ["accepted", "expired"]
    exp = of(out, OrderExpired)[0]
    assert exp.status == OrderStatus.EXPIRED_IN_MATCH and exp.order_id != own
    assert [r[0] for r in engine.state()["symbols"]["BTC/USDT"]["asks"]][0] == own


def test_expire_maker_expires_the_resting_order_and_keeps_matching(engine: Engine) -> None:
    own, other = _two_makers(engine)
    out = engine.apply(limit(BUY, "1", "101", "me", stp_mode=StpMode.EXPIRE_MAKER))
    assert kinds(out) == ["accepted", "expired", "trade"]
    exp, (t,) = of(out, OrderExpired)[0], of(out, Trade)
    assert (exp.order_id, exp.status, exp.leaves_qty) == (own, OrderStatus.EXPIRED_IN_MATCH, D("1"))
    assert t.maker_order_id == other


def test_expire_both_expires_taker_and_maker(engine: Engine) -> None:
    own, other = _two_makers(engine)
    out = engine.apply(limit(BUY, "1", "101", "me", stp_mode=StpMode.EXPIRE_BOTH))
    exps = of(out, OrderExpired)
    assert [e.status for e in exps] == [OrderStatus.EXPIRED_IN_MATCH] * 2
    assert exps[0].order_id == own and not of(out, Trade)
    assert [r[0] for r in engine.state()["symbols"]["BTC/USDT"]["asks"]] == [other]


def test_none_lets_the_self_trade_happen(engine: Engine) -> None:
    own, _ = _two_makers(engine)
    out = engine.apply(limit(BUY, "1", "101", "me", stp_mode=StpMode.NONE))
    assert of(out, Trade)[0].maker_order_id == own


def test_the_takers_mode_decides_not_the_makers(engine: Engine) -> None:
    own = engine.apply(limit(SELL, "1", "100", "me", stp_mode=StpMode.EXPIRE_BOTH))[0].order_id
    out = engine.apply(limit(BUY, "1", "100", "me", stp_mode=StpMode.NONE))
    assert of(out, Trade)[0].maker_order_id == own


def test_same_account_id_under_another_tenant_is_not_a_self_trade(engine: Engine) -> None:
    engine.apply(limit(SELL, "1", "100", "acct-1", tenant="broker-a"))
    out = engine.apply(limit(BUY, "1", "100", "acct-1", tenant="broker-b", stp_mode=StpMode.EXPIRE_BOTH))
    assert len(of(out, Trade)) == 1


def test_other_accounts_of_the_same_tenant_trade_normally(engine: Engine) -> None:
    engine.apply(limit(SELL, "1", "100", "acct-1", tenant="broker-a"))
    out = engine.apply(limit(BUY, "1", "100", "acct-2", tenant="broker-a", stp_mode=StpMode.EXPIRE_BOTH))
    assert len(of(out, Trade)) == 1
