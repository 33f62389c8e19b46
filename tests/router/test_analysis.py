"""Routing quality on the shipped generated market: numbers checked by hand, reports byte for byte."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path

import pytest

from connectors.replay import Replayer
from router.analysis import FlowOrder, analyse, generate_flow, load_flow, write_flow
from router.analysis_render import write_report
from router.consolidated import ConsolidatedMarket
from router.report import ParentOrder

DATA = Path(__file__).resolve().parents[2] / "replay_data" / "generated" / "seed1"
START = 1767225600000000000
S = 1_000_000_000
# The desk policy of these checks: internalisation off (the parents must meet the venues, not each other) and
# one fee everywhere, so that the venues' prices interleave and a parent really splits.
FEES = {"binance": D("0.001"), "kraken": D("0.001"), "htx": D("0.0012")}


def books_at(ts_ns: int) -> dict[str, tuple[list[tuple[D, D]], list[tuple[D, D]]]]:
    """Each venue's BTC/USDT book at ``ts_ns``, read from an independent replay."""
    market = ConsolidatedMarket()
    r = Replayer([DATA], market=market)
    r.run_until(ts_ns)
    return {f.venue: (f.books["BTC/USDT"].bids(), f.books["BTC/USDT"].asks()) for f in r.feeds}


STEPS = {"binance": D("0.00001"), "kraken": D("0.00000001"), "htx": D("0.000001")}  # exchangeInfo, AssetPairs, symbols


def by_hand(side: str, qty: D, books, limit: D) -> list[tuple[str, D, D]]:
    """Take the best fee-adjusted levels across venues within the limit, then cut each venue's total down to
    its lot step, giving the excess back from that venue's worst level (the router's documented rule)."""
    rows = []
    for venue, (bids, asks) in books.items():
        for price, avail in asks if side == "BUY" else bids:
            eff = price * (1 + FEES[venue]) if side == "BUY" else price * (1 - FEES[venue])
            rows.append((eff if side == "BUY" else -eff, venue, price, avail))
    rows.sort()
    out, left = [], qty
    for _, venue, price, avail in rows:
        if left <= 0 or (side == "BUY" and price > limit) or (side == "SELL" and price < limit):
            continue
        take = min(avail, left)
        out.append((venue, price, take))
        left -= take
    for venue, step in STEPS.items():
        mine = [i for i, row in enumerate(out) if row[0] == venue]
        excess = sum(out[i][2] for i in mine) % step
        for i in reversed(mine):
            back = min(excess, out[i][2])
            out[i] = (venue, out[i][1], out[i][2] - back)
            excess -= back
    return [row for row in out if row[2] > 0]


@pytest.fixture(scope="module")
def hand_checked():
    t1, t2 = START + 61 * S, START + 150 * S
    flow = [
        FlowOrder(t1, ParentOrder("h1", "BTC/USDT", "BUY", D("3"), "MARKET", None, "IOC")),
        FlowOrder(t2, ParentOrder("h2", "BTC/USDT", "SELL", D("1.5"), "LIMIT", D("1"), "IOC")),
    ]
    from config.policy import PolicySet, RoutingPolicy

    policy = RoutingPolicy(internalise=False, fees=FEES)
    analysis = asyncio.run(analyse([DATA], flow, policies=PolicySet(policy, {}), paper_fees=FEES))
    return analysis, {t1: books_at(t1), t2: books_at(t2)}


def test_fills_and_report_numbers_match_a_hand_computation(hand_checked):
    analysis, books = hand_checked
    for fo, report in analysis.runs:
        b = books[fo.ts_ns]
        best_bid, best_ask = (
            max(max(p for p, _ in v[0]) for v in b.values()),
            min(min(p for p, _ in v[1]) for v in b.values()),
        )
        mid = (best_bid + best_ask) / 2
        assert report.arrival_mid == mid
        limit = fo.parent.price if fo.parent.price is not None else mid * (D(1) + D(100) / 10_000)
        expected = by_hand(fo.parent.side, fo.parent.qty, b, limit)
        got = [(f.source, f.price, f.qty) for f in report.fills]
        assert sorted(got) == sorted(expected)
        # what the lot steps cut off is smaller than any venue's minimum, so it expires
        short = fo.parent.qty - sum(q for _, _, q in expected)
        assert D(0) <= short < D("0.00001")
        assert report.filled == fo.parent.qty - short
        assert report.status == ("FILLED" if short == 0 else "EXPIRED")
        notional = sum(p * q for _, p, q in expected)
        fees = sum(p * q * FEES[v] for v, p, q in expected)
        assert report.fees == fees
        filled = fo.parent.qty - short
        eff = (notional + fees) / filled if fo.parent.side == "BUY" else (notional - fees) / filled
        assert report.effective_price == eff
        sign = 1 if fo.parent.side == "BUY" else -1
        assert report.slippage_bps == sign * (eff - mid) / mid * 10_000
    # the sell really splits across venues
    assert {f.source for f in analysis.runs[1][1].fills} == {"binance", "kraken"}


def test_same_inputs_give_the_same_report_byte_for_byte(tmp_path):
    flow = generate_flow(["BTC/USDT", "ETH/USDT"], START + 5 * S, START + 295 * S, 12, seed=4)
    outs = []
    for n in (1, 2):
        analysis = asyncio.run(analyse([DATA], flow, depth_at=[START + 100 * S]))
        outs.append(write_report(analysis, tmp_path / f"run{n}"))
    assert sorted(outs[0]) == sorted(outs[1])
    assert {"report.html", "report.json", "parents.csv", "fills.csv", "improvement.png", "venue_share.png"} <= set(
        outs[0]
    )
    for name in outs[0]:
        assert outs[0][name].read_bytes() == outs[1][name].read_bytes(), name
    html = outs[0]["report.html"].read_text()
    assert "data:image/png;base64," in html and "<script" not in html  # self-contained


def test_flow_csv_round_trip_and_dataframes(tmp_path):
    flow = generate_flow(["BTC/USDT"], START + 10 * S, START + 20 * S, 3, seed=9)
    write_flow(flow, tmp_path / "flow.csv")
    assert load_flow(tmp_path / "flow.csv") == flow
    analysis = asyncio.run(analyse([DATA], flow))
    frames = analysis.frames_pandas()
    assert list(frames["parents"]["parent_id"]) == ["flow-00001", "flow-00002", "flow-00003"]
    assert frames["fills"]["qty"].sum() == sum(r.filled for _, r in analysis.runs)
    (tmp_path / "bad.csv").write_text("time_ns,parent_id\n1,x\n")
    with pytest.raises(ValueError, match="missing columns"):
        load_flow(tmp_path / "bad.csv")


def test_braid_replay_with_a_flow_writes_the_report(tmp_path, capfd):
    from gateway.cli import main

    flow = generate_flow(["BTC/USDT"], START + 30 * S, START + 60 * S, 4, seed=2)
    write_flow(flow, tmp_path / "flow.csv")
    assert (
        main(
            [
                "replay",
                str(DATA),
                "--flow",
                str(tmp_path / "flow.csv"),
                "--report",
                str(tmp_path / "out"),
                "--no-progress",
            ]
        )
        == 0
    )
    lines = capfd.readouterr().out.splitlines()
    assert lines[0].startswith('{"filled_parents":4') and len(lines) == 5
    assert (tmp_path / "out" / "report.html").stat().st_size > 10_000
