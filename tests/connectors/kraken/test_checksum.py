"""Kraken CRC32: the documented vectors (venue-protocols.md §2.3, §2.4) and the v2 precision trap."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors._l2book import L2Book
from connectors.kraken.checksum import (
    book_checksum,
    book_checksum_py,
    checksum_of_decimals,
    checksum_of_strings,
    strip_level_text,
)
from connectors.numbers import loads_exact
from tests.connectors.kraken.conftest import FIXTURES

BTC_BIDS = [
    ("45283.5", "0.10000000"), ("45283.4", "1.54582015"), ("45282.1", "0.10000000"), ("45281.0", "0.10000000"),
    ("45280.3", "1.54592586"), ("45279.0", "0.07990000"), ("45277.6", "0.03310103"), ("45277.5", "0.30000000"),
    ("45277.3", "1.54602737"), ("45276.6", "0.15445238"),
]  # fmt: skip
BTC_ASKS = [
    ("45285.2", "0.00100000"), ("45286.4", "1.54571953"), ("45286.6", "1.54571109"), ("45289.6", "1.54560911"),
    ("45290.2", "0.15890660"), ("45291.8", "1.54553491"), ("45294.7", "0.04454749"), ("45296.1", "0.35380000"),
    ("45297.5", "0.09945542"), ("45299.5", "0.18772827"),
]  # fmt: skip
V1_ASKS = [
    (p, "0.00000500")
    for p in ("0.05005 0.05010 0.05015 0.05020 0.05025 0.05030 0.05035 0.05040 0.05045 0.05050").split()
]
V1_BIDS = [
    (p, "0.00000500")
    for p in ("0.05000 0.04995 0.04990 0.04980 0.04975 0.04970 0.04965 0.04960 0.04955 0.04950").split()
]


def _book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> L2Book:
    book = L2Book(0, 0)
    book.load([list(x) for x in bids], [list(x) for x in asks])
    return book


def test_strip_removes_dot_and_leading_zeros() -> None:
    assert strip_level_text("45285.2") == "452852"
    assert strip_level_text("0.00100000") == "100000"


def test_v2_doc_vector_btc_usd() -> None:
    assert checksum_of_strings(BTC_ASKS, BTC_BIDS) == 3310070434
    assert book_checksum(_book(BTC_BIDS, BTC_ASKS), 1, 8) == 3310070434


def test_v1_doc_vector() -> None:
    assert checksum_of_strings(V1_ASKS, V1_BIDS) == 974947235
    # The book stores "0.00000500" as 0.000005: the wire decimals (5 price, 8 qty) must be put back.
    book = _book(V1_BIDS, V1_ASKS)
    assert book.qty_scale < 8
    assert book_checksum(book, 5, 8) == 974947235


def test_v2_matic_precision_trap_uses_pair_precision() -> None:
    msg = loads_exact((FIXTURES / "ws_book_v2_matic_snapshot.json").read_text())
    item = msg["data"][0]
    bids = [[lvl["price"], lvl["qty"]] for lvl in item["bids"]]
    asks = [[lvl["price"], lvl["qty"]] for lvl in item["asks"]]
    assert bids[6] == [Decimal("0.566"), Decimal("18097.1547")]  # trailing zeros dropped on the wire
    # The raw JSON text gives the wrong answer ...
    raw = checksum_of_strings([(str(p), str(q)) for p, q in asks], [(str(p), str(q)) for p, q in bids])
    assert raw == 3830085102 != item["checksum"]
    # ... values re-formatted to the pair's precision (price 4 dp, qty 8 dp) give the documented one.
    assert checksum_of_decimals([(p, q) for p, q in asks], [(p, q) for p, q in bids], 4, 8) == 2439117997
    book = L2Book(0, 0)
    book.load(bids, asks)
    assert book_checksum(book, 4, 8) == item["checksum"] == 2439117997


def test_v2_matic_update_vector() -> None:
    snap = loads_exact((FIXTURES / "ws_book_v2_matic_snapshot.json").read_text())["data"][0]
    upd = loads_exact((FIXTURES / "ws_book_v2_matic_update.json").read_text())["data"][0]
    book = L2Book(0, 0)
    book.load([[x["price"], x["qty"]] for x in snap["bids"]], [[x["price"], x["qty"]] for x in snap["asks"]])
    book.apply([[x["price"], x["qty"]] for x in upd["bids"]], [])
    assert book_checksum(book, 4, 8) == upd["checksum"] == 2114181697


def test_checksum_covers_only_top_ten_levels() -> None:
    deep_bids = BTC_BIDS + [("45000.0", "9.00000000")]
    deep_asks = BTC_ASKS + [("46000.0", "9.00000000")]
    assert book_checksum(_book(deep_bids, deep_asks), 1, 8) == 3310070434


def test_book_scale_larger_than_wire_decimals_is_cut_back() -> None:
    book = _book(BTC_BIDS, BTC_ASKS)
    book.apply([["1.000000001", "1"]], [["99999.000000001", "1"]])  # widens the scale, far from the top
    book.apply([["1.000000001", "0"]], [["99999.000000001", "0"]])
    assert book.price_scale > 1
    assert book_checksum(book, 1, 8) == 3310070434


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.integers(1, 10**9), st.integers(1, 10**12), max_size=15),
    st.dictionaries(st.integers(1, 10**9), st.integers(1, 10**12), max_size=15),
    st.integers(0, 8),
    st.integers(0, 10),
    st.integers(0, 8),
    st.integers(0, 10),
)
def test_compiled_checksum_equals_the_python_rule(bids, asks, ps, pdp, qs, qdp):
    book = L2Book()
    book.load(
        [[f"{p}E-{ps}", f"{q}E-{qs}"] for p, q in bids.items()],
        [[f"{p + 10**9}E-{ps}", f"{q}E-{qs}"] for p, q in asks.items()],
    )
    assert book_checksum(book, pdp, qdp) == book_checksum_py(book, pdp, qdp)
