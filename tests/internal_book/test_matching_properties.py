"""Property tests: the compiled engine against the reference model on random order flow.

Same events byte for byte, same final book, never crossed, quantities conserved, no fill worse
than the order's limit, and time priority within a level (the reference encodes it explicitly).
"""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ib_fixtures import INSTRUMENTS, random_flow

from domain import OrderSide, OrderStatus, OrderType, StpMode, TimeInForce
from internal_book import (
    AmendOrder,
    CancelOrder,
    CancelReplace,
    MatchingEngine,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    ReferenceEngine,
    SetReferencePrice,
    Trade,
)

SYM = "ETH/USDT"  # tick 0.5, step 0.1, min qty 0.1, min notional 2
# random flows use both books (BTC's finer tick/step holds every ETH value) to check isolation
symbols = st.sampled_from([SYM, SYM, "BTC/USDT"])

prices = st.integers(196, 204).map(lambda i: D(i) / 2)  # 98.0 .. 102.0 on the 0.5 tick
odd_prices = st.sampled_from([D("100.25"), D("0"), D("-1")])
qtys = st.integers(1, 30).map(lambda i: D(i) / 10)
odd_qtys = st.sampled_from([D("0.05"), D("0"), D("0.01")])
# (tenant, account): t2/a shares an account id with t1/a but is a different STP group
who = st.sampled_from([("t1", "a"), ("t1", "b"), ("t2", "a")])
oids = st.integers(1, 12)
clids = st.sampled_from([None, None, "c1", "c2", "c3"])
stps = st.sampled_from(list(StpMode))
maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731


@st.composite
def new_orders(draw: st.DrawFn) -> NewOrder:
    t = draw(
        st.sampled_from(
            [OrderType.LIMIT] * 6
            + [OrderType.LIMIT_MAKER, OrderType.MARKET, OrderType.MARKET]
            + [OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT]
        )
    )
    side = draw(st.sampled_from(list(OrderSide)))
    priced = t in (OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT)
    tif = (
        draw(st.sampled_from([TimeInForce.GTC] * 3 + [TimeInForce.IOC, TimeInForce.FOK]))
        if t not in (OrderType.LIMIT_MAKER, OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT)
        else None
    )
    price = draw(prices) if priced else None
    qty = draw(qtys)
    quote = None
    if t == OrderType.MARKET and draw(st.booleans()):
        qty, quote = None, draw(st.integers(1, 800).map(lambda i: D(i) / 2))
    stop = trail = None
    if t in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT):
        mode = draw(st.sampled_from(["stop", "trail", "both"]))
        stop = draw(prices) if mode != "trail" else None
        trail = draw(st.sampled_from([50, 100, 300])) if mode != "stop" else None
    protect = draw(prices) if t in (OrderType.LIMIT, OrderType.MARKET) and draw(st.integers(0, 9)) == 0 else None
    if draw(st.integers(0, 14)) == 0:  # occasional malformed input: every path must reject identically
        which = draw(st.integers(0, 4))
        if which == 0:
            price = draw(odd_prices)
        elif which == 1:
            qty = draw(odd_qtys)
        elif which == 2:
            tif = draw(maybe(st.sampled_from(list(TimeInForce))))
        elif which == 3:
            stop = draw(maybe(prices))
        else:
            trail = draw(st.sampled_from([None, 5, 5000]))
    tenant, account = draw(who)
    return NewOrder(
        draw(symbols),
        account,
        side,
        t,
        qty,
        price,
        tif,
        quote,
        stop,
        trail,
        draw(clids),
        draw(stps),
        tenant,
        0,
        protect,
    )


@st.composite
def commands(draw: st.DrawFn) -> object:
    k = draw(st.integers(0, 19))
    if k < 11:
        return draw(new_orders())
    tenant, account = draw(who)
    sym = draw(symbols)
    if k < 14:
        if draw(st.integers(0, 3)):
            return CancelOrder(sym, account, order_id=draw(oids), tenant=tenant)
        return CancelOrder(sym, account, client_order_id=draw(clids), tenant=tenant)
    if k < 17:
        if draw(st.booleans()):
            return AmendOrder(
                sym,
                account,
                order_id=draw(oids),
                new_quantity=draw(maybe(qtys)),
                new_price=draw(maybe(prices)),
                tenant=tenant,
            )
        return AmendOrder(sym, account, client_order_id=draw(clids), new_quantity=draw(maybe(qtys)), tenant=tenant)
    if k < 18:
        return CancelReplace(CancelOrder(sym, account, order_id=draw(oids), tenant=tenant), draw(new_orders()))
    return SetReferencePrice(sym, draw(prices))


def _stamp(cmds: list[object]) -> list[object]:
    # give every command its own timestamp so events carry distinct, ordered times
    out = []
    for i, c in enumerate(cmds, 1):
        if isinstance(c, CancelReplace):
            out.append(CancelReplace(_with_ts(c.cancel, i), _with_ts(c.new_order, i)))
        else:
            out.append(_with_ts(c, i))
    return out


def _with_ts(c: object, ts: int) -> object:
    from dataclasses import replace

    return replace(c, ts=ts)  # type: ignore[type-var]


def _previewable(cmd: object) -> bool:
    # preview does no validation; compare it only on well-formed orders
    if not isinstance(cmd, NewOrder) or cmd.order_type not in (OrderType.LIMIT, OrderType.MARKET):
        return False
    on_grid = all(
        v is None or (v > 0 and v % step == 0)
        for v, step in ((cmd.price, D("0.5")), (cmd.protect_price, D("0.5")), (cmd.quantity, D("0.1")))
    )
    return (
        on_grid
        and (cmd.quantity is None) != (cmd.quote_order_qty is None)
        and (cmd.order_type == OrderType.MARKET or cmd.price is not None)
    )


def _assert_uncrossed(eng: MatchingEngine) -> None:
    for sy in eng.state()["symbols"].values():
        if sy["bids"] and sy["asks"]:
            assert D(sy["bids"][0][7]) < D(sy["asks"][0][7]), "book crossed"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(commands(), min_size=1, max_size=80))
def test_compiled_engine_matches_reference_event_for_event(cmds: list[object]) -> None:
    fast, ref = MatchingEngine(INSTRUMENTS), ReferenceEngine(INSTRUMENTS)
    orders: dict[int, OrderAccepted] = {}
    price_now: dict[int, D] = {}
    for cmd in _stamp(cmds):
        if _previewable(cmd):  # the router hook sees the same fills on both engines
            assert fast.preview(cmd) == ref.preview(cmd), cmd  # type: ignore[arg-type]
        a, b = fast.apply(cmd), ref.apply(cmd)  # type: ignore[arg-type]
        assert [e.to_json() for e in a] == [e.to_json() for e in b], cmd
        fast.validate_internal_state()  # sorted, uncrossed, totals and indexes consistent
        ref.validate_internal_state()
        _assert_uncrossed(fast)
        for e in a:
            if isinstance(e, OrderAccepted):
                orders[e.order_id] = e
                if e.price is not None:
                    price_now[e.order_id] = e.price
            elif isinstance(e, OrderAmended):
                price_now[e.order_id] = e.price
            elif isinstance(e, Trade):
                # a maker trades at its own (current) price; a priced taker never beyond its limit
                assert e.price == price_now[e.maker_order_id]
                taker = orders[e.taker_order_id]
                if taker.order_type in (OrderType.LIMIT, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT):
                    lim = price_now[e.taker_order_id]
                    assert e.price <= lim if e.taker_side == OrderSide.BUY else e.price >= lim
    assert fast.state() == ref.state()
    assert fast.state_hash() == ref.state_hash()


@settings(max_examples=150, deadline=None)
@given(st.lists(commands(), min_size=1, max_size=60))
def test_every_order_quantity_is_conserved(cmds: list[object]) -> None:
    """filled + still open + cancelled/expired/released == original quantity, for every order."""
    eng = MatchingEngine(INSTRUMENTS)
    events = []
    for cmd in _stamp(cmds):
        events += eng.apply(cmd)  # type: ignore[arg-type]
    qty: dict[int, D] = {}
    filled: dict[int, D] = {}
    closed: dict[int, D] = {}
    for e in events:
        if isinstance(e, OrderAccepted) and e.quantity is not None:
            qty[e.order_id] = e.quantity
        elif isinstance(e, OrderAmended):
            qty[e.order_id] = e.quantity
        elif isinstance(e, Trade):
            for oid in (e.taker_order_id, e.maker_order_id):
                filled[oid] = filled.get(oid, D(0)) + e.quantity
        elif e.kind in ("cancelled", "expired", "released"):
            closed[e.order_id] = e.leaves_qty
    open_leaves: dict[int, D] = {}
    for state in eng.state()["symbols"].values():
        open_leaves.update({row[0]: D(row[9]) for row in state["bids"] + state["asks"]})
        open_leaves.update({row[0]: D(row[8]) for row in state["stops"]})
    for oid, q in qty.items():
        done = filled.get(oid, D(0))
        rest = open_leaves.get(oid, closed.get(oid, D(0)))
        assert done + rest == q, (oid, q, done, rest)


def test_long_random_flow_matches_reference() -> None:
    fast, ref = MatchingEngine(INSTRUMENTS), ReferenceEngine(INSTRUMENTS)
    kinds: dict[str, int] = {}
    for n, cmd in enumerate(random_flow(7, 6000, fast)):
        a, b = fast.apply(cmd), ref.apply(cmd)  # type: ignore[arg-type]
        assert [e.to_json() for e in a] == [e.to_json() for e in b], cmd
        for e in a:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        if n % 50 == 0:
            fast.validate_internal_state()
            assert fast.state_hash() == ref.state_hash()
    assert fast.state() == ref.state()
    # the flow really exercised every path
    for k in ("accepted", "trade", "cancelled", "expired", "triggered", "rejected", "amended", "released"):
        assert kinds.get(k, 0) > 10, kinds


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(commands(), min_size=1, max_size=80))
def test_makers_are_hit_in_price_time_order(cmds: list[object]) -> None:
    """Independent of the reference: every trade hits the best-priced, longest-waiting resting order.

    The queue is rebuilt from events alone: an order joins its level when it is accepted (or
    triggered, or amended with lost priority) and leaves on fill, cancel, expiry or release.
    """
    eng = MatchingEngine(INSTRUMENTS)
    info: dict[int, OrderAccepted] = {}
    resting: dict[int, tuple[str, OrderSide, D, int]] = {}  # order id -> (symbol, side, price, priority stamp)
    for cmd in _stamp(cmds):
        for e in eng.apply(cmd):  # type: ignore[arg-type]
            if isinstance(e, OrderAccepted):
                info[e.order_id] = e
                if e.price is not None and e.order_type in (OrderType.LIMIT, OrderType.LIMIT_MAKER):
                    resting[e.order_id] = (e.symbol, e.side, e.price, e.seq)
            elif e.kind == "triggered" and info[e.order_id].price is not None:
                a = info[e.order_id]
                resting[e.order_id] = (a.symbol, a.side, a.price, e.seq)  # type: ignore[arg-type]
            elif isinstance(e, OrderAmended):
                sym, side, _, stamp = resting[e.order_id]
                resting[e.order_id] = (sym, side, e.price, stamp if e.keeps_priority else e.seq)
            elif isinstance(e, Trade):
                maker_side = OrderSide.SELL if e.taker_side == OrderSide.BUY else OrderSide.BUY
                rivals = [
                    (p, s, oid)
                    for oid, (sym, sd, p, s) in resting.items()
                    if sym == e.symbol and sd == maker_side and oid != e.taker_order_id
                ]
                best = min(rivals, key=lambda r: ((r[0] if maker_side == OrderSide.SELL else -r[0]), r[1]))
                assert best[2] == e.maker_order_id, (e, best)
                if e.maker_status == OrderStatus.FILLED:
                    del resting[e.maker_order_id]
                if e.taker_status == OrderStatus.FILLED:
                    resting.pop(e.taker_order_id, None)
            elif e.kind in ("cancelled", "expired", "released"):
                resting.pop(e.order_id, None)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(commands(), min_size=2, max_size=60), st.data())
def test_snapshot_at_any_point_continues_identically(cmds: list[object], data: st.DataObject) -> None:
    stamped = _stamp(cmds)
    cut = data.draw(st.integers(0, len(stamped)))
    original = MatchingEngine(INSTRUMENTS)
    for c in stamped[:cut]:
        original.apply(c)  # type: ignore[arg-type]
    restored = MatchingEngine.restore(original.snapshot(), INSTRUMENTS)
    for c in stamped[cut:]:
        a, b = original.apply(c), restored.apply(c)  # type: ignore[arg-type]
        assert [e.to_json() for e in a] == [e.to_json() for e in b]
    assert original.state_hash() == restored.state_hash()
