"""The obviously-correct planner: the same rules as ``planner.plan`` in plain Decimal arithmetic.

Slow on purpose; it is the oracle for the planner's property tests and the peer in benchmarks/routing.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal

from connectors.book import L2Book
from connectors.numbers import plain, units_to_decimal
from domain import OrderSide
from router.planner import ChildPlan, Plan, VenueTerms


def reference_plan(
    side: OrderSide,
    qty: Decimal,
    books: Mapping[str, L2Book],
    terms: Mapping[str, VenueTerms],
    *,
    limit_price: Decimal | None = None,
    max_level_share: Decimal = Decimal(1),
    max_child_notional: Decimal | None = None,
) -> Plan:
    buy = side == "BUY"
    venues = [v for v in books if v in terms]
    qs = max((max(books[v].qty_scale, terms[v].instrument.qty_decimals) for v in venues), default=0)
    step = Decimal(1).scaleb(-qs)
    dropped: list[tuple[str, str]] = []
    while True:
        rows = []
        for v in venues:
            b = books[v]
            fee = terms[v].fee
            for pu, qu in b.asks() if buy else b.bids():
                price = units_to_decimal(pu, b.price_scale)
                eff = price * (1 + fee) if buy else price * (1 - fee)
                rows.append((eff if buy else -eff, terms[v].priority, v, price, units_to_decimal(qu, b.qty_scale)))
        rows.sort()
        left = qty.quantize(step, rounding=ROUND_FLOOR)  # finer than any scale in play cannot be planned
        taken: dict[str, list[tuple[Decimal, Decimal]]] = {}
        spent: dict[str, Decimal] = {v: Decimal(0) for v in venues}
        for _, _, v, price, q in rows:
            if left <= 0:
                break
            if limit_price is not None and ((buy and price > limit_price) or (not buy and price < limit_price)):
                continue
            t = terms[v]
            take = min((q * max_level_share).quantize(step, rounding=ROUND_FLOOR), left)
            if t.available is not None:
                room = t.available - spent[v]
                take = min(take, (room / (price * (1 + t.fee))).quantize(step, rounding=ROUND_FLOOR) if buy else room)
            if max_child_notional is not None:
                used = sum((p * x for p, x in taken.get(v, [])), Decimal(0))
                take = min(take, ((max_child_notional - used) / price).quantize(step, rounding=ROUND_FLOOR))
            if take <= 0:
                continue
            taken.setdefault(v, []).append((price, take))
            spent[v] += take * price * (1 + t.fee) if buy else take
            left -= take
        children, too_small = [], []
        for v in sorted(venues, key=lambda v: (terms[v].priority, v)):
            if v not in taken:
                continue
            inst = terms[v].instrument
            levels = taken[v]
            total = sum((x for _, x in levels), Decimal(0))
            cut = total % inst.step_size if inst.step_size else Decimal(0)
            while cut > 0:
                p, x = levels[-1]
                back = min(x, cut)
                cut -= back
                levels[-1] = (p, x - back)
                if levels[-1][1] == 0:
                    levels.pop()
            total = sum((x for _, x in levels), Decimal(0))
            notional = sum((p * x for p, x in levels), Decimal(0))
            worst = levels[-1][0] if levels else Decimal(0)
            if total <= 0 or (inst.min_qty and total < inst.min_qty):
                too_small.append((v, "below minimum quantity after rounding to the lot step"))
                continue
            if inst.min_notional and total * worst < inst.min_notional:
                too_small.append((v, "below minimum notional"))
                continue
            children.append(ChildPlan(v, plain(total), plain(worst), notional, notional * terms[v].fee))
        if not too_small:
            return Plan(side, qty, tuple(children), tuple(dropped))
        dropped += too_small
        gone = {v for v, _ in too_small}
        venues = [v for v in venues if v not in gone]
