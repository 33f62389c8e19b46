"""Every rejection reason, with its Binance code and exact message; a rejection changes no order."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest
from ib_fixtures import ENGINES, INSTRUMENTS, limit, market

from domain import OrderSide, OrderType, TimeInForce
from internal_book import (
    AmendOrder,
    CancelOrder,
    NewOrder,
    OrderRejected,
    RejectReason,
    SetReferencePrice,
)

R = RejectReason
BUY, SELL = OrderSide.BUY, OrderSide.SELL
GTC = TimeInForce.GTC


def _setup_resting(e: Any) -> None:
    e.apply(limit(SELL, "1", "100", "a", client_order_id="dup"))


def _setup_partially_filled(e: Any) -> None:
    e.apply(limit(SELL, "1", "100", "a"))  # order 1
    e.apply(limit(BUY, "0.4", "100", "b"))


def _setup_stop(e: Any) -> None:
    e.apply(SetReferencePrice("BTC/USDT", D("100")))
    e.apply(NewOrder("BTC/USDT", "a", SELL, OrderType.STOP_LOSS, D("1"), stop_price=D("90")))  # order 1


def _none(e: Any) -> None:
    return None


CASES: list[tuple[str, Callable[[Any], None], Any, R, int, str]] = [
    (
        "unknown symbol",
        _none,
        limit(BUY, "1", "100", symbol="NOPE/USDT"),
        R.MATCHING_UNKNOWN_SYMBOL,
        -1121,
        "Invalid symbol.",
    ),
    (
        "symbol not trading",
        _none,
        limit(BUY, "1", "100", symbol="OLD/USDT"),
        R.MATCHING_MARKET_CLOSED,
        -2010,
        "Market is closed.",
    ),
    (
        "limit without timeInForce",
        _none,
        NewOrder("BTC/USDT", "a", BUY, OrderType.LIMIT, D("1"), D("100")),
        R.MATCHING_MANDATORY_PARAM,
        -1102,
        "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
    ),
    (
        "limit without price",
        _none,
        NewOrder("BTC/USDT", "a", BUY, OrderType.LIMIT, D("1"), None, GTC),
        R.MATCHING_MANDATORY_PARAM,
        -1102,
        "Mandatory parameter 'price' was not sent, was empty/null, or malformed.",
    ),
    (
        "market with a price",
        _none,
        NewOrder("BTC/USDT", "a", BUY, OrderType.MARKET, D("1"), D("100")),
        R.MATCHING_PARAM_NOT_REQUIRED,
        -1106,
        "Parameter 'price' sent when not required.",
    ),
    (
        "market with neither quantity",
        _none,
        market(BUY, None),
        R.MATCHING_QTY_OR_QUOTE_REQUIRED,
        -1102,
        "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
    ),
    (
        "market with both quantities",
        _none,
        market(BUY, "1", quote_order_qty=D("10")),
        R.MATCHING_UNSUPPORTED_COMBINATION,
        -1014,
        "Unsupported order combination.",
    ),
    (
        "stop without stopPrice or trailingDelta",
        _none,
        NewOrder("BTC/USDT", "a", SELL, OrderType.STOP_LOSS, D("1")),
        R.MATCHING_STOP_OR_TRAILING_REQUIRED,
        -1102,
        "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!",
    ),
    (
        "price off the tick",
        _none,
        limit(BUY, "1", "100.005"),
        R.MATCHING_PRICE_FILTER,
        -1013,
        "Filter failure: PRICE_FILTER",
    ),
    (
        "price above max",
        _none,
        limit(BUY, "0.001", "1000000.01"),
        R.MATCHING_PRICE_FILTER,
        -1013,
        "Filter failure: PRICE_FILTER",
    ),
    (
        "stop price not positive",
        _none,
        NewOrder("BTC/USDT", "a", SELL, OrderType.STOP_LOSS, D("1"), stop_price=D("0")),
        R.MATCHING_PRICE_FILTER,
        -1013,
        "Filter failure: PRICE_FILTER",
    ),
    (
        "quantity off the step",
        _none,
        limit(BUY, "1.0005", "100"),
        R.MATCHING_LOT_SIZE,
        -1013,
        "Filter failure: LOT_SIZE",
    ),
    ("quantity above max", _none, limit(BUY, "101", "100"), R.MATCHING_LOT_SIZE, -1013, "Filter failure: LOT_SIZE"),
    (
        "market quantity above market max",
        _none,
        market(BUY, "51"),
        R.MATCHING_MARKET_LOT_SIZE,
        -1013,
        "Filter failure: MARKET_LOT_SIZE",
    ),
    (
        "trailing delta out of range",
        _none,
        NewOrder("BTC/USDT", "a", SELL, OrderType.STOP_LOSS, D("1"), trailing_delta=5),
        R.MATCHING_TRAILING_DELTA,
        -1013,
        "Filter failure: TRAILING_DELTA",
    ),
    (
        "notional below minimum",
        _none,
        limit(BUY, "0.001", "100"),
        R.MATCHING_NOTIONAL,
        -1013,
        "Filter failure: NOTIONAL",
    ),
    (
        "quote amount too precise",
        _none,
        market(BUY, None, quote_order_qty=D("10.000001")),
        R.MATCHING_BAD_PRECISION,
        -1111,
        "Parameter 'quoteOrderQty' has too much precision.",
    ),
    (
        "client id already open",
        _setup_resting,
        limit(SELL, "1", "101", "a", client_order_id="dup"),
        R.MATCHING_DUPLICATE_ORDER,
        -2010,
        "Duplicate order sent.",
    ),
    (
        "stop would trigger at once",
        _setup_stop,
        NewOrder("BTC/USDT", "a", SELL, OrderType.STOP_LOSS, D("1"), stop_price=D("100")),
        R.MATCHING_WOULD_TRIGGER_IMMEDIATELY,
        -2010,
        "Order would trigger immediately.",
    ),
    (
        "post-only would take",
        _setup_resting,
        NewOrder("BTC/USDT", "b", BUY, OrderType.LIMIT_MAKER, D("1"), D("100")),
        R.MATCHING_WOULD_TAKE,
        -2010,
        "Order would immediately match and take.",
    ),
    (
        "cancel of unknown order",
        _none,
        CancelOrder("BTC/USDT", "a", order_id=42),
        R.MATCHING_UNKNOWN_ORDER,
        -2011,
        "Unknown order sent.",
    ),
    (
        "cancel of another account's order",
        _setup_resting,
        CancelOrder("BTC/USDT", "b", order_id=1),
        R.MATCHING_UNKNOWN_ORDER,
        -2011,
        "Unknown order sent.",
    ),
    (
        "cancel without any id",
        _none,
        CancelOrder("BTC/USDT", "a"),
        R.MATCHING_CANCEL_INVALID,
        -2011,
        "Cancel order is invalid. Check origClOrdId and orderId.",
    ),
    (
        "amend of a pending stop",
        _setup_stop,
        AmendOrder("BTC/USDT", "a", order_id=1, new_quantity=D("0.5")),
        R.MATCHING_AMEND_NOT_ALLOWED,
        -2010,
        "Order amend is only possible for resting orders.",
    ),
    (
        "amend to the executed quantity",
        _setup_partially_filled,
        AmendOrder("BTC/USDT", "a", order_id=1, new_quantity=D("0.4")),
        R.MATCHING_AMEND_BELOW_EXECUTED,
        -2010,
        "New quantity must exceed the executed quantity.",
    ),
    (
        "amend without changes",
        _setup_resting,
        AmendOrder("BTC/USDT", "a", order_id=1),
        R.MATCHING_MANDATORY_PARAM,
        -1102,
        "Mandatory parameter 'newQty' was not sent, was empty/null, or malformed.",
    ),
]


@pytest.mark.parametrize("engine_name", sorted(ENGINES))
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rejection_has_binance_code_and_text_and_changes_no_order(case: tuple, engine_name: str) -> None:
    _, setup, cmd, reason, code, msg = case
    e = ENGINES[engine_name](INSTRUMENTS)
    setup(e)
    before = e.state()
    out = e.apply(cmd)
    assert len(out) == 1 and isinstance(out[0], OrderRejected), out
    assert (out[0].reason, out[0].code, out[0].msg) == (reason, code, msg)
    after = e.state()
    assert after["seq"] == before["seq"] + 1  # the rejection itself is the only change
    assert {**after, "seq": 0} == {**before, "seq": 0}


def test_every_reject_reason_is_covered() -> None:
    assert {c[3] for c in CASES} == set(RejectReason)
    assert all(r.name.startswith("MATCHING_") for r in RejectReason)


def test_a_remainder_is_exempt_from_the_entry_minimums_only(engine: Any) -> None:
    """The rest of an order accepted earlier (``remainder=True``) rests under minQty and minNotional, as a
    resting remainder does on Binance; the maximums, the tick and the step still apply to it."""
    small = limit(SELL, "0.001", "100")  # 0.1 USDT: under the 5 USDT minimum
    assert engine.apply(small)[-1].kind == "rejected"
    kinds = [e.kind for e in engine.apply(limit(SELL, "0.001", "100", remainder=True))]
    assert kinds == ["accepted"]
    assert engine.apply(limit(SELL, "0.0005", "100", remainder=True))[-1].kind == "rejected"  # off the step
    assert engine.apply(limit(SELL, "100", "20000", remainder=True))[-1].kind == "rejected"  # max notional
    # and it trades like any resting order
    trades = [e for e in engine.apply(limit(BUY, "0.06", "100", "b")) if e.kind == "trade"]
    assert [t.quantity for t in trades] == [D("0.001")]
