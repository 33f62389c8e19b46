"""The consolidated book: exact merge, fee-adjusted view, size queries, venues leaving and returning."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import FeedStats, VenueHealth
from connectors.book import VenueBook
from router import ConsolidatedBook


def venue_book(venue: str, bids, asks, price_scale: int = 2) -> VenueBook:
    book = VenueBook(venue, "BTC/USDT", "X", price_scale, 8)
    book.levels.load(bids, asks)
    book.synced = True
    return book


@pytest.fixture
def cb() -> ConsolidatedBook:
    c = ConsolidatedBook("BTC/USDT")
    c.attach(
        venue_book("binance", [["100.00", "1"], ["99.50", "2"]], [["101.00", "1"], ["102.00", "3"]]),
        fee=D("0.001"),
        priority=0,
    )
    c.attach(venue_book("kraken", [["100.0", "0.5"], ["99.9", "2"]], [["100.8", "1"]], 1), fee=D("0.0026"), priority=1)
    c.attach(venue_book("htx", [["99.90", "1"]], [["101.00", "4"]]), fee=D("0.002"), priority=2)
    return c


def test_levels_merge_across_venues_with_each_venues_share(cb):
    bids = cb.bids(3)
    assert [(lv.price, lv.qty) for lv in bids] == [(D("100"), D("1.5")), (D("99.9"), D("3")), (D("99.5"), D("2"))]
    assert bids[0].venues == (("binance", D("1")), ("kraken", D("0.5")))
    assert bids[1].venues == (("kraken", D("2")), ("htx", D("1")))  # ties listed in venue priority order
    asks = cb.asks(2)
    assert [(lv.price, lv.qty) for lv in asks] == [(D("100.8"), D("1")), (D("101"), D("5"))]


def test_fee_adjusted_view_can_reorder_venues(cb):
    # raw: kraken's 100.8 ask is best; with fees it costs 100.8 * 1.0026 = 101.06208 vs binance 101 * 1.001 = 101.101
    asks = cb.asks(3, fee_adjusted=True)
    assert [(lv.price, lv.venues[0][0]) for lv in asks] == [
        (D("101.06208"), "kraken"),
        (D("101.101"), "binance"),
        (D("101.202"), "htx"),
    ]
    bids = cb.bids(2, fee_adjusted=True)  # a seller receives bid * (1 - fee)
    assert [(lv.price, lv.venues) for lv in bids] == [
        (D("99.9"), (("binance", D("1")),)),
        (D("99.74"), (("kraken", D("0.5")),)),
    ]


def test_vwap_and_fill_by_venue(cb):
    fill = cb.fill("buy", D("1.5"), fee_adjusted=False)
    assert fill.qty == D("1.5")
    assert fill.by_venue == (("binance", D("0.5")), ("kraken", D("1")))
    assert fill.notional == D("151.3")  # 100.8 * 1 + 101 * 0.5, exactly
    assert fill.vwap == D("151.3") / D("1.5")
    assert cb.vwap("sell", D("1"), fee_adjusted=False) == D("100")
    assert cb.vwap("buy", D("100")) is None  # more than the books show
    assert cb.fill("buy", D("100"), fee_adjusted=False).qty == D("9")


def test_depth_within_bps_of_mid(cb):
    assert cb.mid() == D("100.4")
    # 50 bps of 100.4 = 0.502: bids >= 99.898, asks <= 100.902
    assert cb.depth_within_bps(50) == (D("4.5"), D("1"))
    assert cb.depth_within_bps(0) == (D("0"), D("0"))


def test_stale_or_unsynced_venues_drop_out_and_come_back():
    health = VenueHealth("kraken", stale_after_ns=1_000, stats=FeedStats(last_frame_ns=10_000))
    c = ConsolidatedBook("BTC/USDT")
    c.attach(venue_book("binance", [["100.00", "1"]], [["101.00", "1"]]))
    kraken = venue_book("kraken", [["100.5", "2"]], [["100.9", "2"]], 1)
    c.attach(kraken, health)
    assert c.live_venues(now_ns=10_500) == ["binance", "kraken"]
    assert c.bids(1, now_ns=10_500)[0].price == D("100.5")
    assert c.live_venues(now_ns=11_500) == ["binance"]  # last frame 1.5 us old, limit 1 us
    assert c.bids(1, now_ns=11_500)[0].price == D("100")
    health.stats.last_frame_ns = 11_400
    assert c.live_venues(now_ns=11_500) == ["binance", "kraken"]
    kraken.synced = False  # resyncing
    assert c.live_venues(now_ns=11_500) == ["binance"]


book_side = st.dictionaries(st.integers(1, 500), st.integers(1, 10**6), max_size=30)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(book_side, book_side, st.integers(0, 4), st.integers(0, 30)), min_size=1, max_size=3),
    st.booleans(),
    st.integers(1, 15),
)
def test_merge_equals_a_naive_decimal_merge(venues, fee_adjusted, n):
    """Random books at different scales and fees: top N equals the obvious Decimal computation."""
    c = ConsolidatedBook("X/Y")
    naive_bids: dict[D, dict[str, D]] = {}
    naive_asks: dict[D, dict[str, D]] = {}
    for i, (bids, asks, scale, fee_bp) in enumerate(venues):
        name = f"v{i}"
        fee = D(fee_bp) / 10_000
        tick = D(1).scaleb(-scale)
        bid_levels = [[str(p * tick), str(D(q).scaleb(-4))] for p, q in bids.items()]
        ask_levels = [[str((p + 600) * tick), str(D(q).scaleb(-4))] for p, q in asks.items()]
        book = VenueBook(name, "X/Y", "X", 0, 0)
        book.levels.load(bid_levels, ask_levels)
        book.synced = True
        c.attach(book, fee=fee, priority=i)
        for levels, naive, sign in ((bid_levels, naive_bids, -1), (ask_levels, naive_asks, 1)):
            for p, q in levels:
                eff = D(p) * (1 + sign * fee) if fee_adjusted else D(p)
                naive.setdefault(eff, {})[name] = D(q)
    for side, naive, reverse in (("bids", naive_bids, True), ("asks", naive_asks, False)):
        got = c.top(n, side, fee_adjusted=fee_adjusted)
        want = sorted(naive.items(), reverse=reverse)[:n]
        assert [lv.price for lv in got] == [p for p, _ in want]
        assert [dict(lv.venues) for lv in got] == [v for _, v in want]
        assert [lv.qty for lv in got] == [sum(v.values()) for _, v in want]
