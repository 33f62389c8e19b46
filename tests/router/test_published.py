"""The netting rule of the published book, on arbitrary books (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from router.published import net_crossed

_prices = st.integers(min_value=9_900, max_value=10_100).map(lambda u: Decimal(u) / 100)
_qtys = st.integers(min_value=1, max_value=5_000).map(lambda u: Decimal(u) / 1000)
_side = st.dictionaries(_prices, _qtys, max_size=12)


@given(_side, _side)
def test_netting_leaves_bid_below_ask_and_takes_the_same_quantity_off_both_sides(raw_bids, raw_asks) -> None:
    bids = sorted(raw_bids.items(), reverse=True)
    asks = sorted(raw_asks.items())
    out_b, out_a = net_crossed(bids, asks)
    if out_b and out_a:
        assert out_b[0][0] < out_a[0][0]
    assert all(q > 0 for _, q in out_b + out_a)
    netted_b = sum(q for _, q in bids) - sum(q for _, q in out_b)
    netted_a = sum(q for _, q in asks) - sum(q for _, q in out_a)
    assert netted_b == netted_a >= 0  # the router's crossing trade: what one side gives, the other takes
    # Only the crossed top changes: every published level but the first of a side is a level as it was.
    assert out_b[1:] == bids[len(bids) - len(out_b) + 1 :]
    assert out_a[1:] == asks[len(asks) - len(out_a) + 1 :]
    if bids and asks and bids[0][0] < asks[0][0]:
        assert (out_b, out_a) == (bids, asks)  # an uncrossed book is published as it is


def test_a_locked_book_is_netted_too() -> None:
    b, a = net_crossed([(Decimal(100), Decimal(2))], [(Decimal(100), Decimal(1)), (Decimal(101), Decimal(1))])
    assert b == [(Decimal(100), Decimal(1))] and a == [(Decimal(101), Decimal(1))]
