"""Determinism, snapshot/restore and journal rebuild: a restarted engine continues byte for byte."""

from __future__ import annotations

from ib_fixtures import INSTRUMENTS, random_flow

from internal_book import MatchingEngine, events_to_json


def _split_flow(n: int, cut: int) -> tuple[list, list]:
    driver = MatchingEngine(INSTRUMENTS)  # generates targets from a live book
    cmds = []
    for cmd in random_flow(11, n, driver):
        driver.apply(cmd)  # type: ignore[arg-type]
        cmds.append(cmd)
    return cmds[:cut], cmds[cut:]


def _run(eng: MatchingEngine, cmds: list) -> bytes:
    out = []
    for c in cmds:
        out += eng.apply(c)
    return events_to_json(out)


def test_same_inputs_give_the_same_event_bytes() -> None:
    head, tail = _split_flow(1500, 1500)
    assert _run(MatchingEngine(INSTRUMENTS), head) == _run(MatchingEngine(INSTRUMENTS), head)


def test_restored_snapshot_continues_exactly_like_the_original() -> None:
    head, tail = _split_flow(3000, 1500)
    original = MatchingEngine(INSTRUMENTS)
    _run(original, head)
    restored = MatchingEngine.restore(original.snapshot(), INSTRUMENTS)
    restored.validate_internal_state()
    assert restored.state_hash() == original.state_hash()
    assert _run(restored, tail) == _run(original, tail)
    assert restored.state_hash() == original.state_hash()


def test_journal_rebuild_continues_exactly_like_the_original() -> None:
    head, tail = _split_flow(3000, 1500)
    original = MatchingEngine(INSTRUMENTS)
    _run(original, head)
    rebuilt = MatchingEngine.rebuild(INSTRUMENTS, original.journal)
    assert rebuilt.state_hash() == original.state_hash()
    assert _run(rebuilt, tail) == _run(original, tail)


def test_bulk_entry_journal_rebuilds_with_its_account_registrations() -> None:
    eng = MatchingEngine(INSTRUMENTS)
    a, b = eng.account_key("t", "a"), eng.account_key("t", "b")
    raw = [
        (1, 0, a, 1, 0, 0, 10000, 1000, None, None, None, 2, "x", 1, None),
        (1, 0, b, 0, 0, 0, 10000, 400, None, None, None, 2, None, 2, None),
    ]
    eng.submit_many(raw)
    assert [e.kind for e in eng.drain_events()] == ["accepted", "accepted", "trade"]
    rebuilt = MatchingEngine.rebuild(INSTRUMENTS, eng.journal)
    assert rebuilt.state_hash() == eng.state_hash()


def test_state_hash_changes_with_the_book() -> None:
    head, _ = _split_flow(200, 200)
    eng = MatchingEngine(INSTRUMENTS)
    h0 = eng.state_hash()
    _run(eng, head)
    assert eng.state_hash() != h0


def test_event_canonical_bytes_are_stable() -> None:
    from decimal import Decimal as D

    from domain import OrderSide, OrderType, TimeInForce
    from internal_book import NewOrder

    eng = MatchingEngine(INSTRUMENTS)
    eng.apply(
        NewOrder("BTC/USDT", "a", OrderSide.SELL, OrderType.LIMIT, D("1.000"), D("100.10"), TimeInForce.GTC, ts=5)
    )
    (_, trade) = eng.apply(
        NewOrder("BTC/USDT", "b", OrderSide.BUY, OrderType.LIMIT, D("0.5"), D("101"), TimeInForce.IOC, ts=6)
    )
    assert trade.to_json() == (
        b'{"kind":"trade","maker_order_id":1,"maker_status":"PARTIALLY_FILLED","price":"100.1","quantity":"0.5",'
        b'"seq":3,"symbol":"BTC/USDT","taker_order_id":2,"taker_side":"BUY","taker_status":"FILLED",'
        b'"trade_id":1,"ts":6}'
    )


def test_packed_events_decode_to_the_same_events() -> None:
    head, _ = _split_flow(3000, 3000)
    a, b = MatchingEngine(INSTRUMENTS), MatchingEngine(INSTRUMENTS)
    direct = _run(a, head)
    b.submit_many([b.encode(c) for c in head])  # the bulk path, events left buffered
    assert events_to_json(b.decode_packed(*b.drain_packed())) == direct
    assert b.state_hash() == a.state_hash()


def test_restart_from_snapshot_plus_journal_tail_loses_nothing() -> None:
    head, tail = _split_flow(3000, 1000)
    middle, rest = tail[:1000], tail[1000:]
    original = MatchingEngine(INSTRUMENTS)
    _run(original, head)
    blob = original.snapshot()  # durable at this point
    original.clear_journal()
    _run(original, middle)  # journaled after the snapshot, then the process dies
    recovered = MatchingEngine.recover(blob, INSTRUMENTS, original.journal)
    assert recovered.state_hash() == original.state_hash()
    assert _run(recovered, rest) == _run(original, rest)


def test_binary_floats_are_refused_at_the_edge() -> None:
    import pytest

    from domain import OrderSide, OrderType, TimeInForce
    from internal_book import NewOrder

    eng = MatchingEngine(INSTRUMENTS)
    with pytest.raises(TypeError):
        eng.apply(NewOrder("BTC/USDT", "a", OrderSide.BUY, OrderType.LIMIT, 1.0, 100.0, TimeInForce.GTC))  # type: ignore[arg-type]
    assert eng.journal == ()
