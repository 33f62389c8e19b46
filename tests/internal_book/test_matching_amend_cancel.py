"""Cancel, amend (keep priority on a pure decrease) and cancel-replace (STOP_ON_FAILURE)."""

from __future__ import annotations

from decimal import Decimal as D

from ib_fixtures import Engine, kinds, limit, of

from domain import OrderSide, OrderStatus
from internal_book import (
    AmendOrder,
    CancelOrder,
    CancelReplace,
    OrderAmended,
    OrderCancelled,
    OrderRejected,
    Trade,
)

BUY, SELL = OrderSide.BUY, OrderSide.SELL
SYM = "BTC/USDT"


def asks(engine: Engine) -> list[int]:
    return [r[0] for r in engine.state()["symbols"][SYM]["asks"]]


def test_cancel_by_order_id_reports_executed_and_leaves(engine: Engine) -> None:
    oid = engine.apply(limit(SELL, "1", "100", "a"))[0].order_id
    engine.apply(limit(BUY, "0.3", "100", "b"))
    (c,) = engine.apply(CancelOrder(SYM, "a", order_id=oid))
    assert isinstance(c, OrderCancelled)
    assert (c.status, c.executed_qty, c.leaves_qty) == (OrderStatus.CANCELED, D("0.3"), D("0.7"))
    assert asks(engine) == []


def test_cancel_by_client_id_and_the_id_is_free_again(engine: Engine) -> None:
    engine.apply(limit(SELL, "1", "100", "a", client_order_id="x"))
    (c,) = engine.apply(CancelOrder(SYM, "a", client_order_id="x"))
    assert c.client_order_id == "x"
    assert kinds(engine.apply(limit(SELL, "1", "100", "a", client_order_id="x"))) == ["accepted"]


def test_client_id_is_per_account(engine: Engine) -> None:
    engine.apply(limit(SELL, "1", "100", "a", client_order_id="x"))
    assert kinds(engine.apply(limit(SELL, "1", "100", "b", client_order_id="x"))) == ["accepted"]


def test_cancelling_twice_is_an_unknown_order(engine: Engine) -> None:
    oid = engine.apply(limit(SELL, "1", "100", "a"))[0].order_id
    engine.apply(CancelOrder(SYM, "a", order_id=oid))
    (r,) = engine.apply(CancelOrder(SYM, "a", order_id=oid))
    assert (r.code, r.msg) == (-2011, "Unknown order sent.")


def test_amend_quantity_down_keeps_time_priority(engine: Engine) -> None:
    first = engine.apply(limit(SELL, "2", "100", "a"))[0].order_id
    engine.apply(limit(SELL, "1", "100", "b"))  # behind "a" at the same price
    (a,) = engine.apply(AmendOrder(SYM, "a", order_id=first, new_quantity=D("1.5")))
    assert isinstance(a, OrderAmended) and a.keeps_priority and a.leaves_qty == D("1.5")
    trades = of(engine.apply(limit(BUY, "1", "100", "c")), Trade)
    assert trades[0].maker_order_id == first


def test_amend_quantity_up_loses_time_priority(engine: Engine) -> None:
    first = engine.apply(limit(SELL, "1", "100", "a"))[0].order_id
    second = engine.apply(limit(SELL, "1", "100", "b"))[0].order_id
    (a,) = engine.apply(AmendOrder(SYM, "a", order_id=first, new_quantity=D("2")))
    assert not a.keeps_priority
    assert asks(engine) == [second, first]


def test_amend_price_loses_priority_and_can_trade(engine: Engine) -> None:
    engine.apply(limit(BUY, "1", "99", "b"))
    oid = engine.apply(limit(SELL, "1", "100", "a"))[0].order_id
    out = engine.apply(AmendOrder(SYM, "a", order_id=oid, new_price=D("99")))
    assert kinds(out) == ["amended", "trade"]
    assert of(out, Trade)[0].maker_status == OrderStatus.FILLED


def test_amend_after_partial_fill_counts_the_executed_part(engine: Engine) -> None:
    oid = engine.apply(limit(SELL, "1", "100", "a"))[0].order_id
    engine.apply(limit(BUY, "0.4", "100", "b"))
    (a,) = engine.apply(AmendOrder(SYM, "a", order_id=oid, new_quantity=D("0.5")))
    assert (a.quantity, a.leaves_qty, a.keeps_priority) == (D("0.5"), D("0.1"), True)


def test_cancel_replace_places_the_new_order_after_cancelling(engine: Engine) -> None:
    oid = engine.apply(limit(SELL, "1", "100", "a", client_order_id="x"))[0].order_id
    out = engine.apply(
        CancelReplace(CancelOrder(SYM, "a", order_id=oid), limit(SELL, "2", "101", "a", client_order_id="x"))
    )
    assert kinds(out) == ["cancelled", "accepted"]
    assert [r[7] for r in engine.state()["symbols"][SYM]["asks"]] == ["101"]


def test_cancel_replace_stops_when_the_cancel_fails(engine: Engine) -> None:
    out = engine.apply(CancelReplace(CancelOrder(SYM, "a", order_id=99), limit(SELL, "2", "101", "a")))
    assert len(out) == 1 and isinstance(out[0], OrderRejected) and out[0].code == -2011
    assert asks(engine) == []
