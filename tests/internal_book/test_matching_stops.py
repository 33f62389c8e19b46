"""Stop orders: trigger directions, limit vs market stops, trailing stops (Binance trailing-stop FAQ)."""

from __future__ import annotations

from decimal import Decimal as D

from ib_fixtures import Engine, kinds, limit, of

from domain import OrderSide, OrderType, TimeInForce
from internal_book import (
    CancelOrder,
    NewOrder,
    OrderRejected,
    SetReferencePrice,
    StopTriggered,
    Trade,
)

BUY, SELL = OrderSide.BUY, OrderSide.SELL
SYM = "ETH/USDT"  # tick 0.5, step 0.1


def stop(
    side: OrderSide,
    t: OrderType,
    qty: str,
    stop_price: str | None = None,
    price: str | None = None,
    trailing: int | None = None,
    account: str = "s",
) -> NewOrder:
    lim = t in (OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT)
    return NewOrder(
        SYM,
        account,
        side,
        t,
        D(qty),
        None if price is None else D(price),
        TimeInForce.GTC if lim else None,
        stop_price=None if stop_price is None else D(stop_price),
        trailing_delta=trailing,
    )


def ref(engine: Engine, price: str) -> list:
    return engine.apply(SetReferencePrice(SYM, D(price)))


def test_stop_loss_sell_triggers_when_reference_falls_to_stop_and_sells_at_market(engine: Engine) -> None:
    engine.apply(limit(BUY, "1", "94", "bidder", symbol=SYM))
    ref(engine, "100")
    oid = engine.apply(stop(SELL, OrderType.STOP_LOSS, "1", "95"))[0].order_id
    assert ref(engine, "95.5") == []
    out = ref(engine, "95")
    assert kinds(out) == ["triggered", "trade"]
    assert out[0].order_id == oid and out[0].trigger_price == D("95")
    assert (out[1].taker_order_id, out[1].price) == (oid, D("94"))


def test_stop_loss_limit_buy_triggers_on_an_internal_trade_and_rests_as_limit(engine: Engine) -> None:
    oid = engine.apply(stop(BUY, OrderType.STOP_LOSS_LIMIT, "1", "101", price="101.5"))[0].order_id
    engine.apply(limit(SELL, "1", "101", "m1", symbol=SYM))
    out = engine.apply(limit(BUY, "1", "101", "m2", symbol=SYM))  # last trade 101 >= stop 101
    assert kinds(out) == ["accepted", "trade", "triggered"]
    assert of(out, StopTriggered)[0].order_id == oid
    bids = engine.state()["symbols"][SYM]["bids"]
    assert [(r[0], r[7]) for r in bids] == [(oid, "101.5")]  # no asks left: it rests at its limit


def test_take_profit_buy_triggers_when_price_falls_to_stop(engine: Engine) -> None:
    ref(engine, "100")
    engine.apply(stop(BUY, OrderType.TAKE_PROFIT, "1", "90"))
    assert ref(engine, "90.5") == []
    assert kinds(ref(engine, "90")) == ["triggered", "expired"]  # market buy, no asks: expires


def test_take_profit_limit_sell_triggers_when_price_rises_to_stop(engine: Engine) -> None:
    ref(engine, "100")
    engine.apply(limit(BUY, "1", "110", "bidder", symbol=SYM))  # no trade: book had no asks
    engine.apply(stop(SELL, OrderType.TAKE_PROFIT_LIMIT, "1", "111", price="109"))
    out = ref(engine, "111")
    assert kinds(out) == ["triggered", "trade"] and of(out, Trade)[0].price == D("110")


def test_stop_that_would_trigger_immediately_is_rejected(engine: Engine) -> None:
    ref(engine, "100")
    (rej,) = engine.apply(stop(SELL, OrderType.STOP_LOSS, "1", "100"))
    assert isinstance(rej, OrderRejected)
    assert (rej.code, rej.msg) == (-2010, "Order would trigger immediately.")


def test_pending_stop_can_be_cancelled_and_then_never_triggers(engine: Engine) -> None:
    ref(engine, "100")
    oid = engine.apply(stop(SELL, OrderType.STOP_LOSS, "1", "95"))[0].order_id
    assert kinds(engine.apply(CancelOrder(SYM, "s", order_id=oid))) == ["cancelled"]
    assert ref(engine, "90") == []


def test_trailing_stop_without_stop_price_tracks_the_high_since_placement(engine: Engine) -> None:
    # FAQ scenario E: SELL STOP_LOSS_LIMIT, trailingDelta 700, placed at 40000
    ref(engine, "40000")
    oid = engine.apply(stop(SELL, OrderType.STOP_LOSS_LIMIT, "0.1", price="39000", trailing=700))[0].order_id
    for p in ("42000", "39500", "45500", "42315.5"):
        assert ref(engine, p) == [], p  # 39500 is only ~595 bips under the 42000 high
    out = ref(engine, "42315")  # 45500 * 0.93
    assert [(e.kind, e.order_id) for e in out] == [("triggered", oid)]


def test_trailing_stop_with_stop_price_starts_tracking_at_activation(engine: Engine) -> None:
    # FAQ scenario A: BUY STOP_LOSS_LIMIT, stopPrice 44000, trailingDelta 500, price 45000
    ref(engine, "40000")
    oid = engine.apply(stop(BUY, OrderType.STOP_LOSS_LIMIT, "0.1", "44000", price="45000", trailing=500))[0].order_id
    for p in ("37000", "44000", "45000", "46000", "42000", "44099.5"):
        assert ref(engine, p) == [], p  # 37000 is ignored: not yet activated
    out = ref(engine, "44100")  # 42000 * 1.05
    assert [(e.kind, e.order_id) for e in out] == [("triggered", oid)]


def test_trailing_take_profit_sell_activates_above_stop_then_trails_the_high(engine: Engine) -> None:
    # FAQ scenario D: SELL TAKE_PROFIT_LIMIT, stopPrice 42000, trailingDelta 750
    ref(engine, "40000")
    oid = engine.apply(stop(SELL, OrderType.TAKE_PROFIT_LIMIT, "0.1", "42000", price="41000", trailing=750))[0].order_id
    for p in ("41500", "39000", "42000", "45000", "44000", "46500", "43013"):
        assert ref(engine, p) == [], p
    assert [e.order_id for e in ref(engine, "43012.5")] == [oid]  # 46500 * 0.925


def test_triggered_stop_can_trigger_the_next_one(engine: Engine) -> None:
    ref(engine, "100")
    engine.apply(limit(BUY, "1", "94", "b1", symbol=SYM))
    engine.apply(limit(BUY, "1", "90", "b2", symbol=SYM))
    first = engine.apply(stop(SELL, OrderType.STOP_LOSS, "1", "95", account="s1"))[0].order_id
    second = engine.apply(stop(SELL, OrderType.STOP_LOSS, "1", "94", account="s2"))[0].order_id
    out = ref(engine, "95")  # first sells at 94 -> last 94 triggers the second, which sells at 90
    assert [(e.kind, e.order_id) for e in out if e.kind == "triggered"] == [("triggered", first), ("triggered", second)]
    assert [t.price for t in of(out, Trade)] == [D("94"), D("90")]


def test_trailing_take_profit_buy_trails_the_low_after_activation(engine: Engine) -> None:
    # FAQ scenario C: BUY TAKE_PROFIT_LIMIT, stopPrice 38000, trailingDelta 850, price 38500
    ref(engine, "40000")
    oid = engine.apply(stop(BUY, OrderType.TAKE_PROFIT_LIMIT, "0.1", "38000", price="38500", trailing=850))[0].order_id
    for p in ("42000", "38000", "37000", "39000", "38000", "40144.5"):
        assert ref(engine, p) == [], p
    assert [e.order_id for e in ref(engine, "40145")] == [oid]  # 37000 * 1.085


def test_simultaneous_triggers_fire_in_arrival_order(engine: Engine) -> None:
    ref(engine, "100")
    first = engine.apply(stop(SELL, OrderType.STOP_LOSS, "1", "95", account="s1"))[0].order_id
    second = engine.apply(stop(SELL, OrderType.STOP_LOSS, "1", "96", account="s2"))[0].order_id
    out = ref(engine, "94")
    assert [e.order_id for e in of(out, StopTriggered)] == [first, second]
