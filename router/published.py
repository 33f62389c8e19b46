"""The book Braid publishes to clients: the consolidated book, never crossed and never locked.

Venues quote independently, so the merged book is often crossed: during a dislocation one venue's bid sits above
another's ask (bid 43012.81 > ask 43012.40). No Binance client expects that, so what the API publishes (REST
``depth``, ``bookTicker``, the depth and bookTicker streams) goes through one rule first:

**Netting.** Walk the best bid against the best ask. While the bid is at or above the ask, the overlapping
quantity ``min(bid qty, ask qty)`` is what the router would take crossing the two (buy on the cheap venue, sell
on the dear one), so it comes off both levels; a level left with nothing leaves the book. The walk stops at the
first bid strictly below the first ask. Levels deeper than the overlap are untouched, so the published book is
the consolidated book with the crossed part netted out.

Two books can be published (``BRAID_API_PUBLISHED_BOOK``):

- ``netted`` (the default): venue prices as quoted, netted as above.
- ``fee_inclusive``: each venue's taker fee folded into its prices (bids get ``p * (1 - fee)``, asks
  ``p * (1 + fee)``: what a seller receives and a buyer pays), rounded outward to the 8 decimals Binance
  prints (bids down, asks up; levels meeting on one price are added together), then netted the same way,
  because fees rarely cover a whole dislocation.

Braid's own resting client orders are added at their prices before netting. The per-venue raw view (every
venue's levels, crossed or not) stays on the operator status page (``/book``, ``/``).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

from router.consolidated import ConsolidatedBook

PublishedBook = Literal["netted", "fee_inclusive"]
Levels = list[tuple[Decimal, Decimal]]  # (price, qty), best first
_ZERO = Decimal(0)
_EIGHT = Decimal("1e-8")
_MARGIN = 32  # extra levels fetched per side, so that netting a crossed top still leaves ``n`` levels


def net_crossed(bids: Levels, asks: Levels) -> tuple[Levels, Levels]:
    """Net the overlap of a crossed or locked book (both sides best first); returns new lists, bid < ask."""
    bi = ai = 0
    bq = bids[0][1] if bids else _ZERO
    aq = asks[0][1] if asks else _ZERO
    while bi < len(bids) and ai < len(asks) and bids[bi][0] >= asks[ai][0]:
        take = min(bq, aq)
        bq -= take
        aq -= take
        if bq <= 0:
            bi += 1
            bq = bids[bi][1] if bi < len(bids) else _ZERO
        if aq <= 0:
            ai += 1
            aq = asks[ai][1] if ai < len(asks) else _ZERO
    out_b = ([(bids[bi][0], bq)] + bids[bi + 1 :]) if bi < len(bids) else []
    out_a = ([(asks[ai][0], aq)] + asks[ai + 1 :]) if ai < len(asks) else []
    return out_b, out_a


def _add(levels: Levels, extra: dict[Decimal, Decimal], bids: bool) -> Levels:
    merged: dict[Decimal, Decimal] = {}
    for p, q in levels:
        merged[p] = merged.get(p, _ZERO) + q
    for p, q in extra.items():
        merged[p] = merged.get(p, _ZERO) + q
    return sorted(merged.items(), reverse=bids)


def _rounded(levels: Levels, bids: bool) -> Levels:
    """Prices to 8 decimals, outward (bids down, asks up); levels landing on one price are added together."""
    rounding = ROUND_FLOOR if bids else ROUND_CEILING
    out: dict[Decimal, Decimal] = {}
    for p, q in levels:
        key = p.quantize(_EIGHT, rounding=rounding)
        out[key] = out.get(key, _ZERO) + q
    return sorted(out.items(), reverse=bids)


def published_levels(
    book: ConsolidatedBook,
    n: int,
    mode: PublishedBook = "netted",
    *,
    own_bids: dict[Decimal, Decimal] | None = None,
    own_asks: dict[Decimal, Decimal] | None = None,
    now_ns: int | None = None,
) -> tuple[Levels, Levels]:
    """The best ``n`` levels a side that the API may publish: never crossed, never locked (see the module)."""
    fees = mode == "fee_inclusive"
    bids: Levels = [(lv.price, lv.qty) for lv in book.bids(n + _MARGIN, fee_adjusted=fees, now_ns=now_ns)]
    asks: Levels = [(lv.price, lv.qty) for lv in book.asks(n + _MARGIN, fee_adjusted=fees, now_ns=now_ns)]
    if fees:
        bids, asks = _rounded(bids, True), _rounded(asks, False)
    if own_bids:
        bids = _add(bids, own_bids, True)
    if own_asks:
        asks = _add(asks, own_asks, False)
    bids, asks = net_crossed(bids, asks)
    return bids[:n], asks[:n]
