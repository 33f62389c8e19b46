"""Router scenarios with fixed books, fees and inventories, each with its exact expected split and fills."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from connectors.numbers import plain
from domain import OrderSide, OrderType, TimeInForce
from internal_book import NewOrder
from router.inventory import Inventory
from router.killswitch import KillSwitch, Scope
from router.paper import PaperVenue
from router.report import ParentOrder
from tests.router.conftest import SYMBOL, Market, instrument


def parent(
    pid: str, side: str, qty: str, price: str | None = None, tif: str = "IOC", order_type: str = "LIMIT"
) -> ParentOrder:
    return ParentOrder(
        pid, SYMBOL, side, D(qty), order_type, None if price is None else D(price), tif, "broker", "alice"
    )  # type: ignore[arg-type]


def fills(report) -> list[tuple[str, str, str]]:
    """(source, price, qty) with numbers written plainly, so that 100.00 and 100 compare equal."""
    return [(f.source, str(plain(f.price)), str(plain(f.qty))) for f in report.fills]


def rest_internal(m: Market, side: OrderSide, qty: str, price: str, account: str = "bob") -> None:
    m.engine.submit(
        NewOrder(SYMBOL, account, side, OrderType.LIMIT, D(qty), D(price), TimeInForce.GTC, tenant="broker")
    )


async def test_internal_cross_fills_against_another_client_without_venue_fee(three_venues):
    m = three_venues
    rest_internal(m, OrderSide.SELL, "1", "100.05")  # venues would charge 100.1 (binance 100 + 0.1%) for 1
    report = await m.router.execute(parent("p1", "BUY", "1", "101"))
    assert fills(report) == [("internal", "100.05", "1")]
    assert report.status == "FILLED" and report.fees == 0
    assert all(v.placed == 0 for v in m.venues.values())


async def test_internal_blocked_when_it_would_trade_through_the_venues(three_venues):
    m = three_venues
    rest_internal(m, OrderSide.SELL, "1", "100.20")  # worse than binance's 100.1 effective
    report = await m.router.execute(parent("p2", "BUY", "1", "101"))
    assert fills(report) == [("binance", "100", "1")]
    assert report.by_source["binance"] == (D("1"), D("100"), D("0.1"))
    assert m.engine.best_prices(SYMBOL)[1] == D("100.20")  # the internal order is still resting


async def test_sweep_across_three_venues_and_its_report(three_venues):
    m = three_venues
    report = await m.router.execute(parent("p3", "BUY", "3", "101"))
    assert fills(report) == [
        ("binance", "100", "1"),
        ("kraken", "100.2", "0.5"),
        ("kraken", "100.5", "0.5"),
        ("htx", "100.1", "1"),
    ]
    assert report.status == "FILLED" and report.rounds == 1
    assert report.arrival_mid == D("99.75")  # best bid 99.5 (kraken), best ask 100.00 (binance)
    fees = D("100") * D("0.001") + D("100.35") * D("0.0026") + D("100.10") * D("0.002")
    assert report.fees == fees
    effective = (D("300.45") + fees) / 3
    assert report.effective_price == effective
    # best single venue for 3 at arrival: kraken alone 0.5@100.2 + 2.5@100.5 = 301.35 (* 1.0026)
    single = D("301.35") * D("1.0026") / 3
    assert (report.best_single_venue, report.best_single_venue_price) == ("kraken", single)
    assert report.improvement_bps == (single - effective) / single * 10_000
    assert report.improvement_bps > 37


async def test_fee_adjusted_order_beats_raw_price_order():
    m = Market({"binance": ([], [["100.00", "1"]]), "kraken": ([], [["99.95", "1"]])})
    report = await m.router.execute(parent("p4", "BUY", "1", "101"))
    assert fills(report) == [("binance", "100", "1")]  # 100.1 effective beats kraken's 100.2099


async def test_min_notional_and_lot_step_rounding():
    m = Market(
        {"binance": ([], [["100.00", "0.555"], ["102.00", "5"]]), "htx": ([], [["100.50", "0.05"], ["101.00", "5"]])},
        instruments={
            "binance": instrument("binance", step="0.01"),
            "htx": instrument("htx", step="0.01", min_notional="10"),
        },
    )
    report = await m.router.execute(parent("p5", "BUY", "0.6", "103"))
    # htx's 0.04 would be worth 4.02 < 10: the whole 0.6 goes to binance, rounded to its 0.01 lot
    assert fills(report) == [("binance", "100", "0.555"), ("binance", "102", "0.045")]
    assert m.venues["htx"].placed == 0


async def test_inventory_caps_a_venue():
    m = Market(
        {"binance": ([], [["100.00", "5"]]), "kraken": ([], [["101.00", "5"]])},
    )
    m.router.inventory = Inventory({"binance": {"USDT": D("50")}})
    report = await m.router.execute(parent("p6", "BUY", "1", "102"))
    # 50 / (100 * 1.001) = 0.4995 -> 0.499 at the 0.001 lot; the rest on kraken
    assert fills(report) == [("binance", "100", "0.499"), ("kraken", "101", "0.501")]
    assert m.router.inventory.free("binance", "USDT") == D("50") - D("49.9") - D("0.0499")


async def test_partial_fill_is_rerouted_to_the_next_venue():
    m = Market({"binance": ([], [["100.00", "1"]]), "kraken": ([], [["100.20", "1"]])})
    # someone else took 0.6 of binance's 1 just before us; the mirrored book has not updated yet
    m.venues["binance"]._consumed[(SYMBOL, True)] = (1, {D("100.00"): D("0.6")})
    report = await m.router.execute(parent("p7", "BUY", "1", "101"))
    assert fills(report) == [("binance", "100", "0.4"), ("kraken", "100.2", "0.6")]
    assert report.rounds == 2 and report.status == "FILLED"


async def test_venue_timeout_is_reconciled_without_a_double_fill():
    m = Market({"binance": ([], [["100.00", "2"]]), "kraken": ([], [["100.50", "2"]])})
    m.venues["binance"].faults = ["lost_answer"]  # fills, but the answer never reaches us
    report = await m.router.execute(parent("p8", "BUY", "1", "101"))
    assert fills(report) == [("binance", "100", "1")]
    assert m.venues["binance"].placed == 1 and m.venues["kraken"].placed == 0
    assert report.in_doubt_qty == 0 and report.status == "FILLED"


async def test_fok_fills_completely_or_not_at_all(three_venues):
    m = three_venues
    report = await m.router.execute(parent("p9", "BUY", "10", "101", tif="FOK"))  # 7.5 displayed within 101
    assert report.status == "EXPIRED" and report.filled == 0
    assert report.reject_code == -2010 and "could not be filled in full" in report.reject_msg
    assert all(v.placed == 0 for v in m.venues.values())
    report = await m.router.execute(parent("p10", "BUY", "3", "101", tif="FOK"))
    assert report.status == "FILLED" and report.filled == 3


async def test_kill_switch_mid_route_stops_routing_and_rejects_new_orders():
    ks = KillSwitch()
    m = Market({"binance": ([], [["100.00", "1"]]), "kraken": ([], [["100.20", "1"]])}, latency_s=0.05, killswitch=ks)
    m.venues["binance"]._consumed[(SYMBOL, True)] = (1, {D("100.00"): D("0.6")})  # round 1 comes back short
    cancels: list[str] = []
    original_cancel = m.venues["binance"].cancel

    async def spy_cancel(symbol, cid):
        cancels.append(cid)
        return await original_cancel(symbol, cid)

    m.venues["binance"].cancel = spy_cancel  # type: ignore[method-assign]
    in_flight = asyncio.Event()
    original_place = m.venues["binance"].place

    async def spy_place(order):
        in_flight.set()
        return await original_place(order)

    m.venues["binance"].place = spy_place  # type: ignore[method-assign]
    task = asyncio.create_task(m.router.execute(parent("p11", "BUY", "1", "101", tif="GTC")))
    await asyncio.wait_for(in_flight.wait(), 5)  # round 1 is in flight (the venue's 50 ms latency)
    await ks.halt(Scope.symbol(SYMBOL), "operator test", "ops")
    report = await task
    assert cancels  # the working child was cancelled
    assert fills(report) == [("binance", "100", "0.4")]  # no second round, and nothing rests while halted
    assert report.status == "EXPIRED" and report.resting_qty == 0
    refused = await m.router.execute(parent("p12", "BUY", "1", "101"))
    assert refused.status == "REJECTED" and refused.reject_code == -2010
    assert refused.reject_msg == "Trading is halted for symbol BTC/USDT by ops: operator test."


async def test_gtc_remainder_rests_internally_and_is_routed_out_when_venues_move_through_it():
    m = Market({"binance": ([], [["100.00", "1"]]), "kraken": ([], [["101.00", "1"]])})
    report = await m.router.execute(parent("p13", "BUY", "2", "100.10", tif="GTC"))
    assert fills(report) == [("binance", "100", "1")]
    assert report.status == "PARTIALLY_FILLED" and report.resting_qty == 1
    assert m.engine.best_prices(SYMBOL)[0] == D("100.10")
    assert await m.router.sweep_resting() == []  # nothing on the venues within the limit yet
    m.update("binance", asks=[["100.00", "0"], ["99.90", "3"]])
    assert await m.router.sweep_resting() == ["p13"]
    final = m.router.report("p13")
    assert fills(final)[-1] == ("binance", "99.9", "1")
    assert final.status == "FILLED" and final.resting_qty == 0
    assert m.engine.best_prices(SYMBOL)[0] is None


async def test_resting_remainder_filled_by_another_client_internally():
    m = Market({"binance": ([], [["100.00", "1"]])})
    await m.router.execute(parent("p14", "BUY", "2", "100.00", tif="GTC"))
    report = await m.router.execute(
        ParentOrder("p15", SYMBOL, "SELL", D("0.4"), "LIMIT", D("99"), "IOC", "broker", "carol")
    )
    assert fills(report) == [("internal", "100", "0.4")]
    resting = m.router.report("p14")
    assert resting.resting_qty == D("0.6") and fills(resting)[-1] == ("internal", "100", "0.4")


async def test_market_order_is_bounded_by_the_protection_band():
    m = Market({"binance": ([["99.00", "1"]], [["100.00", "1"], ["100.90", "1"], ["101.50", "5"]])})
    # mid 99.5; default band 100 bps -> a buy may pay up to 100.495
    report = await m.router.execute(parent("p16", "BUY", "3", order_type="MARKET"))
    assert fills(report) == [("binance", "100", "1")]
    assert report.status == "EXPIRED" and report.filled == 1


async def test_a_retried_parent_id_never_routes_twice(three_venues):
    m = three_venues
    first = await m.router.execute(parent("p17", "BUY", "1", "101"))
    again = await m.router.execute(parent("p17", "BUY", "1", "101"))
    assert first == again and m.venues["binance"].placed == 1


async def test_pre_trade_risk_refuses_with_a_clear_error_and_routes_nothing(three_venues):
    from router.risk import PreTradeRisk, RiskLimits

    m = three_venues
    m.router.risk = PreTradeRisk(RiskLimits(max_order_notional=D("250"), collar_bps=D("100"), max_open_orders=5))
    big = await m.router.execute(parent("r1", "BUY", "3", "100.5"))  # 301.5 > 250
    assert big.status == "REJECTED" and big.reject_code == -2010
    assert big.reject_msg == "Order would exceed the maximum notional for this symbol."
    far = await m.router.execute(parent("r2", "BUY", "1", "101"))  # mid 99.75, collar 1% -> at most 100.7475
    assert far.status == "REJECTED" and (far.reject_code, far.reject_msg) == (
        -1013,
        "Filter failure: PERCENT_PRICE_BY_SIDE",
    )
    assert all(v.placed == 0 for v in m.venues.values())


async def test_desk_policy_limits_venues_and_overrides_fees():
    from config.policy import parse_policies

    m = Market({"binance": ([], [["100.00", "1"]]), "kraken": ([], [["99.95", "1"]]), "htx": ([], [["99.90", "1"]])})
    m.router.policies = parse_policies('[default]\nvenues = ["binance", "kraken"]\n[default.fees]\nkraken = "0.0001"\n')
    report = await m.router.execute(parent("d1", "BUY", "1", "101"))
    # htx is not allowed; with kraken's fee overridden to 1 bp its 99.95 * 1.0001 beats binance's 100.1
    assert fills(report) == [("kraken", "99.95", "1")]
    assert m.venues["htx"].placed == 0


async def test_price_anomaly_halts_the_symbol():
    from router.killswitch import AnomalyRule

    ks = KillSwitch(AnomalyRule(D("5"), 10.0))
    m = Market({"binance": ([["99.00", "1"]], [["101.00", "1"]])}, killswitch=ks)
    await m.router.on_market()
    m.clock_ns += 2_000_000_000
    m.update(
        "binance", bids=[["99.00", "0"], ["110.00", "1"]], asks=[["101.00", "0"], ["112.00", "1"]]
    )  # mid 100 -> 111
    await m.router.on_market()
    refused = await m.router.execute(parent("a1", "BUY", "1", "112"))
    assert refused.status == "REJECTED" and refused.reject_msg.startswith(
        "Trading is halted for symbol BTC/USDT by anomaly"
    )


async def test_paper_venue_reports_its_balances_and_the_inventory_reads_them():
    # the paper venue's holdings once hid its balances() method, so a refresh logged a failure instead
    m = Market({"binance": ([], [["100.00", "5"]])})
    venue = PaperVenue("binance", lambda s: m.books["binance"], balances={"USDT": D("1000")})
    assert await venue.balances() == {"USDT": (D("1000"), D("0"))}
    inventory = Inventory({})
    await inventory.refresh([venue])
    assert inventory.free("binance", "USDT") == D("1000")
