"""Depth-update throughput: Braid's Binance feed and book vs ccxt, python-binance and cryptofeed.

One deterministic Binance diff-depth stream (raw JSON text; a 1000-level-a-side snapshot, then messages of
5-40 level changes near the top) is applied by each library in the same run, each with its own JSON parser,
reading the best bid and ask after every message. Prints level updates per second for each and Braid's
ratio to ccxt, checks that every library ends on the same top of book, and times a consolidated top-10
query over three 1000-level venue books.

    .venv/bin/python benchmarks/depth.py [--messages 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.instruments import Instrument
from connectors.binance import BinanceFeed
from connectors.book import VenueBook
from router.consolidated import ConsolidatedBook


def make_stream(n_msgs: int, seed: int = 7) -> tuple[str, list[str]]:
    rnd = random.Random(seed)
    mid = 3_000_000  # cents: 30000.00
    bids = {mid - i: rnd.randint(1, 10**8) for i in range(1, 1001)}
    asks = {mid + i: rnd.randint(1, 10**8) for i in range(1, 1001)}

    def px(c: int) -> str:
        return f"{c // 100}.{c % 100:02d}000000"

    def qty(q: int) -> str:
        return f"{q // 10**8}.{q % 10**8:08d}"

    snap = {
        "lastUpdateId": 1000,
        "bids": [[px(p), qty(q)] for p, q in sorted(bids.items(), reverse=True)],
        "asks": [[px(p), qty(q)] for p, q in sorted(asks.items())],
    }
    msgs, u = [], 1000
    for _ in range(n_msgs):
        b, a = [], []
        k = rnd.randint(5, 40)
        for _ in range(k):
            best_bid, best_ask = max(bids), min(asks)
            off = int(rnd.expovariate(1 / 8))
            remove = rnd.random() < 0.3
            if rnd.random() < 0.5:
                p = min(best_bid + 2 - off, best_ask - 1)
                q = 0 if remove and len(bids) > 900 else rnd.randint(1, 10**8)
                bids.pop(p, None) if q == 0 else bids.__setitem__(p, q)
                b.append([px(p), qty(q)])
            else:
                p = max(best_ask - 2 + off, best_bid + 1)
                q = 0 if remove and len(asks) > 900 else rnd.randint(1, 10**8)
                asks.pop(p, None) if q == 0 else asks.__setitem__(p, q)
                a.append([px(p), qty(q)])
        msgs.append(
            orjson.dumps({"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": u + 1, "u": u + k, "b": b, "a": a}).decode()
        )
        u += k
    return orjson.dumps(snap).decode(), msgs


def run_braid(snap: str, msgs: list[str]) -> tuple[float, tuple]:
    inst = Instrument("BTC/USDT", "BTC", "USDT", "binance", "BTCUSDT", Decimal("0.01"), Decimal("0.00000001"))
    feed = BinanceFeed([inst])
    feed.on_open(0)
    feed.on_rest_snapshot("BTCUSDT", snap, 0)
    book = feed.books["BTC/USDT"].levels
    on_frame = feed.on_frame
    t = time.perf_counter()
    for m in msgs:
        on_frame(m, 1)
        top = book.top()
    dt = time.perf_counter() - t
    assert feed.health.stats.resyncs == 0 and feed.health.stats.bad_frames == 0
    ps, qs = book.price_scale, book.qty_scale
    return dt, tuple(Decimal(v).scaleb(-s) for v, s in zip(top, (ps, qs, ps, qs), strict=True))


def run_ccxt(snap: str, msgs: list[str]) -> tuple[float, tuple]:
    import ccxt.pro as ccxtpro
    from ccxt.async_support.base.ws.order_book import OrderBook

    loads = orjson.loads  # what ccxt's WS client uses when orjson is installed
    ex = ccxtpro.binance()
    ob = OrderBook(ex.parse_order_book(orjson.loads(snap), "BTC/USDT"))
    handle = ex.handle_order_book_message
    t = time.perf_counter()
    for m in msgs:
        handle(None, loads(m), ob)
        bid, ask = ob["bids"][0], ob["asks"][0]
    dt = time.perf_counter() - t
    return dt, tuple(Decimal(repr(x)) for x in (bid[0], bid[1], ask[0], ask[1]))


def run_python_binance(snap: str, msgs: list[str]) -> tuple[float, tuple]:
    from binance.ws.depthcache import DepthCache

    loads = orjson.loads  # python-binance's websocket uses orjson when installed
    dc = DepthCache("BTCUSDT")
    s = orjson.loads(snap)
    for b in s["bids"]:
        dc.add_bid(b)
    for a in s["asks"]:
        dc.add_ask(a)
    t = time.perf_counter()
    for m in msgs:
        msg = loads(m)
        for b in msg["b"]:
            dc.add_bid(b)
        for a in msg["a"]:
            dc.add_ask(a)
        bid, ask = dc.get_bids()[0], dc.get_asks()[0]
    dt = time.perf_counter() - t
    return dt, tuple(Decimal(repr(x)) for x in (bid[0], bid[1], ask[0], ask[1]))


def run_cryptofeed(snap: str, msgs: list[str]) -> tuple[float, tuple]:
    from order_book import OrderBook
    from yapic import json as yjson  # cryptofeed's parser, with parse_float=Decimal as in its feeds

    s = orjson.loads(snap)
    book = OrderBook(max_depth=0)
    for p, q in s["bids"]:
        book.bids[Decimal(p)] = Decimal(q)
    for p, q in s["asks"]:
        book.asks[Decimal(p)] = Decimal(q)
    # cryptofeed's Binance _book(): Decimal each level, delete on zero, else set
    t = time.perf_counter()
    for m in msgs:
        msg = yjson.loads(m, parse_float=Decimal)
        for key, side in (("b", book.bids), ("a", book.asks)):
            for upd in msg[key]:
                price, amount = Decimal(upd[0]), Decimal(upd[1])
                if amount == 0:
                    if price in side:
                        del side[price]
                else:
                    side[price] = amount
        bid, ask = book.bids.index(0), book.asks.index(0)
    dt = time.perf_counter() - t
    return dt, (bid[0], bid[1], ask[0], ask[1])


def consolidated_query_time(queries: int = 10_000) -> tuple[float, float]:
    rnd = random.Random(3)
    cb = ConsolidatedBook("BTC/USDT")
    for i, (venue, scale) in enumerate((("binance", 2), ("kraken", 1), ("htx", 2))):
        book = VenueBook(venue, "BTC/USDT", "X", scale, 8)
        tick = Decimal(1).scaleb(-scale)
        mid = Decimal("30000") + tick * i
        bids = [[str(mid - tick * (k + 1)), f"{rnd.randint(1, 10**8) / 10**8:.8f}"] for k in range(1000)]
        asks = [[str(mid + tick * (k + 1)), f"{rnd.randint(1, 10**8) / 10**8:.8f}"] for k in range(1000)]
        book.levels.load(bids, asks)
        book.synced = True
        cb.attach(book, fee=Decimal("0.001") * (i + 1), priority=i)
    samples = []
    for _ in range(queries):
        t = time.perf_counter_ns()
        cb.top(10, "bids", fee_adjusted=True)
        cb.top(10, "asks", fee_adjusted=True)
        samples.append(time.perf_counter_ns() - t)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per library; the best is reported")
    args = ap.parse_args()
    snap, msgs = make_stream(args.messages)
    levels = sum(len(orjson.loads(m)["b"]) + len(orjson.loads(m)["a"]) for m in msgs)
    print(f"stream: {len(msgs)} messages, {levels} level updates, 1000 levels a side, best bid/ask read per message")
    runners = [
        ("braid (exact, BinanceFeed: parse+sync+book)", run_braid),
        ("ccxt OrderBook (floats)", run_ccxt),
        ("python-binance DepthCache (floats)", run_python_binance),
        ("cryptofeed order_book (Decimal)", run_cryptofeed),
    ]
    rates, tops = {}, {}
    for name, fn in runners:
        try:
            fn(snap, msgs[:1])
        except ImportError as exc:  # an optional peer (the `bench` extra) that is not installed
            print(f"  {name:48s} skipped: {exc} (pip install -e '.[bench]')")
            continue
        best = min(fn(snap, msgs)[0] for _ in range(args.repeat - 1)) if args.repeat > 1 else float("inf")
        dt, top = fn(snap, msgs)
        rates[name] = levels / min(dt, best)
        tops[name] = top
        print(f"  {name:48s} {rates[name] / 1e6:8.3f} M level updates/s")
    braid, ccxt_rate = rates[runners[0][0]], rates[runners[1][0]]
    print(f"braid / ccxt = {braid / ccxt_rate:.2f}x   (target >= 2.0x)")
    agree = len({tuple(Decimal(x).normalize() for x in t) for t in tops.values()}) == 1
    print(f"final top of book identical across libraries: {agree}  {tops[runners[0][0]]}")
    p50, p99 = consolidated_query_time()
    print(
        f"consolidated top-10 (bids + asks, fee-adjusted, 3 venues x 1000 levels): p50 {p50:.1f} us, p99 {p99:.1f} us"
    )


if __name__ == "__main__":
    main()
