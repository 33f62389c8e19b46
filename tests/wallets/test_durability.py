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

import pytest
from sqlalchemy import func, select

from tests.wallets.conftest import Db
from wallets import Batch, Conflict, InsufficientBalance, OrderRecord, TradeRecord, models
from wallets.db import Insert

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
        o = await w.orders.save_new(
            OrderRecord(0, acc, "BTCUSDT", f"c{i}", "BUY", "LIMIT", price=D(1), orig_qty=D(1)), batch=batch
        )
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
    child = subprocess.Popen(  # noqa: ASYNC220 - the test reads the child synchronously on purpose
        [sys.executable, str(Path(__file__).with_name("writer_child.py")), db.url, db.schema or "", str(acc)],
        stdout=subprocess.PIPE,
        env=env,
        cwd=ROOT,
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
            orders = {
                r.order_id: (r.client_order_id, r.status)
                for r in conn.execute(select(o.c.order_id, o.c.client_order_id, o.c.status))
            }
            dup_cids = conn.execute(
                select(o.c.client_order_id).group_by(o.c.client_order_id).having(func.count() > 1)
            ).all()
            trades = {
                r.order_id: r.n
                for r in conn.execute(select(tr.c.order_id, func.count().label("n")).group_by(tr.c.order_id))
            }
            reserves = conn.execute(
                select(func.count(p.c.transfer_id.distinct())).where(p.c.kind == "reserve")
            ).scalar()
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


async def test_one_bad_write_in_a_batch_fails_alone(db: Db) -> None:
    w = db.open()
    try:
        t = await w.accounts.create_tenant("acme")
        acc = (await w.accounts.create_account(t.tenant_id, "c@example.com")).account_id
        await w.ledger.credit(acc, "USDT", D(100), "fund")
        first = await w.orders.save_new(OrderRecord(0, acc, "BTCUSDT", "c0", "BUY", "LIMIT"))
        clash = models.orders  # a second row with the same primary key: refused by the database

        async def bad() -> None:
            row = {c.name: getattr(first, c.name) for c in clash.columns}
            await w.store.write([Insert(clash, {**row, "client_order_id": "other"})])

        async def good(i: int) -> None:
            batch = Batch()
            o = await w.orders.save_new(OrderRecord(0, acc, "BTCUSDT", f"g{i}", "BUY", "LIMIT"), batch=batch)
            await w.ledger.reserve(acc, "USDT", D(1), str(o.order_id), batch=batch)
            await w.store.write(batch)

        results = await asyncio.gather(
            *(good(i) for i in range(20)), bad(), *(good(i) for i in range(20, 40)), return_exceptions=True
        )
        assert isinstance(results[20], Conflict)
        assert [r for i, r in enumerate(results) if i != 20] == [None] * 40
        assert w.ledger.balance(acc, "USDT").locked == D(40)
        assert len(await w.orders.open_orders(acc)) == 41
        assert (await w.ledger.balance_sheet()).ok
    finally:
        await w.close()


async def test_a_replayed_fill_is_refused_whole(db: Db) -> None:
    w = db.open()
    try:
        t = await w.accounts.create_tenant("acme")
        acc = (await w.accounts.create_account(t.tenant_id, "c@example.com")).account_id
        await w.ledger.credit(acc, "USDT", D(100), "fund")
        o = await w.orders.save_new(OrderRecord(0, acc, "BTCUSDT", "c0", "BUY", "LIMIT", price=D(10), orig_qty=D(4)))
        await w.ledger.reserve(acc, "USDT", D(40), str(o.order_id))

        async def book_fill() -> None:
            batch = Batch()
            tr = await w.orders.add_fill(
                TradeRecord(
                    0,
                    o.order_id,
                    acc,
                    "BTCUSDT",
                    D(10),
                    D(1),
                    D(10),
                    D(0),
                    "BTC",
                    True,
                    False,
                    0,
                    "binance",
                    "venue-trade-7",
                ),
                batch=batch,
            )
            await w.ledger.settle_fill(
                acc,
                base="BTC",
                quote="USDT",
                side="BUY",
                qty=D(1),
                price=D(10),
                ref=str(tr.trade_id),
                counterparty="venue:binance",
                batch=batch,
            )
            await w.store.write(batch)

        await book_fill()
        before = w.ledger.balances(acc)
        with pytest.raises(Conflict):
            await book_fill()  # e.g. the venue's fill seen again after a reconnect
        assert w.ledger.balances(acc) == before and w.ledger.available(acc, "USDT") == before["USDT"]
        assert len(await w.orders.my_trades(acc, "BTCUSDT")) == 1
        assert (await w.ledger.balance_sheet()).ok
    finally:
        await w.close()


async def test_two_processes_cannot_overdraw_one_account(db: Db) -> None:
    w1 = db.open()
    t = await w1.accounts.create_tenant("acme")
    acc = (await w1.accounts.create_account(t.tenant_id, "c@example.com")).account_id
    await w1.ledger.credit(acc, "USDT", D(10), "fund")
    w2 = db.open()  # a second process on the same database, which has seen the 10 USDT
    try:
        await w1.ledger.reserve(acc, "USDT", D(8), "by-1")
        with pytest.raises(InsufficientBalance):
            await w2.ledger.reserve(acc, "USDT", D(8), "by-2")  # refused by the check inside the transaction
        await w2.ledger.reserve(acc, "USDT", D(2), "by-2-small")  # and w2 now knows the stored balance
        with pytest.raises(InsufficientBalance):
            await w2.ledger.reserve(acc, "USDT", D("0.1"), "by-2-more")  # refused up front this time
        assert (await w2.ledger.balance_sheet()).ok
        b = w2.ledger.balance(acc, "USDT")
        assert (b.free, b.locked) == (D(0), D(10))
    finally:
        await w1.close()
        await w2.close()


async def test_two_processes_crediting_the_same_new_balance_lose_nothing(db: Db) -> None:
    w1 = db.open()
    t = await w1.accounts.create_tenant("acme")
    accs = [(await w1.accounts.create_account(t.tenant_id, f"c{i}@example.com")).account_id for i in range(5)]
    w2 = db.open()
    try:
        await asyncio.gather(
            *(
                w.ledger.credit(acc, "USDT", D(1), f"{n}-{acc}-{i}")
                for i in range(30)
                for acc in accs
                for n, w in (("one", w1), ("two", w2))
            )
        )
        w3 = db.open()
        assert all(w3.ledger.balance(acc, "USDT").free == D(60) for acc in accs)
        assert (await w3.ledger.balance_sheet()).ok
        await w3.close()
    finally:
        await w1.close()
        await w2.close()


async def test_a_caller_that_stops_waiting_does_not_undo_its_committed_write(db: Db) -> None:
    w = db.open()
    try:
        t = await w.accounts.create_tenant("acme")
        acc = (await w.accounts.create_account(t.tenant_id, "c@example.com")).account_id
        await w.ledger.credit(acc, "USDT", D(10), "fund")
        tasks = [asyncio.ensure_future(w.ledger.reserve(acc, "USDT", D(1), f"o{i}")) for i in range(5)]
        tasks.append(asyncio.ensure_future(w.orders.save_new(OrderRecord(0, acc, "BTCUSDT", "c1", "BUY", "LIMIT"))))
        await asyncio.sleep(
            0
        )  # one turn of the loop: the writes are queued, not yet committed; that is the case tested
        for task in tasks:
            task.cancel()  # e.g. the client hung up while its order was being committed
        await asyncio.gather(*tasks, return_exceptions=True)
        await w.store.flush()
        assert w.orders.is_open_client_id(acc, "c1") and len(await w.orders.open_orders(acc)) == 1
        b, avail = w.ledger.balance(acc, "USDT"), w.ledger.available(acc, "USDT")
        assert (b.free, b.locked) == (avail.free, avail.locked)
        sheet_ok = (await w.ledger.balance_sheet()).ok
        await w.close()
        w = db.open()
        assert w.ledger.balance(acc, "USDT") == b and sheet_ok
    finally:
        await w.close()
