"""Replay throughput: level updates/s through parse + sync + venue books, three venues merged, plus a peer.

Input: a generated market (``braid generate-market``; Binance combined ``@depth@100ms`` + REST snapshots,
Kraken WS v2 ``book`` with CRC32, HTX gzip ``mbp.150`` + REQ/REP + pings), generated here with a fixed seed
unless ``--input`` names a recording folder. The files are read and decoded first (timed apart: "load"); the
measured loop is ``Replayer.run()``: every frame of the three venues, merged by receive time, through the
venues' live feed handlers (parse, sequence / checksum check, the compiled book), with a consolidated top-10
query (bids and asks, fee-adjusted, both symbols) every ``--query-every`` frames. The consolidated book is
lazy (it merges the venue books when asked), so "into the consolidated book" means: the books it reads are
current, and it is queried along the way.

The peer runs on the same frames in the same order: each frame decoded with the venues' usual parsers (JSON
with Decimal prices, gzip for HTX) and applied to cryptofeed's ``order_book`` (Decimal keys), with the same
periodic top-10 read; it does no sequencing, no checksum, no snapshot sync. Both must end on the same books.

    .venv/bin/python benchmarks/replay.py [--seconds 120] [--seed 1] [--repeat 3] [--input DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import structlog

from connectors.capture import LineKind
from connectors.replay import Replayer
from connectors.simulators.generated import generate_market
from router.consolidated import ConsolidatedMarket

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))


def count_levels(r: Replayer) -> tuple[int, int]:
    """(frames, level updates) in the timeline: every [price, qty] of book messages and snapshots."""
    frames = levels = 0
    for _, _code, _, payload, line in r._events:  # private: the benchmark inspects the prepared timeline
        if line.kind is LineKind.HTTP:
            body = json.loads(line.payload)
            levels += len(body.get("bids", ())) + len(body.get("asks", ()))
            continue
        if line.kind is not LineKind.RECEIVED:
            continue
        frames += 1
        msg = json.loads(gzip.decompress(payload) if isinstance(payload, bytes) else payload)
        levels += _levels_in(msg)
    return frames, levels


def _levels_in(msg: object) -> int:
    if isinstance(msg, dict):
        if "data" in msg and isinstance(msg["data"], dict) and ("b" in msg["data"] or "bids" in msg["data"]):
            d = msg["data"]
            return len(d.get("b", d.get("bids", ()))) + len(d.get("a", d.get("asks", ())))
        if msg.get("channel") == "book":
            return sum(len(x.get("bids", ())) + len(x.get("asks", ())) for x in msg["data"])
        if "tick" in msg and isinstance(msg["tick"], dict):
            return len(msg["tick"].get("bids", ())) + len(msg["tick"].get("asks", ()))
        return 0
    if isinstance(msg, list):  # Kraken v1
        return sum(
            len(v) for part in msg if isinstance(part, dict) for k, v in part.items() if k in ("a", "b", "as", "bs")
        )
    return 0


def run_braid(files: list[Path], query_every: int) -> tuple[float, float, int, float, dict]:
    t = time.perf_counter()
    market = ConsolidatedMarket()
    r = Replayer(files, market=market)
    load = time.perf_counter() - t
    queries = 0
    query_s = 0.0
    frames = 0

    def query(feed: object, line: object, actions: object) -> None:
        nonlocal queries, query_s, frames
        frames += 1
        if frames % query_every:
            return
        t0 = time.perf_counter()
        for sym in ("BTC/USDT", "ETH/USDT"):
            book = market.book(sym)
            book.top(10, "bids", fee_adjusted=True, now_ns=r.now_ns)
            book.top(10, "asks", fee_adjusted=True, now_ns=r.now_ns)
        query_s += time.perf_counter() - t0
        queries += 1

    r.on_frame = query
    t = time.perf_counter()
    r.run()
    dt = time.perf_counter() - t
    for f in r.feeds:
        s = f.health.stats
        assert (s.resyncs, s.checksum_failures, s.bad_frames) == (0, 0, 0), (f.venue, s)
    books = {(f.venue, sym): (b.bids(10), b.asks(10)) for f in r.feeds for sym, b in f.books.items()}
    return dt, load, queries, query_s, books


def per_venue(seed: int, seconds: float, activity: float) -> None:
    """Each venue alone (its own generated market, same seed): where the time goes."""
    with tempfile.TemporaryDirectory() as tmp:
        for venue in ("binance", "kraken", "htx"):
            folder = Path(tmp) / venue
            generate_market(folder, seed=seed, seconds=seconds, venues=(venue,), activity=activity)
            frames, levels = count_levels(Replayer([folder]))
            best = min(_timed(folder) for _ in range(3))
            print(
                f"    {venue:8s} alone: {levels / best / 1e6:6.3f} M level updates/s,"
                f" {best / frames * 1e6:5.1f} us/frame, {levels / frames:5.1f} levels/frame"
            )


def _timed(folder: Path) -> float:
    r = Replayer([folder])
    t = time.perf_counter()
    r.run()
    return time.perf_counter() - t


def run_peer(r: Replayer, query_every: int) -> tuple[float, dict]:
    """cryptofeed's order_book fed the same frames: decode, Decimal, set/delete; no sync or checks."""
    from order_book import OrderBook
    from yapic import json as yjson  # cryptofeed's JSON parser

    books: dict[tuple[str, str], OrderBook] = {}
    names: dict[tuple[str, str], str] = {}
    for f in r.feeds:
        for sym, b in f.books.items():
            books[(f.venue, b.venue_symbol)] = OrderBook(max_depth=0)
            names[(f.venue, b.venue_symbol)] = sym
    kraken_depth = {k: 100 for k in books if k[0] == "kraken"}
    events = r._events
    loads, D = yjson.loads, Decimal

    def apply(book: OrderBook, bids, asks) -> None:
        for side, levels in ((book.bids, bids), (book.asks, asks)):
            for lv in levels:
                if isinstance(lv, dict):
                    p, q = D(lv["price"]), D(lv["qty"])
                else:
                    p, q = D(lv[0]), D(lv[1])
                if q == 0:
                    if p in side:
                        del side[p]
                else:
                    side[p] = q

    def load(book: OrderBook, bids, asks) -> None:
        for side in (book.bids, book.asks):
            for p in list(side.keys()):
                del side[p]
        apply(book, bids, asks)

    n = 0
    t = time.perf_counter()
    for _ts, _, feed, payload, line in events:
        n += 1
        if n % query_every == 0:
            for ob in books.values():  # the same cadence of top-of-book reads
                ob.bids.index(0) if len(ob.bids) else None
                ob.asks.index(0) if len(ob.asks) else None
        venue = feed[0] if isinstance(feed, tuple) else feed.venue
        if line.kind is LineKind.HTTP:
            body = loads(line.payload, parse_float=D)
            load(books[(venue, feed[1])], body["bids"], body["asks"])
            continue
        if line.kind is not LineKind.RECEIVED:
            continue
        if isinstance(payload, bytes):
            msg = loads(gzip.decompress(payload), parse_float=D)
            if "tick" in msg:
                apply(books[("htx", msg["ch"].split(".")[1])], msg["tick"]["bids"], msg["tick"]["asks"])
            elif "rep" in msg:
                load(books[("htx", msg["rep"].split(".")[1])], msg["data"]["bids"], msg["data"]["asks"])
            continue
        msg = loads(payload, parse_float=D)
        if "stream" in msg:
            d = msg["data"]
            key = ("binance", d["s"])
            apply(books[key], d["b"], d["a"])  # no U/u bridging: the snapshot order in the file does the job
        elif msg.get("channel") == "book":
            for item in msg["data"]:
                key = ("kraken", item["symbol"])
                ob = books[key]
                (load if msg["type"] == "snapshot" else apply)(ob, item["bids"], item["asks"])
                for side in (ob.bids, ob.asks):  # Kraken: keep the subscribed depth
                    while len(side) > kraken_depth[key]:
                        del side[side.index(len(side) - 1)[0]]
    dt = time.perf_counter() - t
    out = {}
    for (venue, vs), ob in books.items():
        bids = [ob.bids.index(i) for i in range(min(10, len(ob.bids)))]
        asks = [ob.asks.index(i) for i in range(min(10, len(ob.asks)))]
        out[(venue, names[(venue, vs)])] = (bids, asks)
    return dt, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0, help="length of the generated market (default 120)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--activity",
        type=float,
        default=5.0,
        help="levels touched per book change, x the shipped sample (default 5: a busy market)",
    )
    ap.add_argument("--input", type=Path, default=None, help="replay this recording folder instead of generating one")
    ap.add_argument("--per-venue", action="store_true", help="also time each venue alone")
    ap.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    ap.add_argument(
        "--query-every", type=int, default=100, help="consolidated top-10 query every N frames (default 100)"
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.input
        if folder is None:
            folder = Path(tmp) / "market"
            t = time.perf_counter()
            generate_market(folder, seed=args.seed, seconds=args.seconds, activity=args.activity)
            print(f"generated {args.seconds:g} s of market (seed {args.seed}) in {time.perf_counter() - t:.1f} s")
        files = [folder]
        probe = Replayer(files)
        frames, levels = count_levels(probe)
        print(f"input: {frames} frames, {levels} level updates, 3 venues x 2 symbols, merged by receive time")
        runs = [run_braid(files, args.query_every) for _ in range(args.repeat)]
        dt, load, queries, query_s, braid_books = min(runs, key=lambda x: x[0])
        rate = levels / dt
        print(
            f"  braid  Replayer -> feeds (parse + sync/checksum + book) + {queries} consolidated top-10 queries:"
            f" {rate / 1e6:6.3f} M level updates/s end to end ({frames / dt / 1e3:.1f} k frames/s)"
        )
        print(
            f"         of which the queries (2 symbols x bids+asks, fee-adjusted, every {args.query_every} frames)"
            f" {query_s / dt:.0%}; feeds alone {levels / (dt - query_s) / 1e6:6.3f} M/s;"
            f" reading+decoding the files {load:.2f} s (not in the loop)"
        )
        peer_best = None
        for _ in range(args.repeat):
            pdt, peer_books = run_peer(probe, args.query_every)
            peer_best = pdt if peer_best is None else min(peer_best, pdt)
        assert peer_best is not None
        peer_rate = levels / peer_best
        print(
            "  peer   cryptofeed order_book (Decimal; decode + apply, no sync/checks)            "
            f"{peer_rate / 1e6:7.3f} M level updates/s"
        )
        met = "met" if rate >= 1e6 else "NOT met"
        print(f"braid / cryptofeed = {rate / peer_rate:.2f}x   (target: braid >= 1 M level updates/s: {met})")
        agree = all(
            [tuple(x.normalize() for x in lv) for lv in braid_books[k][s]]
            == [tuple(Decimal(x).normalize() for x in lv) for lv in peer_books[k][s]]
            for k in braid_books
            for s in (0, 1)
        )
        print(f"final top-10 books identical (braid vs peer, every venue and symbol): {agree}")
        if args.per_venue:
            per_venue(args.seed, args.seconds, args.activity)


if __name__ == "__main__":
    main()
