"""Planning time: a parent order that sweeps 20 levels across 3 venues of 1000 levels each.

Braid's integer planner (router/planner.py) against the plain-Decimal oracle with the same rules
(router/reference_planner.py), on the same books, in one run. There is no published Python smart order
router to install as a peer (hummingbot's and nautilus' routers are not usable as libraries), so the
oracle stands in. Prints p50 and p99 over 10,000 plans. Target: p99 <= 100 us.

    .venv/bin/python benchmarks/routing.py [--plans 10000]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.instruments import Instrument
from connectors.book import L2Book
from router.planner import VenueTerms, plan
from router.reference_planner import reference_plan

VENUES = (("binance", 2, "0.001", "0.00001"), ("kraken", 1, "0.0026", "0.00000001"), ("htx", 2, "0.002", "0.000001"))


def build(seed: int = 5) -> tuple[dict[str, L2Book], dict[str, VenueTerms], Decimal]:
    rnd = random.Random(seed)
    books, terms = {}, {}
    for i, (venue, scale, fee, step) in enumerate(VENUES):
        tick = Decimal(1).scaleb(-scale)
        # mids offset by the fee gap, so that fee-adjusted prices interleave and the sweep uses all venues
        mid = (Decimal("30000") * Decimal("1.001") / (1 + Decimal(fee))).quantize(tick)
        asks = [[str(mid + tick * (k + 1)), f"{Decimal(rnd.randint(1, 4000)) / 10000}"] for k in range(1000)]
        bids = [[str(mid - tick * (k + 1)), f"{Decimal(rnd.randint(1, 4000)) / 10000}"] for k in range(1000)]
        b = L2Book()
        b.load(bids, asks)
        books[venue] = b
        inst = Instrument("BTC/USDT", "BTC", "USDT", venue, "X", tick, Decimal(step), min_notional=Decimal("5"))
        terms[venue] = VenueTerms(inst, Decimal(fee), i, available=Decimal("10000000"))
    # size the parent so that the merged walk takes 20 levels
    rows = sorted(
        (Decimal(p) * (1 + terms[v].fee), Decimal(q))
        for v, b in books.items()
        for p, q in [(a[0], a[1]) for a in _asks(b)]
    )
    qty = sum((q for _, q in rows[:20]), Decimal(0))
    return books, terms, qty


def _asks(b: L2Book) -> list[tuple[str, str]]:
    return [(str(Decimal(p).scaleb(-b.price_scale)), str(Decimal(q).scaleb(-b.qty_scale))) for p, q in b.asks(40)]


def measure(fn, n: int) -> list[int]:
    samples = []
    gc.disable()
    try:
        for _ in range(n):
            t = time.perf_counter_ns()
            fn()
            samples.append(time.perf_counter_ns() - t)
    finally:
        gc.enable()
    return sorted(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plans", type=int, default=10_000)
    ap.add_argument("--oracle-plans", type=int, default=200)
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one core")
    args = ap.parse_args()
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        core = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})  # one core, as the router's task runs on one; less scheduler noise
        print(f"pinned to core {core}")
    books, terms, qty = build()
    ours = plan("BUY", qty, books, terms)
    ref = reference_plan("BUY", qty, books, terms)
    assert ours == ref, "planner and oracle disagree"
    print(
        f"parent: buy {qty} BTC/USDT over 3 venues x 1000 levels; plan: "
        + ", ".join(f"{c.venue} {c.qty} @<= {c.limit_price}" for c in ours.children)
    )
    figures = {}
    for name, fn, n in (
        ("braid planner (integers)", lambda: plan("BUY", qty, books, terms), args.plans),
        ("decimal oracle (same rules)", lambda: reference_plan("BUY", qty, books, terms), args.oracle_plans),
    ):
        s = measure(fn, n)
        figures[name] = (s[len(s) // 2] / 1000, s[int(len(s) * 0.99)] / 1000)
        print(f"  {name:30s} p50 {figures[name][0]:9.1f} us   p99 {figures[name][1]:9.1f} us   ({n} plans)")
    (b50, b99), (o50, _) = figures.values()
    print(f"braid p99 {b99:.1f} us (target <= 100 us); oracle/braid at p50: {o50 / b50:.0f}x")


if __name__ == "__main__":
    main()
