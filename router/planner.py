"""Split a quantity across venues by fee-adjusted price: the pure core of the smart order router.

The walk runs on integers: every venue's levels are brought to one price scale with its taker fee
folded in (ask * (1 + fee) for a buy, bid * (1 - fee) for a sell), merged best first, and taken within
each venue's share cap, inventory and child-notional cap. Children are then rounded down to the venue's
lot step; a venue whose child would fall below its minimum quantity or notional is dropped and the walk
is redone without it, so its share goes to the next best venue. Ties go to the venue priority.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from config.instruments import Instrument, decimals_of
from connectors.book import L2Book
from connectors.numbers import (
    ceil_units,
    config_units,
    floor_units,
    plain,
    units_to_decimal,
)
from domain import OrderSide

_CHUNK = 24  # levels fetched per venue at first; most sweeps stay within them


@dataclass(frozen=True, slots=True)
class VenueTerms:
    """What the planner needs to know about one venue for one symbol."""

    instrument: Instrument  # tick, lot step, minimum quantity and notional on that venue
    fee: Decimal  # taker fee rate
    priority: int = 0  # lower wins a tie at equal effective price
    available: Decimal | None = None  # inventory there: quote for a buy, base for a sell; None = unlimited


@dataclass(frozen=True, slots=True)
class ChildPlan:
    venue: str
    qty: Decimal
    limit_price: Decimal  # the worst raw price taken on that venue: the child's IOC limit
    notional: Decimal  # sum of price * qty over the levels taken (before fees)
    fee: Decimal  # expected taker fee on that notional

    @property
    def effective_price(self) -> Decimal:
        """Average price with the fee folded in."""
        sign = 1 if self.fee >= 0 else -1
        return (self.notional + sign * abs(self.fee)) / self.qty if self.qty else Decimal(0)


@dataclass(frozen=True, slots=True)
class Plan:
    side: OrderSide
    requested: Decimal
    children: tuple[ChildPlan, ...]
    dropped: tuple[tuple[str, str], ...] = field(default=())  # (venue, why) left out after rounding

    @property
    def planned_qty(self) -> Decimal:
        return sum((c.qty for c in self.children), Decimal(0))

    @property
    def unplanned_qty(self) -> Decimal:
        return self.requested - self.planned_qty


def plan(
    side: OrderSide,
    qty: Decimal,
    books: Mapping[str, L2Book],
    terms: Mapping[str, VenueTerms],
    *,
    limit_price: Decimal | None = None,
    max_level_share: Decimal = Decimal(1),
    max_child_notional: Decimal | None = None,
) -> Plan:
    """Children that take ``qty`` at the best fee-adjusted prices the venues display now."""
    venues = [v for v in books if v in terms]
    # one quantity scale for every walk: finer than any scale in play cannot be planned, even once the venue
    # that brought the finest scale has been dropped
    qs = max((max(books[v].qty_scale, terms[v].instrument.qty_decimals) for v in venues), default=0)
    dropped: list[tuple[str, str]] = []
    while True:
        children, too_small = _walk(
            side, qty, qs, books, terms, venues, limit_price, max_level_share, max_child_notional
        )
        if not too_small:
            return Plan(side, qty, tuple(children), tuple(dropped))
        dropped += too_small
        gone = {v for v, _ in too_small}
        venues = [v for v in venues if v not in gone]


def _walk(
    side: OrderSide,
    qty: Decimal,
    qs: int,
    books: Mapping[str, L2Book],
    terms: Mapping[str, VenueTerms],
    venues: list[str],
    limit_price: Decimal | None,
    share: Decimal,
    max_child_notional: Decimal | None,
) -> tuple[list[ChildPlan], list[tuple[str, str]]]:
    if not venues or qty <= 0:
        return [], []
    buy = side == "BUY"
    fee_dp = max(decimals_of(terms[v].fee) for v in venues)
    share_dp = decimals_of(share)
    ps = max(books[v].price_scale for v in venues)
    one, share_one = 10**fee_dp, 10**share_dp
    share_units = config_units(share, share_dp)
    want = floor_units(qty, qs)
    # a limit between two representable prices: a buy may pay up to it, a sell accept down to it
    limit = None if limit_price is None else (floor_units if buy else ceil_units)(limit_price, ps)
    order = sorted(venues, key=lambda v: (terms[v].priority, v))

    per_venue = []
    for v in order:
        t = terms[v]
        fee = config_units(t.fee, fee_dp)
        avail = t.available
        if avail is None:
            budget = None
        elif buy:  # quote inventory, at scale ps + qs + fee_dp
            budget = floor_units(avail, ps + qs + fee_dp)
        else:
            budget = floor_units(avail, qs)
        per_venue.append(
            (
                v,
                one + fee if buy else one - fee,
                10 ** (ps - books[v].price_scale),
                10 ** (qs - books[v].qty_scale),
                budget,
            )
        )
    cap = None if max_child_notional is None else floor_units(max_child_notional, ps + qs)

    # Walk the first levels of each venue; only if they run out before the quantity, look deeper.
    depth = _CHUNK
    while True:
        rows: list[tuple[int, int, int, int]] = []
        horizon = None  # beyond the last fetched level of a venue that has more, the merge is unknown
        for r, (v, factor, pm, qm, _) in enumerate(per_venue):
            part = books[v].scaled(buy, depth, 0, pm, qm, factor, r)
            if len(part) == depth and (horizon is None or part[-1][0] < horizon):
                horizon = part[-1][0]
            rows += part
        rows.sort()
        taken, remaining, complete = _take(rows, per_venue, want, limit, buy, share_units, share_one, cap, horizon)
        if complete:
            break
        depth *= 4

    children: list[ChildPlan] = []
    too_small: list[tuple[str, str]] = []
    for v in order:
        if v not in taken:
            continue
        inst = terms[v].instrument
        levels = taken[v]
        q_units = sum(q for _, q in levels)
        step = config_units(inst.step_size, qs) if inst.step_size else 0
        cut = q_units % step if step else 0
        while cut:  # give back the excess from the worst levels taken
            pu, q = levels[-1]
            back = min(q, cut)
            cut -= back
            levels[-1] = (pu, q - back)
            if levels[-1][1] == 0:
                levels.pop()
        q_units = sum(q for _, q in levels)
        notional = sum(p * q for p, q in levels)
        worst = levels[-1][0] if levels else 0
        child_qty = units_to_decimal(q_units, qs)
        worst_price = units_to_decimal(worst, ps)
        child_notional = units_to_decimal(notional, ps + qs)
        if q_units <= 0 or (inst.min_qty and child_qty < inst.min_qty):
            too_small.append((v, "below minimum quantity after rounding to the lot step"))
            continue
        if inst.min_notional and child_qty * worst_price < inst.min_notional:
            too_small.append((v, "below minimum notional"))
            continue
        fee_amount = child_notional * terms[v].fee
        children.append(ChildPlan(v, plain(child_qty), plain(worst_price), child_notional, fee_amount))
    return children, too_small


def _take(
    rows: list[tuple[int, int, int, int]],
    per_venue: list[tuple[str, int, int, int, int | None]],
    want: int,
    limit: int | None,
    buy: bool,
    share_units: int,
    share_one: int,
    cap: int | None,
    horizon: int | None,
) -> tuple[dict[str, list[tuple[int, int]]], int, bool]:
    """Take merged rows best first: venue -> [(price units, qty units)], what is left, and whether the walk
    stayed within the fetched levels (False: fetch deeper and walk again)."""
    taken: dict[str, list[tuple[int, int]]] = {}
    budget = [b for *_, b in per_venue]
    used = [0] * len(per_venue)
    remaining = want
    for key, r, pu, qu in rows:
        if horizon is not None and key > horizon:
            return taken, remaining, False
        if limit is not None and ((buy and pu > limit) or (not buy and pu < limit)):
            continue  # merged by effective price: a later row of a cheaper-fee venue may still be within
        take = qu * share_units // share_one
        if take > remaining:
            take = remaining
        b = budget[r]
        if b is not None:
            factor = per_venue[r][1]
            take = min(take, b // (pu * factor) if buy else b)
        if cap is not None:
            take = min(take, max(0, cap - used[r]) // pu)
        if take <= 0:
            continue
        taken.setdefault(per_venue[r][0], []).append((pu, take))
        used[r] += take * pu
        if b is not None:
            budget[r] = b - (take * pu * per_venue[r][1] if buy else take)
        remaining -= take
        if remaining <= 0:
            break
    return taken, remaining, True
