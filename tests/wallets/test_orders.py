"""Orders and trades: stored, updated, queried Binance-style, ids monotonic, open orders restored on restart."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.wallets.conftest import Db
from wallets import Batch, DuplicateOrder, OrderRecord, TradeRecord, UnknownOrder


def _order(acc: int, cid: str, symbol: str = "BTCUSDT", **kw: object) -> OrderRecord:
    fields: dict[str, object] = {"tif": "GTC", "price": D("40000.5"), "orig_qty": D("0.25"), **kw}
    return OrderRecord(0, acc, symbol, cid, "BUY", "LIMIT", **fields)  # type: ignore[arg-type]


async def test_order_life_trades_and_queries(db: Db) -> None:
    w = db.open()
    try:
        t = await w.accounts.create_tenant("acme")
        acc = (await w.accounts.create_account(t.tenant_id, "c@example.com")).account_id
        o = await w.orders.save_new(_order(acc, "c1", route='{"parent":"p1"}'))
        assert o.order_id > 0 and o.time > 0 and o.status == "NEW"
        with pytest.raises(DuplicateOrder):
            await w.orders.save_new(_order(acc, "c1"))
        o2 = await w.orders.save_new(_order(acc, "c2", symbol="ETHUSDT"))
        assert o2.order_id > o.order_id
        tr = await w.orders.add_fill(
            TradeRecord(
                0,
                o.order_id,
                acc,
                "BTCUSDT",
                D("40000"),
                D("0.1"),
                D("4000"),
                D("0.0001"),
                "BTC",
                True,
                False,
                0,
                "binance",
                "child-1",
            )
        )
        await w.orders.update(acc, o.order_id, status="PARTIALLY_FILLED", executed_qty=D("0.1"), cum_quote=D("4000"))
        got = await w.orders.get(acc, order_id=o.order_id)
        assert (got.status, got.executed_qty, got.cum_quote, got.price, got.route) == (
            "PARTIALLY_FILLED",
            D("0.1"),
            D("4000"),
            D("40000.5"),
            '{"parent":"p1"}',
        )
        assert [x.order_id for x in await w.orders.open_orders(acc)] == [o.order_id, o2.order_id]
        assert [x.order_id for x in await w.orders.open_orders(acc, "ETHUSDT")] == [o2.order_id]
        await w.orders.update(acc, o.order_id, status="CANCELED", executed_qty=D("0.1"), cum_quote=D("4000"))
        # a closed order's client id may be used again; get by client id returns the newest
        o3 = await w.orders.save_new(_order(acc, "c1"))
        assert (await w.orders.get(acc, client_order_id="c1")).order_id == o3.order_id
        assert [x.order_id for x in await w.orders.all_orders(acc, "BTCUSDT")] == [o.order_id, o3.order_id]
        assert [x.order_id for x in await w.orders.all_orders(acc, "BTCUSDT", from_order_id=o3.order_id)] == [
            o3.order_id
        ]
        assert len(await w.orders.all_orders(acc, "BTCUSDT", limit=1)) == 1
        trades = await w.orders.my_trades(acc, "BTCUSDT")
        assert trades == [tr] and trades[0].commission == D("0.0001") and trades[0].is_buyer
        assert await w.orders.my_trades(acc, "BTCUSDT", order_id=o3.order_id) == []
        with pytest.raises(UnknownOrder):
            await w.orders.get(acc, order_id=10**12)
    finally:
        await w.close()


async def test_order_and_reservation_commit_together(db: Db) -> None:
    w = db.open()
    try:
        t = await w.accounts.create_tenant("acme")
        acc = (await w.accounts.create_account(t.tenant_id, "c@example.com")).account_id
        await w.ledger.credit(acc, "USDT", D(100), "fund")
        batch = Batch()
        o = await w.orders.save_new(_order(acc, "c1", price=D(10), orig_qty=D(5)), batch=batch)
        await w.ledger.reserve(acc, "USDT", D(50), str(o.order_id), batch=batch)
        assert w.ledger.balance(acc, "USDT").locked == 0  # nothing committed yet
        await w.store.write(batch)
        assert w.ledger.balance(acc, "USDT").locked == D(50)
        assert (await w.orders.get(acc, order_id=o.order_id)).status == "NEW"
    finally:
        await w.close()


async def test_restart_restores_open_orders_balances_and_ids(db: Db) -> None:
    w = db.open()
    t = await w.accounts.create_tenant("acme")
    acc = (await w.accounts.create_account(t.tenant_id, "c@example.com")).account_id
    await w.ledger.credit(acc, "USDT", D("1000.123456789012345678"), "fund")
    await w.ledger.reserve(acc, "USDT", D("500"), "o")
    keep = await w.orders.save_new(_order(acc, "keep"))
    done = await w.orders.save_new(_order(acc, "done"))
    await w.orders.update(acc, done.order_id, status="FILLED", executed_qty=D("0.25"), cum_quote=D(10000))
    part = await w.orders.save_new(_order(acc, "part"))
    await w.orders.update(acc, part.order_id, status="PARTIALLY_FILLED", executed_qty=D("0.05"), cum_quote=D(2000))
    balances = w.ledger.balances(acc)
    await w.close()

    w = db.open()
    try:
        restored = w.orders.restore_open()
        assert [o.order_id for o in restored] == [keep.order_id, part.order_id]
        assert restored[1].executed_qty == D("0.05") and restored[0].price == D("40000.5")
        assert w.ledger.balances(acc) == balances
        assert balances["USDT"].free == D("500.123456789012345678")
        with pytest.raises(DuplicateOrder):
            await w.orders.save_new(_order(acc, "keep"))
        assert w.orders.new_order_id() > part.order_id
        assert (await w.ledger.balance_sheet()).ok
    finally:
        await w.close()


async def test_a_discarded_batch_leaves_nothing_behind(db: Db) -> None:
    w = db.open()
    try:
        t = await w.accounts.create_tenant("acme")
        acc = (await w.accounts.create_account(t.tenant_id, "c@example.com")).account_id
        await w.ledger.credit(acc, "USDT", D(100), "fund")
        batch = Batch()
        await w.orders.save_new(_order(acc, "c1"), batch=batch)
        await w.ledger.reserve(acc, "USDT", D(60), "o", batch=batch)
        assert w.ledger.available(acc, "USDT").free == D(40)
        batch.discard()  # e.g. the router refused the order
        assert w.ledger.available(acc, "USDT").free == D(100)
        assert not w.orders.is_open_client_id(acc, "c1")
        await w.ledger.reserve(acc, "USDT", D(100), "o2")
        assert await w.orders.open_orders(acc) == []
    finally:
        await w.close()


async def test_open_orders_are_found_without_reading_the_accounts_history(db: Db) -> None:
    """GET openOrders must not slow down as an account's closed orders pile up (a soak run showed it did)."""
    from sqlalchemy import event

    w = db.open()
    try:
        t = await w.accounts.create_tenant("acme")
        acc = (await w.accounts.create_account(t.tenant_id, "c@example.com")).account_id
        for i in range(30):
            o = await w.orders.save_new(_order(acc, f"h{i}"))
            await w.orders.update(acc, o.order_id, status="CANCELED", executed_qty=D(0), cum_quote=D(0))
        live = [await w.orders.save_new(_order(acc, f"o{i}", symbol=s)) for i, s in enumerate(["BTCUSDT", "ETHUSDT"])]
        assert [o.order_id for o in await w.orders.open_orders(acc)] == [o.order_id for o in live]
        assert [o.order_id for o in await w.orders.open_orders(acc, "ETHUSDT")] == [live[1].order_id]
        if db.backend != "sqlite":
            return
        seen: list[tuple[str, object]] = []
        engine = w.store._rengine  # the readers' engine: catch the statement open_orders sends
        listen = lambda conn, cur, sql, params, ctx, many: seen.append((sql, params))  # noqa: E731
        event.listen(engine, "before_cursor_execute", listen)
        try:
            await w.orders.open_orders(acc, "BTCUSDT")
        finally:
            event.remove(engine, "before_cursor_execute", listen)
        [(sql, params)] = [(s, p) for s, p in seen if "braid_orders" in s]
        plan = w.store.read_sync(lambda conn: conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall())
        assert any("ix_braid_orders_account_status" in str(row) for row in plan), plan
    finally:
        await w.close()
