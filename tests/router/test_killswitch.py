"""Kill switch: scopes and precedence, resume, halt callbacks, the mid-anomaly rule; the reason table."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal as D

import ccxt
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from config.settings import Settings
from router.killswitch import AnomalyDetector, AnomalyRule, Halt, KillSwitch, Scope
from router.reasons import BINANCE_ERRORS, Rejection, RejectReason, error_of

BTC, ETH = "BTC/USDT", "ETH/USDT"
S = 1_000_000_000  # ns per second


def ks(rule: AnomalyRule | None = None, now: int = 42 * S) -> KillSwitch:
    return KillSwitch(rule, clock=lambda: now)


# -- scopes ------------------------------------------------------------------------------------------


def test_scope_constructors_parse_and_str() -> None:
    assert Scope.ALL == Scope("all") and str(Scope.ALL) == "all"
    assert Scope.symbol(BTC) == Scope("symbol", BTC) and str(Scope.symbol(BTC)) == "symbol:BTC/USDT"
    assert str(Scope.venue("kraken")) == "venue:kraken"
    for scope in (Scope.ALL, Scope.symbol(BTC), Scope.venue("htx")):
        assert Scope.parse(str(scope)) == scope
    assert Scope.parse(" ALL ") == Scope.ALL
    assert len({Scope.symbol(BTC), Scope.symbol(BTC), Scope.venue(BTC)}) == 2  # hashable, kind matters
    with pytest.raises(ValueError, match="scope must be"):
        Scope.parse("exchange:binance")
    with pytest.raises(ValueError, match="needs a name"):
        Scope.symbol("")
    with pytest.raises(ValueError, match="needs no name"):
        Scope("all", "x")
    with pytest.raises(ValueError, match="kind"):
        Scope("desk", "x")  # type: ignore[arg-type]


def test_scope_covers() -> None:
    assert Scope.ALL.covers(BTC, "kraken") and Scope.ALL.covers()
    assert Scope.symbol(BTC).covers(BTC) and not Scope.symbol(BTC).covers(ETH, "kraken")
    assert Scope.venue("kraken").covers(ETH, "kraken") and not Scope.venue("kraken").covers(BTC)


async def test_nothing_halted() -> None:
    k = ks()
    assert k.check(BTC) is None and k.check(BTC, "binance") is None
    assert k.rejection(BTC) is None and k.halts() == []


async def test_venue_halt_stops_children_on_that_venue_only() -> None:
    k = ks()
    await k.halt(Scope.venue("kraken"), "fills not confirmed", "ops")
    assert k.check(BTC) is None  # a parent may still route elsewhere
    assert k.check(BTC, "kraken") is RejectReason.HALTED_VENUE
    assert k.check(ETH, "kraken") is RejectReason.HALTED_VENUE
    assert k.check(BTC, "binance") is None
    assert k.halted_venues() == frozenset({"kraken"})


async def test_precedence_all_over_symbol_over_venue() -> None:
    k = ks()
    await k.halt(Scope.venue("kraken"), "venue", "ops", now_ns=1)
    await k.halt(Scope.symbol(BTC), "symbol", "ops", now_ns=2)
    assert k.check(BTC, "kraken") is RejectReason.HALTED_SYMBOL
    assert k.check(BTC) is RejectReason.HALTED_SYMBOL
    assert k.check(ETH) is None and k.check(ETH, "kraken") is RejectReason.HALTED_VENUE
    await k.halt(Scope.ALL, "everything", "ops", now_ns=3)
    for sym, venue in ((BTC, "kraken"), (BTC, None), (ETH, "htx"), ("SOL/USDT", None)):
        assert k.check(sym, venue) is RejectReason.HALTED_ALL
    assert [h.reason for h in k.halts()] == ["venue", "symbol", "everything"]  # oldest first


async def test_resume_exact_scope() -> None:
    k = ks()
    await k.halt(Scope.symbol(BTC), "x", "ops")
    await k.halt(Scope.ALL, "y", "ops")
    assert k.resume(Scope.ALL) is True
    assert k.check(BTC) is RejectReason.HALTED_SYMBOL and k.check(ETH) is None
    assert k.resume(Scope.ALL) is False
    assert k.resume(Scope.venue("kraken")) is False
    assert k.resume(Scope.symbol(BTC), by="alice") is True
    assert k.check(BTC) is None and k.halts() == []


async def test_halt_record_reason_time_by_and_clear_message() -> None:
    k = ks(now=7 * S)
    halt = await k.halt(Scope.symbol(BTC), "fat finger on the desk.", "alice")
    assert halt == Halt(Scope.symbol(BTC), "fat finger on the desk.", "alice", 7 * S)
    assert k.halts() == [halt]
    assert halt.as_dict() == {
        "scope": "symbol:BTC/USDT",
        "reason": "fat finger on the desk.",
        "by": "alice",
        "at_ns": 7 * S,
    }
    rej = k.rejection(BTC, "binance")
    assert rej == Rejection(RejectReason.HALTED_SYMBOL, "symbol BTC/USDT by alice: fat finger on the desk")
    assert rej.as_binance() == {
        "code": -2010,
        "msg": "Trading is halted for symbol BTC/USDT by alice: fat finger on the desk.",
    }
    await k.halt(Scope.ALL, "exchange outage", "bob")
    assert k.rejection(ETH).msg == "Trading is halted for all symbols and venues by bob: exchange outage."  # type: ignore[union-attr]
    k.resume(Scope.ALL)
    await k.halt(Scope.venue("htx"), "withdrawals frozen", "carol")
    assert k.rejection(ETH, "htx").msg == "Trading is halted for venue htx by carol: withdrawals frozen."  # type: ignore[union-attr]


async def test_halt_needs_reason_and_by() -> None:
    with pytest.raises(ValueError, match="reason"):
        await ks().halt(Scope.ALL, " ", "ops")
    with pytest.raises(ValueError, match="who"):
        await ks().halt(Scope.ALL, "x", "")


# -- callbacks ---------------------------------------------------------------------------------------


async def test_callbacks_awaited_with_scope_after_halt_is_visible() -> None:
    k = ks()
    seen: list[tuple[str, Scope, RejectReason | None]] = []

    async def first(scope: Scope) -> None:
        seen.append(("first-start", scope, k.check(BTC)))  # the halt is already in force
        await asyncio.sleep(0.01)  # a callback that takes time (a venue call): halt() must await it to the end
        seen.append(("first-done", scope, None))

    async def second(scope: Scope) -> None:
        await asyncio.sleep(0)  # yields once, as any awaiting callback would; not a wait for anything
        seen.append(("second", scope, k.check(BTC, "kraken")))

    k.on_halt(first)
    k.on_halt(second)
    await k.halt(Scope.symbol(BTC), "x", "ops")
    assert ("first-start", Scope.symbol(BTC), RejectReason.HALTED_SYMBOL) in seen
    assert ("first-done", Scope.symbol(BTC), None) in seen  # awaited to the end before halt() returned
    assert ("second", Scope.symbol(BTC), RejectReason.HALTED_SYMBOL) in seen


async def test_failing_callback_does_not_stop_the_others_and_unregister() -> None:
    k = ks()
    calls: list[Scope] = []

    async def broken(scope: Scope) -> None:
        raise RuntimeError("venue down")

    def not_even_async(scope: Scope) -> None:
        raise RuntimeError("sync failure")

    async def good(scope: Scope) -> None:
        calls.append(scope)

    k.on_halt(broken)
    k.on_halt(not_even_async)  # type: ignore[arg-type]
    unregister = k.on_halt(good)
    await k.halt(Scope.venue("htx"), "x", "ops")
    assert calls == [Scope.venue("htx")]
    assert k.check(BTC, "htx") is RejectReason.HALTED_VENUE
    # Repeating a halt keeps the first record and runs the callbacks again (cancels retried).
    again = await k.halt(Scope.venue("htx"), "second try", "bob")
    assert again.reason == "x" and again.by == "ops"
    assert calls == [Scope.venue("htx")] * 2
    unregister()
    unregister()
    await k.halt(Scope.ALL, "x", "ops")
    assert calls == [Scope.venue("htx")] * 2


async def test_kill_switch_mid_route_cancels_working_children_and_stops_new_ones() -> None:
    """A toy router: sends children one by one, checking the switch before each; the switch trips mid-route."""
    k = ks()
    working: dict[str, str] = {}  # child id -> venue
    cancelled: list[str] = []
    sent: list[str] = []
    halted_at = asyncio.Event()

    async def cancel_children(scope: Scope) -> None:
        for child, venue in list(working.items()):
            if scope.covers(BTC, venue):
                await asyncio.sleep(0)  # the venue cancel call
                cancelled.append(child)
                del working[child]

    k.on_halt(cancel_children)

    async def route() -> RejectReason | None:
        for i, venue in enumerate(["binance", "kraken", "htx", "binance", "kraken"]):
            reason = k.check(BTC, venue)
            if reason is not None:
                return reason
            child = f"c{i}"
            sent.append(child)
            working[child] = venue
            if i == 1:
                halted_at.set()
            await asyncio.sleep(0.01)  # the toy router's simulated wait for fills, during which the switch trips
        return None

    async def operator() -> None:
        await halted_at.wait()
        await k.halt(Scope.symbol(BTC), "desk pulled the plug", "ops")

    result, _ = await asyncio.gather(route(), operator())
    assert result is RejectReason.HALTED_SYMBOL
    assert sent == ["c0", "c1"]
    assert sorted(cancelled) == ["c0", "c1"] and working == {}


# -- anomaly rule ------------------------------------------------------------------------------------


async def test_anomaly_trips_only_above_the_limit_within_the_window() -> None:
    k = ks(AnomalyRule(D(5), 10.0))
    assert await k.observe_mid(BTC, D(100), 0) is None
    assert await k.observe_mid(BTC, D(105), 5 * S) is None  # exactly 5 %: not more than 5 %
    assert k.check(BTC) is None
    halt = await k.observe_mid(BTC, D("105.01"), 10 * S)  # 5.01 % within exactly 10 s: the window includes its start
    assert halt is not None and halt.by == "anomaly" and halt.at_ns == 10 * S
    assert halt.scope == Scope.symbol(BTC)
    assert halt.reason == "BTC/USDT mid moved +5.01% from 100 to 105.01 in 10 s (limit 5% in 10 s)"
    assert k.check(BTC) is RejectReason.HALTED_SYMBOL and k.check(ETH) is None
    assert await k.observe_mid(BTC, D(200), 11 * S) is None  # already halted: no second halt


async def test_anomaly_same_move_spread_over_longer_time_does_not_trip() -> None:
    k = ks(AnomalyRule(D(5), 10.0))
    assert await k.observe_mid(BTC, D(100), 0) is None
    assert await k.observe_mid(BTC, D("105.01"), 10 * S + 1) is None  # one nanosecond too slow
    # A steady climb of 2 % every 6 s: 6 % over 12 s, never more than 5 % within 10 s.
    k2 = ks(AnomalyRule(D(5), 10.0))
    for i, mid in enumerate(["100", "102", "104.04", "106.1208"]):
        assert await k2.observe_mid(ETH, D(mid), i * 6 * S) is None
    assert k2.check(ETH) is None


async def test_anomaly_falls_and_per_symbol_windows() -> None:
    k = ks(AnomalyRule(D("2.5"), 1.5))
    await k.observe_mid(BTC, D(100), 0)
    await k.observe_mid(ETH, D(10), 0)
    assert await k.observe_mid(ETH, D("9.75"), S) is None  # -2.5 %: at the limit
    halt = await k.observe_mid(BTC, D("97.49"), S)  # -2.51 % from the window's high
    assert halt is not None and "-2.51%" in halt.reason and "in 1 s" in halt.reason
    assert k.check(ETH) is None


async def test_resume_forgets_the_window() -> None:
    k = ks(AnomalyRule(D(5), 10.0))
    await k.observe_mid(BTC, D(100), 0)
    assert await k.observe_mid(BTC, D(110), S) is not None
    assert k.resume(Scope.symbol(BTC))
    assert await k.observe_mid(BTC, D("110.5"), 2 * S) is None  # the old 100 is forgotten
    assert k.check(BTC) is None


async def test_manual_symbol_halt_is_not_replaced_by_anomaly() -> None:
    k = ks(AnomalyRule(D(1), 10.0))
    await k.halt(Scope.symbol(BTC), "manual", "alice")
    await k.observe_mid(BTC, D(100), 0)
    assert await k.observe_mid(BTC, D(200), S) is None
    assert k.halts()[0].by == "alice"


async def test_no_rule_no_anomaly_and_out_of_order_ignored() -> None:
    k = ks()
    assert await k.observe_mid(BTC, D(1), 0) is None and await k.observe_mid(BTC, D(1000), 1) is None
    d = AnomalyDetector(AnomalyRule(D(5), 10.0))
    assert d.observe(BTC, D(100), 5 * S) is None
    assert d.observe(BTC, D(200), 4 * S) is None  # older than the last: ignored
    assert d.observe(BTC, D(104), 6 * S) is None
    with pytest.raises(ValueError, match="positive"):
        d.observe(BTC, D(0), 7 * S)


def test_rule_validation_and_settings() -> None:
    with pytest.raises(ValueError, match="max_move_pct"):
        AnomalyRule(D(0), 1.0)
    with pytest.raises(ValueError, match="max_move_pct"):
        AnomalyRule(5.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window_s"):
        AnomalyRule(D(5), 0)
    assert AnomalyRule(D(5), 0.1).window_ns == 100_000_000
    assert AnomalyRule.from_settings(Settings()) == AnomalyRule(D(10), 10.0)
    assert AnomalyRule.from_settings(Settings(kill_anomaly_move_pct=D("2.5"), kill_anomaly_window_s=3)) == AnomalyRule(
        D("2.5"), 3.0
    )
    assert AnomalyRule.from_settings(Settings(kill_anomaly_move_pct=None)) is None


def _naive(events: list[tuple[int, D]], pct: D, window_ns: int) -> list[bool]:
    out = []
    for i, (t, mid) in enumerate(events):
        out.append(any(t - tj <= window_ns and abs(mid - mj) * 100 > mj * pct for tj, mj in events[:i]))
    return out


@given(
    steps=st.lists(
        st.tuples(
            st.one_of(st.integers(0, 4 * S), st.sampled_from([0, S // 2, S, 3 * S])),
            st.one_of(
                st.integers(995, 1005).map(lambda i: D(i) / 10),
                st.decimals(min_value=D("90"), max_value=D("110"), places=2),
            ),
        ),
        min_size=1,
        max_size=60,
    ),
    pct=st.sampled_from([D("0.1"), D("0.25"), D("0.5"), D("1"), D("5")]),
    window_s=st.sampled_from([0.5, 1.0, 3.0, 10.0]),
)
@example(steps=[(0, D("100.5")), (S, D("100")), (S, D("100.6"))], pct=D("0.5"), window_s=10.0)  # low from 2nd
@example(steps=[(0, D("100.0")), (S, D("100.1")), (S, D("99.8"))], pct=D("0.25"), window_s=10.0)  # high from 2nd
@example(
    steps=[(0, D("100")), (S, D("90")), (S, D("100")), (S, D("100.3"))], pct=D("0.25"), window_s=1.5
)  # evicted low
@settings(max_examples=300)
def test_window_matches_naive_recomputation(steps: list[tuple[int, D]], pct: D, window_s: float) -> None:
    rule = AnomalyRule(pct, window_s)
    detector = AnomalyDetector(rule)
    events: list[tuple[int, D]] = []
    t = 0
    for dt, mid in steps:
        t += dt
        events.append((t, mid))
    got = [detector.observe(BTC, mid, at) is not None for at, mid in events]
    assert got == _naive(events, pct, rule.window_ns)


# -- the reason table ----------------------------------------------------------------------------------


def test_reason_table_is_complete_and_stage_prefixed() -> None:
    for reason in RejectReason:
        assert reason in BINANCE_ERRORS
        assert reason.stage in ("RISK", "HALTED", "ROUTER", "VENUE_REJECT")
    assert RejectReason.VENUE_REJECT_OTHER.stage == "VENUE_REJECT"
    assert RejectReason.HALTED_VENUE.is_halt and not RejectReason.RISK_OPEN_ORDERS.is_halt
    from internal_book.errors import RejectReason as MatchingReason

    for reason in MatchingReason:  # the matching engine's reasons answer from the same table
        assert reason in BINANCE_ERRORS
    assert error_of(MatchingReason.MATCHING_BAD_PRECISION, "price") == (
        -1111,
        "Parameter 'price' has too much precision.",
    )
    assert not {r.value for r in RejectReason} & {r.value for r in MatchingReason}


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (RejectReason.RISK_MAX_NOTIONAL, ccxt.InvalidOrder),
        (RejectReason.RISK_PRICE_COLLAR, ccxt.InvalidOrder),
        (RejectReason.RISK_OPEN_ORDERS, ccxt.InvalidOrder),
        (RejectReason.RISK_NO_REFERENCE_PRICE, ccxt.InvalidOrder),
        (RejectReason.HALTED_ALL, ccxt.InvalidOrder),
        (RejectReason.HALTED_SYMBOL, ccxt.InvalidOrder),
        (RejectReason.HALTED_VENUE, ccxt.InvalidOrder),
        (RejectReason.ROUTER_NO_LIQUIDITY, ccxt.InvalidOrder),
        (RejectReason.ROUTER_SLIPPAGE, ccxt.InvalidOrder),
        (RejectReason.ROUTER_MARKET_PROTECTION, ccxt.InvalidOrder),
        (RejectReason.VENUE_REJECT_INSUFFICIENT_BALANCE, ccxt.InsufficientFunds),
        (RejectReason.VENUE_REJECT_RATE_LIMITED, ccxt.RateLimitExceeded),
    ],
)
def test_ccxt_maps_the_payload(reason: RejectReason, expected: type[Exception]) -> None:
    payload = Rejection(reason, "symbol BTC/USDT by ops: test").as_binance()
    body = json.dumps(payload)
    with pytest.raises(expected):
        ccxt.binance().handle_errors(
            400, "Bad Request", "https://api.binance.com/api/v3/order", "POST", {}, body, payload, {}, ""
        )
