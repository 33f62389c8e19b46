"""Scenarios per order type (LIMIT GTC/IOC/FOK, LIMIT_MAKER, MARKET by quantity and by quote)."""

from __future__ import annotations

from decimal import Decimal as D

from ib_fixtures import Engine, kinds, limit, market, of

from domain import OrderSide, OrderStatus, OrderType, TimeInForce
from internal_book import NewOrder, OrderAccepted, OrderExpired, OrderRejected, Trade

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def book(engine: Engine, symbol: str = "BTC/USDT") -> tuple[list, list]:
    s = engine.state()["symbols"][symbol]
    return [(r[7], r[9]) for r in s["bids"]], [(r[7], r[9]) for r in s["asks"]]


def test_gtc_limit_rests_then_fills_at_the_makers_price(engine: Engine) -> None:
    out = engine.apply(limit(SELL, "1", "100", "maker"))
    assert kinds(out) == ["accepted"] and out[0].status == OrderStatus.NEW
    out = engine.apply(limit(BUY, "0.4", "105", "taker"))
    (t,) = of(out, Trade)
    assert (t.price, t.quantity) == (D("100"), D("0.4"))  # maker's price, not the taker's limit
    assert (t.taker_status, t.maker_status) == (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)
    assert book(engine) == ([], [("100", "0.6")])


def test_gtc_remainder_rests_on_the_book(engine: Engine) -> None:
    engine.apply(limit(SELL, "1", "100", "maker"))
    out = engine.apply(limit(BUY, "3", "100", "taker"))
    assert of(out, Trade)[0].taker_status == OrderStatus.PARTIALLY_FILLED
    assert book(engine) == ([("100", "2")], [])


def test_price_then_time_priority(engine: Engine) -> None:
    first = engine.apply(limit(SELL, "1", "101", "m1"))[0].order_id
    second = engine.apply(limit(SELL, "1", "101", "m2"))[0].order_id
    better = engine.apply(limit(SELL, "1", "100.5", "m3"))[0].order_id
    trades = of(engine.apply(limit(BUY, "3", "101", "t")), Trade)
    assert [t.maker_order_id for t in trades] == [better, first, second]
    assert [t.price for t in trades] == [D("100.5"), D("101"), D("101")]


def test_ioc_fills_what_it_can_and_expires_the_rest(engine: Engine) -> None:
    engine.apply(limit(SELL, "1", "100", "m"))
    out = engine.apply(limit(BUY, "2.5", "100", "t", TimeInForce.IOC))
    assert kinds(out) == ["accepted", "trade", "expired"]
    exp = of(out, OrderExpired)[0]
    assert (exp.status, exp.executed_qty, exp.leaves_qty) == (OrderStatus.EXPIRED, D("1"), D("1.5"))
    assert book(engine) == ([], [])  # IOC never rests


def test_fok_without_enough_liquidity_expires_and_changes_nothing(engine: Engine) -> None:
    engine.apply(limit(SELL, "1", "100", "m"))
    before = engine.state()["symbols"]
    out = engine.apply(limit(BUY, "1.5", "100", "t", TimeInForce.FOK))
    assert kinds(out) == ["accepted", "expired"]
    assert of(out, OrderExpired)[0].leaves_qty == D("1.5")
    assert engine.state()["symbols"] == before


def test_fok_with_enough_liquidity_fills_completely(engine: Engine) -> None:
    engine.apply(limit(SELL, "1", "100", "m"))
    engine.apply(limit(SELL, "1", "100.01", "m"))
    out = engine.apply(limit(BUY, "1.5", "100.01", "t", TimeInForce.FOK))
    trades = of(out, Trade)
    assert sum(t.quantity for t in trades) == D("1.5") and trades[-1].taker_status == OrderStatus.FILLED


def test_limit_maker_rests_when_it_would_not_take(engine: Engine) -> None:
    engine.apply(limit(SELL, "1", "100", "m"))
    out = engine.apply(NewOrder("BTC/USDT", "t", BUY, OrderType.LIMIT_MAKER, D("1"), D("99.99")))
    assert kinds(out) == ["accepted"]
    assert book(engine)[0] == [("99.99", "1")]


def test_limit_maker_that_would_take_is_rejected(engine: Engine) -> None:
    engine.apply(limit(SELL, "1", "100", "m"))
    (rej,) = engine.apply(NewOrder("BTC/USDT", "t", BUY, OrderType.LIMIT_MAKER, D("1"), D("100")))
    assert isinstance(rej, OrderRejected)
    assert (rej.code, rej.msg) == (-2010, "Order would immediately match and take.")
    assert book(engine) == ([], [("100", "1")])


def test_market_by_quantity_sweeps_levels_and_expires_the_rest(engine: Engine) -> None:
    engine.apply(limit(BUY, "1", "100", "m"))
    engine.apply(limit(BUY, "1", "99", "m"))
    out = engine.apply(market(SELL, "3", "t"))
    assert [(t.price, t.quantity) for t in of(out, Trade)] == [(D("100"), D("1")), (D("99"), D("1"))]
    exp = of(out, OrderExpired)[0]
    assert (exp.status, exp.executed_qty, exp.leaves_qty) == (OrderStatus.EXPIRED, D("2"), D("1"))


def test_market_by_quote_spends_the_budget_in_whole_lots(engine: Engine) -> None:
    engine.apply(limit(SELL, "0.1", "100", "m"))
    engine.apply(limit(SELL, "1", "200", "m"))
    out = engine.apply(market(BUY, None, "t", quote_order_qty=D("50")))
    assert of(out, OrderAccepted)[0].quote_order_qty == D("50")
    trades = of(out, Trade)
    # 10 at 100 buys 0.1; 40 left buys 0.2 at 200; nothing is left, so the order is FILLED
    assert [(t.price, t.quantity) for t in trades] == [(D("100"), D("0.1")), (D("200"), D("0.2"))]
    assert trades[-1].taker_status == OrderStatus.FILLED
    assert "expired" not in kinds(out)


def test_market_by_quote_with_thin_book_expires_with_unspent_quote(engine: Engine) -> None:
    engine.apply(limit(SELL, "0.1", "100", "m"))
    out = engine.apply(market(BUY, None, "t", quote_order_qty=D("50")))
    exp = of(out, OrderExpired)[0]
    assert (exp.status, exp.executed_qty, exp.leaves_quote) == (OrderStatus.EXPIRED, D("0.1"), D("40"))


def test_market_with_empty_book_expires_unfilled(engine: Engine) -> None:
    out = engine.apply(market(BUY, "1", "t"))
    assert kinds(out) == ["accepted", "expired"]


def test_symbols_are_separate_books(engine: Engine) -> None:
    engine.apply(limit(SELL, "1", "100", "m", symbol="ETH/USDT"))
    out = engine.apply(limit(BUY, "1", "100", "t"))
    assert kinds(out) == ["accepted"]
    assert book(engine, "ETH/USDT") == ([], [("100", "1")])


def test_market_sell_by_quote_stops_once_the_quote_target_is_reached(engine: Engine) -> None:
    engine.apply(limit(BUY, "0.2", "100", "m"))
    out = engine.apply(market(SELL, None, "t", quote_order_qty=D("15")))
    (t,) = of(out, Trade)
    assert (t.price, t.quantity, t.taker_status) == (D("100"), D("0.15"), OrderStatus.FILLED)


def test_amending_a_post_only_order_across_the_spread_is_rejected(engine: Engine) -> None:
    from internal_book import AmendOrder

    engine.apply(limit(SELL, "1", "100", "m"))
    oid = engine.apply(NewOrder("BTC/USDT", "t", BUY, OrderType.LIMIT_MAKER, D("1"), D("99")))[0].order_id
    (rej,) = engine.apply(AmendOrder("BTC/USDT", "t", order_id=oid, new_price=D("100")))
    assert isinstance(rej, OrderRejected) and rej.msg == "Order would immediately match and take."
    assert book(engine)[0] == [("99", "1")]


def test_fok_blocked_by_own_order_under_expire_taker_expires_without_trading(engine: Engine) -> None:
    from domain import StpMode

    engine.apply(limit(SELL, "1", "100", "me"))
    engine.apply(limit(SELL, "1", "100", "you"))
    out = engine.apply(limit(BUY, "2", "100", "me", TimeInForce.FOK, stp_mode=StpMode.EXPIRE_TAKER))
    assert kinds(out) == ["accepted", "expired"]
    assert of(out, OrderExpired)[0].status == OrderStatus.EXPIRED
