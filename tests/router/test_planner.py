"""The planner: exact splits for fixed books, fees and inventories, and agreement with the Decimal oracle."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from config.instruments import Instrument
from connectors.book import L2Book
from router.planner import VenueTerms, plan
from router.reference_planner import reference_plan


def inst(
    venue: str, tick: str = "0.01", step: str = "0.001", min_qty: str = "0", min_notional: str = "0"
) -> Instrument:
    return Instrument(
        "BTC/USDT", "BTC", "USDT", venue, "X", D(tick), D(step), min_qty=D(min_qty), min_notional=D(min_notional)
    )


def book(bids, asks) -> L2Book:
    b = L2Book()
    b.load(bids, asks)
    return b


def split(p) -> list[tuple[str, str, str]]:
    return [(c.venue, str(c.qty), str(c.limit_price)) for c in p.children]


BOOKS = {
    "binance": book([["99.00", "1"]], [["100.00", "1"], ["101.00", "2"]]),
    "kraken": book([["99.5", "1"]], [["100.2", "0.5"], ["100.5", "3"]]),
    "htx": book([["99.20", "1"]], [["100.10", "1"]]),
}
TERMS = {
    "binance": VenueTerms(inst("binance"), D("0.001"), 0),
    "kraken": VenueTerms(inst("kraken", "0.1", "0.0001"), D("0.0026"), 1),
    "htx": VenueTerms(inst("htx", step="0.01"), D("0.002"), 2),
}


def test_sweep_across_three_venues():
    # effective asks: binance 100.1, htx 100.3002, kraken 100.46052, kraken 100.7613, binance 101.101
    p = plan("BUY", D("3"), BOOKS, TERMS)
    assert split(p) == [("binance", "1", "100"), ("kraken", "1", "100.5"), ("htx", "1", "100.1")]
    assert p.unplanned_qty == 0
    assert [c.notional for c in p.children] == [D("100"), D("100.35"), D("100.1")]


def test_fee_adjusted_order_beats_raw_price_order():
    books = {"binance": book([], [["100.00", "1"]]), "kraken": book([], [["99.95", "1"]])}
    terms = {
        "binance": VenueTerms(inst("binance"), D("0.001"), 0),
        "kraken": VenueTerms(inst("kraken"), D("0.0026"), 1),
    }
    # raw: kraken 99.95 < binance 100; with fees: binance 100.1 < kraken 100.20987
    assert split(plan("BUY", D("1"), books, terms)) == [("binance", "1", "100")]
    # selling, the receiver's view: binance 99*0.999=98.901 vs kraken 99.2*0.9974=98.94208 -> kraken
    books = {"binance": book([["99.00", "1"]], []), "kraken": book([["99.20", "1"]], [])}
    assert split(plan("SELL", D("1"), books, terms)) == [("kraken", "1", "99.2")]


def test_tie_goes_to_venue_priority():
    books = {"a": book([], [["100", "1"]]), "b": book([], [["100", "1"]])}
    terms = {"a": VenueTerms(inst("a"), D("0.001"), 1), "b": VenueTerms(inst("b"), D("0.001"), 0)}
    assert split(plan("BUY", D("1"), books, terms)) == [("b", "1", "100")]


def test_lot_step_rounding_and_min_notional_move_the_rest_elsewhere():
    books = {
        "binance": book([], [["100.00", "0.555"], ["102.00", "5"]]),
        "htx": book([], [["100.50", "0.05"], ["101.00", "5"]]),
    }
    terms = {
        "binance": VenueTerms(inst("binance", step="0.01"), D("0.001"), 0),
        "htx": VenueTerms(inst("htx", step="0.01", min_notional="10"), D("0.001"), 1),
    }
    # 0.6: binance 0.555 @100 then htx 0.045 @100.5; rounding: binance 0.55, htx 0.04 -> 4.02 < 10: htx dropped
    p = plan("BUY", D("0.6"), books, terms)
    assert split(p) == [("binance", "0.6", "102")]
    assert p.dropped == (("htx", "below minimum notional"),)
    assert p.children[0].notional == D("100") * D("0.555") + D("102") * D("0.045")


def test_inventory_caps_each_venue():
    books = {"binance": book([], [["100.00", "5"]]), "kraken": book([], [["101.0", "5"]])}
    terms = {
        "binance": VenueTerms(inst("binance"), D("0.001"), 0, available=D("50")),  # 50 USDT there
        "kraken": VenueTerms(inst("kraken"), D("0.001"), 1),
    }
    p = plan("BUY", D("1"), books, terms)
    # 50 / (100 * 1.001) = 0.4995..., lot 0.001 -> 0.499; the rest goes to kraken
    assert split(p) == [("binance", "0.499", "100"), ("kraken", "0.501", "101")]
    sell_terms = {"binance": VenueTerms(inst("binance"), D("0.001"), 0, available=D("0.2"))}  # 0.2 BTC there
    sells = plan("SELL", D("1"), {"binance": book([["99.00", "5"]], [])}, sell_terms)
    assert split(sells) == [("binance", "0.2", "99")]
    assert sells.unplanned_qty == D("0.8")


def test_level_share_cap_child_notional_cap_and_limit_price():
    books = {"binance": book([], [["100.00", "1"], ["101.00", "1"], ["103.00", "9"]])}
    terms = {"binance": VenueTerms(inst("binance"), D("0"), 0)}
    assert split(plan("BUY", D("5"), books, terms, max_level_share=D("0.5"))) == [("binance", "5", "103")]
    p = plan("BUY", D("5"), books, terms, max_level_share=D("0.5"), limit_price=D("101.5"))
    assert split(p) == [("binance", "1", "101")] and p.unplanned_qty == D("4")
    p = plan("BUY", D("5"), books, terms, max_child_notional=D("150"))
    assert split(p) == [("binance", "1.495", "101")]  # 100 + 0.495 * 101 = 149.995 <= 150


def test_nothing_to_plan():
    assert plan("BUY", D("1"), {}, TERMS).children == ()
    assert plan("BUY", D("1"), {"binance": book([], [])}, TERMS).unplanned_qty == D("1")


level = st.tuples(st.integers(1, 60), st.integers(1, 5000))
venue = st.tuples(
    st.lists(level, max_size=12, unique_by=lambda x: x[0]),
    st.integers(0, 30),  # fee in bps
    st.sampled_from(["0.001", "0.01", "0.1"]),  # lot step
    st.sampled_from(["0", "5", "50"]),  # min notional
    st.one_of(st.none(), st.integers(0, 3000)),  # inventory
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(venue, min_size=1, max_size=3),
    st.integers(1, 20000),
    st.sampled_from(["BUY", "SELL"]),
    st.sampled_from([None, "0.5", "0.25"]),
    st.one_of(st.none(), st.integers(50, 160)),
    st.one_of(st.none(), st.integers(20, 400)),
)
def test_planner_agrees_with_the_decimal_oracle(venues, qty_milli, side, share, limit, child_cap):
    books, terms = {}, {}
    for i, (levels, fee_bp, step, min_notional, inventory) in enumerate(venues):
        name = f"v{i}"
        rows = [[str(D(100) + D(p) / 10 * (1 if side == "BUY" else -1)), str(D(q) / 1000)] for p, q in levels]
        books[name] = book(rows if side == "SELL" else [], rows if side == "BUY" else [])
        terms[name] = VenueTerms(
            inst(name, "0.1", step, min_notional=min_notional),
            D(fee_bp) / 10_000,
            i % 2,
            None if inventory is None else D(inventory) / 10,
        )
    kwargs = dict(
        limit_price=None if limit is None else D(limit),
        max_level_share=D(1) if share is None else D(share),
        max_child_notional=None if child_cap is None else D(child_cap),
    )
    got = plan(side, D(qty_milli) / 1000, books, terms, **kwargs)
    want = reference_plan(side, D(qty_milli) / 1000, books, terms, **kwargs)
    assert got == want
    for c in got.children:  # every child respects its venue's rules
        inst_ = terms[c.venue].instrument
        assert c.qty % inst_.step_size == 0 and c.qty * c.limit_price >= inst_.min_notional
