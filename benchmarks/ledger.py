"""Benchmark the durable ledger: acknowledged order writes per second through group commit.

One "order write" is what the API does before it answers a new order: insert the order row and reserve its
funds (two postings and a balance change), committed as one caller's write. ``--concurrency`` callers write
at once (as concurrent API requests would); each awaits its own commit. A third of the orders also get a
fill in the same write (trade row, four more postings, order update), like an immediately filled order.

Printed per database: writes/s, postings/s, commits/s (transactions), mean callers per commit, p50/p99 of
the time a caller waits for its acknowledgement. Peer comparison: the same writes committed one
transaction per order (what a naive per-request ``session.commit()`` does), on a prefix of the run.

Run: .venv/bin/python benchmarks/ledger.py [--orders 20000] [--concurrency 256] [--postgres URL|--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal as D
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wallets import Batch, OrderRecord, TradeRecord, Wallets, drop_schema

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MASTER = bytes(32)


async def _setup(w: Wallets, accounts: int) -> list[int]:
    t = await w.accounts.create_tenant(f"bench-{uuid.uuid4().hex[:6]}", D("0.0005"))
    ids = []
    for i in range(accounts):
        a = await w.accounts.create_account(t.tenant_id, f"user{i}@example.com")
        await w.ledger.credit(a.account_id, "USDT", D(10**9), "bench")
        ids.append(a.account_id)
    return ids


async def _order(w: Wallets, acc: int, i: int, batch: Batch | None = None) -> None:
    own = batch if batch is not None else Batch()
    o = await w.orders.save_new(
        OrderRecord(0, acc, "BTCUSDT", f"b{i}", "BUY", "LIMIT", tif="GTC", price=D("40000.01"), orig_qty=D("0.001")),
        batch=own,
    )
    await w.ledger.reserve(acc, "USDT", D("40.00001"), str(o.order_id), batch=own)
    if i % 3 == 0:
        tr = await w.orders.add_fill(
            TradeRecord(
                0,
                o.order_id,
                acc,
                "BTCUSDT",
                D("40000.01"),
                D("0.001"),
                D("40.00001"),
                D("0.000001"),
                "BTC",
                True,
                False,
                0,
                "binance",
                f"x{i}",
            ),
            batch=own,
        )
        await w.ledger.settle_fill(
            acc,
            base="BTC",
            quote="USDT",
            side="BUY",
            qty=D("0.001"),
            price=D("40000.01"),
            ref=str(tr.trade_id),
            commission=D("0.000001"),
            counterparty="venue:binance",
            batch=own,
        )
        await w.orders.update(
            acc, o.order_id, status="FILLED", executed_qty=D("0.001"), cum_quote=D("40.00001"), batch=own
        )
    await w.store.write(own)


async def _grouped(w: Wallets, accs: list[int], n: int, concurrency: int) -> dict[str, float]:
    waits: list[float] = []
    counter = iter(range(n))
    postings_before = (await w.ledger.balance_sheet()).postings
    commits_before = w.store.batches

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await _order(w, accs[i % len(accs)], i)
            waits.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    commits = w.store.batches - commits_before
    sheet = await w.ledger.balance_sheet()
    assert sheet.ok, sheet.problems[:3]
    waits.sort()
    return {
        "writes/s": n / elapsed,
        "postings/s": (sheet.postings - postings_before) / elapsed,
        "commits/s": commits / elapsed,
        "callers/commit": n / max(commits, 1),
        "p50 ms": 1000 * statistics.median(waits),
        "p99 ms": 1000 * waits[int(len(waits) * 0.99) - 1],
    }


async def _one_by_one(w: Wallets, accs: list[int], n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        await _order(w, accs[i % len(accs)], 10**9 + i)
    return n / (time.perf_counter() - t0)


async def _bench(url: str, schema: str | None, args: argparse.Namespace) -> None:
    w = Wallets.open(url, master_key=MASTER, schema=schema, sqlite_synchronous=args.sqlite_synchronous)
    await w.start()
    try:
        accs = await _setup(w, args.accounts)
        await _order(w, accs[0], -1)  # warm up
        r = await _grouped(w, accs, args.orders, args.concurrency)
        naive = await _one_by_one(w, accs, args.peer_orders)
    finally:
        await w.close()
    label = url.split(":")[0] + (f" (synchronous={args.sqlite_synchronous})" if url.startswith("sqlite") else "")
    print(f"{label}")
    print(
        f"  group commit    {r['writes/s']:9.0f} order writes/s  {r['postings/s']:9.0f} postings/s  "
        f"{r['commits/s']:6.0f} commits/s  {r['callers/commit']:6.1f} writes/commit  "
        f"ack p50 {r['p50 ms']:.1f} ms  p99 {r['p99 ms']:.1f} ms"
    )
    print(f"  one txn/order   {naive:9.0f} order writes/s  (sequential, {args.peer_orders} orders)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=20000)
    ap.add_argument("--peer-orders", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--accounts", type=int, default=100)
    ap.add_argument("--sqlite-synchronous", default="FULL", choices=["FULL", "NORMAL"])
    ap.add_argument("--postgres", default=os.environ.get("BRAID_TEST_POSTGRES_URL", PG))
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    print(
        f"{args.orders} orders (1/3 filled in the same write), {args.concurrency} concurrent callers,"
        f" {args.accounts} accounts"
    )
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_bench(f"sqlite:///{tmp}/bench.db", None, args))
    if not args.no_postgres:
        schema = f"braid_bench_{os.getpid()}"
        try:
            asyncio.run(_bench(args.postgres, schema, args))
        finally:
            drop_schema(args.postgres, schema)


if __name__ == "__main__":
    main()
