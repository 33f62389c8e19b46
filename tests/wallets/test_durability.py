"""Nothing acknowledged is lost: group commit under concurrency, and a writer killed with SIGKILL."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path

from sqlalchemy import func, select

from wallets import Batch, OrderRecord, models
from tests.wallets.conftest import Db

ROOT = Path(__file__).resolve().parents[2]


async def test_concurrent_writers_are_group_committed_and_all_present_after_reopen(db: Db) -> None:
    w = db.open()
    t = await w.accounts.create_tenant("acme")
    acc = (await w.accounts.create_account(t.tenant_id, "c@example.com")).account_id
    await w.ledger.credit(acc, "USDT", D(1000), "fund")
    n = 400
    batches_before = w.store.batches

    async def place(i: int) -> OrderRecord:
        batch = Batch()
        o = await w.orders.save_new(OrderRecord(0, acc, "BTCUSDT", f"c{i}", "BUY", "LIMIT", price=D(1), orig_qty=D(1)), batch=batch)
        await w.ledger.reserve(acc, "USDT", D(1), str(o.order_id), batch=batch)
        await w.store.write(batch)
        return o

    placed = await asyncio.gather(*(place(i) for i in range(n)))
    assert w.store.batches - batches_before < n / 4  # many writes shared each commit
    assert len({o.order_id for o in placed}) == n
    await w.close()

    w = db.open()
    try:
        assert {o.order_id for o in w.orders.restore_open()} == {o.order_id for o in placed}
        b = w.ledger.balance(acc, "USDT")
        assert (b.free, b.locked) == (D(1000 - n), D(n))
        assert (await w.ledger.balance_sheet()).ok
    finally:
        await w.close()


async def test_sigkill_mid_stream_loses_nothing_acknowledged(db: Db) -> None:
    w = db.open()
    t = await w.accounts.create_tenant("acme")
    acc = (await w.accounts.create_account(t.tenant_id, "c@example.com")).account_id
    await w.ledger.credit(acc, "USDT", D(10**9), "fund")
    await w.close()

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("writer_child.py")), db.url, db.schema or "", str(acc)],
        stdout=subprocess.PIPE, env=env, cwd=ROOT,
    )
    acked: list[tuple[int, str, bool]] = []
    assert child.stdout is not None
    deadline = time.monotonic() + 30
    try:
        assert child.stdout.readline() == b"ready\n"
        while len(acked) < 1500 and time.monotonic() < deadline:
            line = child.stdout.readline().split()
            assert line and line[0] == b"ack", line
            acked.append((int(line[1]), line[2].decode(), line[3] == b"1"))
        os.kill(child.pid, signal.SIGKILL)  # mid-stream: 32 writers with writes queued and in flight
        for raw in child.stdout:  # acks written before the kill landed count too
            parts = raw.split()
            if len(parts) == 4 and parts[0] == b"ack":
                acked.append((int(parts[1]), parts[2].decode(), parts[3] == b"1"))
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL and len(acked) >= 1000

    w = db.open()
    try:
        def counts(conn):  # type: ignore[no-untyped-def]
            o, tr, p = models.orders, models.trades, models.postings
            orders = {r.order_id: (r.client_order_id, r.status) for r in conn.execute(select(o.c.order_id, o.c.client_order_id, o.c.status))}
            dup_cids = conn.execute(
                select(o.c.client_order_id).group_by(o.c.client_order_id).having(func.count() > 1)
            ).all()
            trades = {r.order_id: r.n for r in conn.execute(select(tr.c.order_id, func.count().label("n")).group_by(tr.c.order_id))}
            reserves = conn.execute(select(func.count(p.c.transfer_id.distinct())).where(p.c.kind == "reserve")).scalar()
            return orders, dup_cids, trades, reserves

        orders, dup_cids, trades, reserves = await w.store.read(counts)
        for order_id, cid, filled in acked:
            assert orders.get(order_id) == (cid, "FILLED" if filled else "NEW"), order_id
            assert trades.get(order_id, 0) == (1 if filled else 0)
        assert dup_cids == []
        assert all(n == 1 for n in trades.values())
        # each caller's write was all-or-nothing: every stored order has its reservation, no more
        assert reserves == len(orders) and len(orders) >= len(acked)
        open_now = sum(1 for _, status in orders.values() if status == "NEW")
        assert w.ledger.balance(acc, "USDT").locked == open_now
        assert len(w.orders.restore_open()) == open_now
        sheet = await w.ledger.balance_sheet()
        assert sheet.ok, sheet.problems[:5]
    finally:
        await w.close()
