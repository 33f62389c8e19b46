"""The exact L2 book against a plain Decimal model: random messages, scales, exponents, bad levels."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.book import L2Book, VenueBook
from connectors.numbers import format_units, to_units, units_to_decimal

# Decimal text in the spellings venues use: fixed decimals, bare integers, exponent form.
decimals = st.builds(lambda m, e: D(m).scaleb(-e), st.integers(1, 10**12), st.integers(0, 12))


def spell(d: D, style: int) -> str:
    if style == 0:
        return f"{d:f}"
    if style == 1:
        return f"{d:.12f}"  # padded with zeros
    return f"{d:E}"  # exponent form, as HTX sends small values


level = st.tuples(decimals, st.one_of(st.just(D(0)), decimals), st.integers(0, 2))
message = st.tuples(st.lists(level, max_size=12), st.lists(level, max_size=12))


def model_apply(model: dict[D, D], levels) -> None:
    for p, q, _ in levels:
        if q == 0:
            model.pop(p, None)
        else:
            model[p] = q


def as_decimal(book: L2Book, side: str) -> list[tuple[D, D]]:
    rows = book.bids() if side == "bids" else book.asks()
    return [(units_to_decimal(p, book.price_scale), units_to_decimal(q, book.qty_scale)) for p, q in rows]


@settings(max_examples=300, deadline=None)
@given(st.lists(message, max_size=25), st.integers(0, 8), st.integers(0, 8))
def test_book_equals_decimal_model(messages, price_scale, qty_scale):
    book = L2Book(price_scale, qty_scale)
    bids: dict[D, D] = {}
    asks: dict[D, D] = {}
    for b, a in messages:
        book.apply([[spell(p, s), spell(q, s)] for p, q, s in b], [[spell(p, s), spell(q, s)] for p, q, s in a])
        model_apply(bids, b)
        model_apply(asks, a)
        assert as_decimal(book, "bids") == sorted(bids.items(), reverse=True)
        assert as_decimal(book, "asks") == sorted(asks.items())
        top = book.top()
        if bids:
            best = max(bids)
            assert (units_to_decimal(top[0], book.price_scale), units_to_decimal(top[1], book.qty_scale)) == (
                best,
                bids[best],
            )
        else:
            assert top[0] is None and top[1] is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(level, min_size=1, max_size=10),
    st.integers(0, 9),
    st.sampled_from(["x", "-1", "", "1e", "1..2", " 1", "NaN"]),
)
def test_a_bad_level_anywhere_leaves_the_book_untouched(levels, position, bad):
    book = L2Book(2, 2)
    book.load([["100", "1"], ["99.5", "2"]], [["101", "3"]])
    before = (book.bids(), book.asks(), book.price_scale, book.qty_scale)
    msg = [[spell(p, s), spell(q, s)] for p, q, s in levels]
    msg.insert(min(position, len(msg)), ["100", bad] if position % 2 else [bad, "1"])
    with pytest.raises((ValueError, TypeError)):
        book.apply(msg, [])
    assert (book.bids(), book.asks(), book.price_scale, book.qty_scale) == before


@pytest.mark.parametrize(
    "level, error",
    [
        (["1.5", 2.0], TypeError),  # binary float
        ([1.5, "2"], TypeError),
        (["1.5", True], TypeError),
        (["1.5"], TypeError),
        ("1.5", TypeError),
        (["0", "1"], ValueError),  # price must be positive
        (["1" + "0" * 40, "1"], ValueError),  # out of range
        (["1e-30", "1"], ValueError),  # more decimals than any book holds
    ],
)
def test_rejected_values(level, error):
    book = L2Book()
    with pytest.raises(error):
        book.apply([level])
    assert book.bid_count == 0


def test_scale_grows_without_changing_held_values():
    book = L2Book(2, 2)
    book.apply([["100.25", "1.5"]], [["101", "2"]])
    book.apply([["9.121E-7", "26.75597395914065"]])
    assert book.price_scale == 10 and book.qty_scale == 14
    assert as_decimal(book, "bids") == [(D("100.25"), D("1.5")), (D("9.121E-7"), D("26.75597395914065"))]
    assert as_decimal(book, "asks") == [(D("101"), D("2"))]


def test_ints_and_decimals_are_exact_too():
    book = L2Book()
    book.apply([[D("0.1"), 3], [D("1E+3"), D("0.000001")]])
    assert as_decimal(book, "bids") == [(D("1000"), D("0.000001")), (D("0.1"), D("3"))]


def test_truncate_keeps_the_best_levels_and_copy_is_independent():
    book = L2Book(0, 0)
    book.load([[str(p), "1"] for p in range(1, 11)], [[str(p), "1"] for p in range(11, 21)])
    clone = book.copy()
    book.truncate(3)
    assert [p for p, _ in book.bids()] == [10, 9, 8]
    assert [p for p, _ in book.asks()] == [11, 12, 13]
    assert clone.bid_count == 10 and clone.ask_count == 10
    assert book.bids(2, 1) == [(9, 1), (8, 1)]


def test_load_replaces_and_failed_load_keeps_the_old_book():
    book = L2Book(2, 2)
    book.load([["1", "1"]], [["2", "1"]])
    with pytest.raises(ValueError):
        book.load([["5", "1"], ["bad", "1"]], [])
    assert book.bids() == [(100, 100)]
    book.load([["3", "1"]], [])
    assert book.bids() == [(300, 100)] and book.asks() == []


def test_venue_book_json_uses_exact_strings():
    vb = VenueBook("binance", "BTC/USDT", "BTCUSDT", 8, 8)
    vb.levels.load([["0.35130000", "6195.00000000"]], [["0.35290000", "10968.00000000"]])
    vb.update_id = 7
    assert vb.to_json(5) == {
        "venue": "binance",
        "symbol": "BTC/USDT",
        "update_id": 7,
        "bids": [["0.35130000", "6195.00000000"]],
        "asks": [["0.35290000", "10968.00000000"]],
    }


@given(st.integers(-(10**30), 10**30), st.integers(0, 18))
def test_units_round_trip(units, scale):
    text = format_units(units, scale)
    assert to_units(text, scale) == units
    assert units_to_decimal(units, scale) == D(text)
