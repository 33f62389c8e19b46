"""Router hooks: preview without side effects, and trade-through protection (protect_price)."""

from __future__ import annotations

from decimal import Decimal as D

from ib_fixtures import Engine, kinds, limit, market, of

from domain import OrderSide, OrderType, StpMode, TimeInForce
from internal_book import NewOrder, OrderReleased, Trade

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def _asks(engine: Engine) -> None:
    engine.apply(limit(SELL, "1", "100", "m1"))
    engine.apply(limit(SELL, "1", "101", "m2"))
    engine.apply(limit(SELL, "1", "102", "m3"))


def test_preview_reports_fills_and_changes_nothing(engine: Engine) -> None:
    _asks(engine)
    before = engine.state_hash()
    order = limit(BUY, "1.5", "101", "t")
    p = engine.preview(order)
    assert [(px, q) for px, q, _ in p.fills] == [(D("100"), D("1")), (D("101"), D("0.5"))]
    assert (p.filled_qty, p.remaining_qty) == (D("1.5"), D("0"))
    assert engine.state_hash() == before
    trades = of(engine.apply(order), Trade)
    assert [(t.price, t.quantity, t.maker_order_id) for t in trades] == list(p.fills)


def test_preview_skips_own_orders_under_expire_maker(engine: Engine) -> None:
    _asks(engine)
    p = engine.preview(limit(BUY, "1", "101", "m1", stp_mode=StpMode.EXPIRE_MAKER))
    assert [px for px, _, _ in p.fills] == [D("101")]


def test_protect_price_matches_only_up_to_it_and_releases_the_rest(engine: Engine) -> None:
    _asks(engine)
    out = engine.apply(limit(BUY, "3", "105", "t", protect_price=D("101")))
    assert [t.price for t in of(out, Trade)] == [D("100"), D("101")]
    (rel,) = of(out, OrderReleased)
    assert (rel.executed_qty, rel.leaves_qty) == (D("2"), D("1"))
    s = engine.state()["symbols"]["BTC/USDT"]
    assert s["bids"] == [] and [r[7] for r in s["asks"]] == ["102"]  # not rested


def test_protected_market_order_with_nothing_inside_is_released_whole(engine: Engine) -> None:
    _asks(engine)
    out = engine.apply(market(BUY, "1", "t", protect_price=D("99")))
    assert kinds(out) == ["accepted", "released"] and out[1].leaves_qty == D("1")


def test_protected_fok_that_cannot_fill_inside_is_released_untouched(engine: Engine) -> None:
    _asks(engine)
    out = engine.apply(
        NewOrder("BTC/USDT", "t", BUY, OrderType.LIMIT, D("2"), D("102"), TimeInForce.FOK, protect_price=D("100"))
    )
    assert kinds(out) == ["accepted", "released"]
