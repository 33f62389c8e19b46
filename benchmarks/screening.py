"""Sanctions screening speed: name screenings and address checks against an SDN-sized list.

The list: the real SDN fixture (tests/compliance/fixtures/ofac) grown deterministically to about 18,000
names (primary names and aliases, as the full list has) in the fixture's shapes: individuals "LAST, First
Middle", entities of one to six words, the full list's mix of name lengths (1 part 11 %, 2: 32 %, 3: 33 %,
4: 14 %, more: 10 %), parts drawn Zipf-like from a vocabulary of ~15,000 (the fixture's own parts most often,
so ALI- or MUHAMMAD-like parts occur hundreds of times, then syllable-built ones, as often as the full list's
parts are), plus ~10,000 digital
currency addresses in the list's formats (EVM hex, base58, bech32). ``--sdn FILES`` screens a real
publication instead (SDN_ADVANCED.XML, or SDN.CSV ALT.CSV ADD.CSV with ``--published``).

Queries: the 1,000 common names of the false-positive test (clear) and 200 spellings of listed names
(token order, case, a dropped or doubled letter) (hits), in a fixed shuffled order.

Figures, in one run:
- Braid's index (``NameIndex.search``: first-letter/Soundex blocking, rapidfuzz Jaro-Winkler over the
  block, composite scoring of the candidates): screenings per second, p50/p99/max latency;
- the naive loop with the same matcher (``NameIndex.search_naive``: Jaro-Winkler of every query part against
  every part of every listed name), on a sample of the same queries; both return the same matches;
- the whole onboarding call (``Screening.screen_name``: index + the decision recorded on SQLite with
  synchronous=FULL), p50/p99;
- address checks: the dict lookup (normalise + get) per second and its latency, against a linear scan
  comparing the normalised address with every listed one.

    .venv/bin/python benchmarks/screening.py [--names 18000] [--naive-queries 60] [--sdn FILE...]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compliance import Screening, create_screening_tables, load_files, open_engine
from compliance.names import tokens
from compliance.sanctions import (
    CryptoAddress,
    ListVersion,
    SanctionsList,
    SdnEntry,
    normalise_address,
)
from compliance.screening import LoadedList
from tests.compliance.common_names import COMMON_NAMES

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "compliance" / "fixtures" / "ofac"
THRESHOLD = 0.90
LENGTHS = [1] * 11 + [2] * 32 + [3] * 33 + [4] * 14 + [5] * 6 + [6] * 4  # parts per name, full-list mix
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
B32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _syllables(vocab: list[str]) -> list[str]:
    out = set()
    for w in vocab:
        i = 0
        while i < len(w):
            j = i + 1
            while j < len(w) and w[j] not in "AEIOUY":
                j += 1
            while j < len(w) and w[j] in "AEIOUY":
                j += 1
            out.add(w[i:j])
            i = j
    return sorted(out)


def grow(base: SanctionsList, n_names: int, n_addresses: int, seed: int = 7) -> SanctionsList:
    """``base`` plus generated entries up to ``n_names`` names and ``n_addresses`` addresses."""
    rng = random.Random(seed)
    head = sorted(
        {t for e in base.entries for n in (e.name, *e.aliases) for t in tokens(n) if len(t) > 1 and t.isalpha()}
    )
    rng.shuffle(head)
    sylls = _syllables(head)
    tail: set[str] = set()
    while len(tail) < 15_000 - len(head):
        tail.add("".join(rng.choice(sylls) for _ in range(rng.choice((2, 2, 3, 3, 4)))))
    vocab = head + sorted(tail)
    # Zipf-like, fitted to the full list: its 10 / 100 / 300 / 1,000 commonest parts are 6 / 20 / 31 / 47 % of
    # all parts (these weights give 8 / 20 / 31 / 46 %)
    weights = [1 / (i + 1) ** 0.75 for i in range(len(vocab))]

    def name(kind: str) -> str:
        k = rng.choice(LENGTHS)
        parts = rng.choices(vocab, weights, k=k)
        if kind == "individual" and k >= 2:
            return f"{parts[0]}, {' '.join(p.title() for p in parts[1:])}"
        return " ".join(parts)

    def address() -> tuple[str, str]:
        r = rng.random()
        if r < 0.35:
            return "ETH", "0x" + "".join(rng.choice("0123456789abcdefABCDEF") for _ in range(40))
        if r < 0.55:
            return "XBT", "bc1q" + "".join(rng.choice(B32) for _ in range(38))
        return ("XBT" if r < 0.9 else "TRX"), rng.choice("13T") + "".join(rng.choice(B58) for _ in range(33))

    entries = list(base.entries)
    count = sum(1 + len(e.aliases) for e in entries)
    addrs = sum(len(e.addresses) for e in entries)
    uid = 900_000
    while count < n_names:
        kind = rng.choice(("individual", "individual", "entity"))
        n_alias = rng.choice((0, 0, 1, 1, 2, 3))
        names = [name(kind) for _ in range(1 + n_alias)]
        n_addr = min(rng.choice((0, 0, 1, 2, 3, 3)), max(0, n_addresses - addrs))
        adds = tuple(CryptoAddress(*address()) for _ in range(n_addr))
        entries.append(SdnEntry(uid, names[0], kind, ("GENERATED",), tuple(names[1:]), (), (), adds))
        uid += 1
        count += len(names)
        addrs += n_addr
    return SanctionsList(ListVersion("2024-05-03", "generated", "generated"), tuple(entries))


def _variants(lst: SanctionsList, n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    picks = rng.sample([e for e in lst.entries if e.kind == "individual"], n)
    out = []
    for e in picks:
        parts = e.name.replace(",", "").split()
        rng.shuffle(parts)
        text = " ".join(parts)
        i = rng.randrange(1, max(2, len(text) - 1))
        text = text[:i] + text[i + 1 :] if rng.random() < 0.5 else text[:i] + text[i] + text[i:]
        out.append(text.lower() if rng.random() < 0.3 else text)
    return out


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def _fmt_us(ns: float) -> str:
    return f"{ns / 1000:.1f} µs" if ns < 1_000_000 else f"{ns / 1e6:.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--names", type=int, default=18_000)
    ap.add_argument("--addresses", type=int, default=10_000)
    ap.add_argument("--naive-queries", type=int, default=60)
    ap.add_argument("--sdn", type=Path, nargs="+", help="screen a real publication instead of the generated list")
    ap.add_argument("--published", type=date.fromisoformat, default=date(2024, 5, 3))
    args = ap.parse_args()

    base = load_files([FIXTURE / "sdn.csv", FIXTURE / "alt.csv", FIXTURE / "add.csv"], published=date(2024, 5, 3))
    lst = load_files(args.sdn, published=args.published) if args.sdn else grow(base, args.names, args.addresses)
    t = time.perf_counter()
    loaded = LoadedList.build(1, lst)
    build_s = time.perf_counter() - t
    gc.collect()
    gc.freeze()  # the index is long-lived: keep the collector from walking it during the timings
    n_addr = sum(len(e.addresses) for e in lst.entries)
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (wall times include waiting for a CPU)"
    )
    print(
        f"list: {len(lst.entries)} entries, {len(loaded.names)} distinct names, {n_addr} addresses "
        f"({'real: ' + ' '.join(p.name for p in args.sdn) if args.sdn else 'generated from the SDN fixture'}); "
        f"index built in {build_s:.2f} s"
    )

    rng = random.Random(3)
    queries = list(COMMON_NAMES) + _variants(lst, 200)
    rng.shuffle(queries)

    # --- names: Braid's index
    for q in queries[:50]:
        loaded.names.search(q, THRESHOLD)  # warm caches
    lat: list[float] = []
    cpu: list[float] = []  # this thread's CPU time: what the wall figure is on an idle machine
    hits = 0
    t0 = time.perf_counter()
    for q in queries:
        c, s = time.thread_time_ns(), time.perf_counter_ns()
        found = loaded.names.search(q, THRESHOLD)
        lat.append(time.perf_counter_ns() - s)
        cpu.append(time.thread_time_ns() - c)
        hits += bool(found)
    idx_rate = len(queries) / (time.perf_counter() - t0)
    common_hits = sum(bool(loaded.names.search(q, THRESHOLD)) for q in COMMON_NAMES)

    # --- names: the naive loop, same matcher, a sample of the same queries
    sample = queries[:: max(1, len(queries) // args.naive_queries)][: args.naive_queries]
    naive_lat: list[float] = []
    for q in sample:
        s = time.perf_counter_ns()
        naive = loaded.names.search_naive(q, THRESHOLD)
        naive_lat.append(time.perf_counter_ns() - s)
        assert naive == loaded.names.search(q, THRESHOLD), q
    naive_rate = len(sample) / (sum(naive_lat) / 1e9)

    # --- the whole onboarding call: index + the decision recorded on SQLite (synchronous=FULL)
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{tmp}/braid.db")
        create_screening_tables(engine)
        svc = Screening(engine)
        svc.load(lst)
        full_lat: list[float] = []
        for i, q in enumerate(queries[:300]):
            s = time.perf_counter_ns()
            svc.screen_name(q, account_id=i)
            full_lat.append(time.perf_counter_ns() - s)
        engine.dispose()

    print(
        f"\nname screening, threshold {THRESHOLD}, {len(queries)} queries ({hits} hit; "
        f"{common_hits} of {len(COMMON_NAMES)} common names hit = {common_hits / len(COMMON_NAMES):.2%}):"
    )
    print(
        f"  braid index      {idx_rate:10.0f} screenings/s   p50 {_fmt_us(statistics.median(lat)):>9}   "
        f"p99 {_fmt_us(_pct(lat, 0.99)):>9}   max {_fmt_us(max(lat)):>9}"
    )
    print(
        f"  braid index CPU  {1e9 * len(cpu) / sum(cpu):10.0f} screenings/s   "
        f"p50 {_fmt_us(statistics.median(cpu)):>9}   "
        f"p99 {_fmt_us(_pct(cpu, 0.99)):>9}   max {_fmt_us(max(cpu)):>9}   (thread CPU time per query)"
    )
    print(
        f"  naive loop       {naive_rate:10.1f} screenings/s   p50 {_fmt_us(statistics.median(naive_lat)):>9}   "
        f"p99 {_fmt_us(_pct(naive_lat, 0.99)):>9}   ({len(sample)} queries, same matches)"
    )
    print(
        f"  ratio            {idx_rate / naive_rate:10.0f}x faster; p99 "
        f"{_pct(naive_lat, 0.99) / _pct(lat, 0.99):.0f}x lower"
    )
    print(
        f"  onboarding call  p50 {_fmt_us(statistics.median(full_lat))}   p99 {_fmt_us(_pct(full_lat, 0.99))}   "
        f"(index + decision, case when hit, committed to SQLite; target p99 < 5 ms)"
    )

    # --- addresses
    listed = [a.address for e in lst.entries for a in e.addresses]
    probes = [rng.choice(listed) for _ in range(50_000)]
    probes += ["0x" + "".join(rng.choice("0123456789abcdef") for _ in range(40)) for _ in range(25_000)]
    probes += ["1" + "".join(rng.choice(B58) for _ in range(33)) for _ in range(25_000)]
    rng.shuffle(probes)
    idx = loaded.addresses
    t0 = time.perf_counter_ns()
    found_n = sum(1 for p in probes if idx.lookup(p))
    per = (time.perf_counter_ns() - t0) / len(probes)
    one: list[float] = []
    for p in probes[:20_000]:
        s = time.perf_counter_ns()
        idx.lookup(p)
        one.append(time.perf_counter_ns() - s)
    normalised = [normalise_address(a) for a in listed]
    naive_probes = probes[:200]
    t0 = time.perf_counter_ns()
    for p in naive_probes:
        n = normalise_address(p)
        _ = [a for a in normalised if a == n]
    naive_per = (time.perf_counter_ns() - t0) / len(naive_probes)
    print(f"\naddress check, {len(listed)} listed, {len(probes)} probes ({found_n} listed):")
    print(
        f"  braid dict       {1e9 / per:10.0f} checks/s   mean {_fmt_us(per):>9}   p50 "
        f"{_fmt_us(statistics.median(one)):>9}   p99 {_fmt_us(_pct(one, 0.99)):>9}   (target < 10 µs)"
    )
    print(f"  naive scan       {1e9 / naive_per:10.0f} checks/s   mean {_fmt_us(naive_per):>9}")
    print(f"  ratio            {naive_per / per:10.0f}x faster")


if __name__ == "__main__":
    main()
