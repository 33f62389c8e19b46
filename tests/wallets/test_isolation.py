"""One key never sees another account's orders, trades or balances; a broker never sees another broker's."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.wallets.conftest import Db
from wallets import OrderRecord, TradeRecord, UnknownAccount, UnknownOrder


async def test_accounts_orders_trades_balances_and_keys_are_isolated(db: Db) -> None:
    w = db.open()
    try:
        ta = await w.accounts.create_tenant("broker-a", D("0.001"))
        tb = await w.accounts.create_tenant("broker-b")
        a1 = await w.accounts.create_account(ta.tenant_id, "a1@example.com")
        a2 = await w.accounts.create_account(ta.tenant_id, "a2@example.com")
        b1 = await w.accounts.create_account(tb.tenant_id, "a1@example.com")  # same name, other tenant: fine
        await w.ledger.credit(a1.account_id, "USDT", D(100), "fund")
        o = await w.orders.save_new(
            OrderRecord(0, a1.account_id, "BTCUSDT", "same-id", "BUY", "LIMIT", price=D(1), orig_qty=D(1))
        )
        await w.orders.save_new(
            OrderRecord(0, a2.account_id, "BTCUSDT", "same-id", "BUY", "LIMIT", price=D(1), orig_qty=D(1))
        )
        await w.orders.add_fill(
            TradeRecord(
                0, o.order_id, a1.account_id, "BTCUSDT", D(1), D(1), D(1), D(0), "BTC", True, False, 0, "internal", "m1"
            )
        )

        # tenants see only their own accounts
        assert [x.account_id for x in w.accounts.accounts_of(ta.tenant_id)] == [a1.account_id, a2.account_id]
        assert [x.account_id for x in w.accounts.accounts_of(tb.tenant_id)] == [b1.account_id]
        with pytest.raises(UnknownAccount):
            w.accounts.account(a1.account_id, tenant_id=tb.tenant_id)
        with pytest.raises(UnknownAccount):  # system accounts are nobody's
            w.accounts.account(w.accounts.system_account("external"))
        # a key is made only for the tenant's own account, and deleted only by it
        key, _ = await w.keys.create_key(ta.tenant_id, a1.account_id)
        with pytest.raises(UnknownAccount):
            await w.keys.create_key(tb.tenant_id, a1.account_id)
        with pytest.raises(UnknownAccount):
            await w.keys.delete_key(tb.tenant_id, b1.account_id, key.api_key)
        with pytest.raises(UnknownAccount):
            await w.keys.delete_key(ta.tenant_id, a2.account_id, key.api_key)
        with pytest.raises(UnknownAccount):
            w.keys.list_keys(tb.tenant_id, a1.account_id)
        assert w.keys.lookup(key.api_key) is not None

        # orders, trades and balances by account
        with pytest.raises(UnknownOrder):
            await w.orders.get(a2.account_id, order_id=o.order_id)
        with pytest.raises(UnknownOrder):
            await w.orders.get(b1.account_id, client_order_id="same-id")
        assert (await w.orders.get(a2.account_id, client_order_id="same-id")).account_id == a2.account_id
        assert [x.account_id for x in await w.orders.open_orders(a1.account_id)] == [a1.account_id]
        assert await w.orders.all_orders(b1.account_id, "BTCUSDT") == []
        assert await w.orders.my_trades(a2.account_id, "BTCUSDT") == []
        assert len(await w.orders.my_trades(a1.account_id, "BTCUSDT")) == 1
        with pytest.raises(UnknownOrder):
            await w.orders.update(a2.account_id, o.order_id, status="CANCELED", executed_qty=D(0), cum_quote=D(0))
        await w.orders.update(a1.account_id, o.order_id, status="CANCELED", executed_qty=D(0), cum_quote=D(0))
        with pytest.raises(UnknownOrder):  # closed orders too
            await w.orders.update(a2.account_id, o.order_id, status="FILLED", executed_qty=D(1), cum_quote=D(1))
        assert (await w.orders.get(a1.account_id, order_id=o.order_id)).status == "CANCELED"
        assert w.ledger.balances(a2.account_id) == {} and w.ledger.balances(b1.account_id) == {}
        assert set(w.ledger.balances(a1.account_id)) == {"USDT"}
    finally:
        await w.close()


async def test_changes_made_by_another_process_are_seen(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    import wallets.accounts
    import wallets.keys

    monkeypatch.setattr(wallets.keys, "RECHECK_S", 0.0)
    monkeypatch.setattr(wallets.accounts, "REFRESH_S", 0.0)
    server = db.open()
    try:
        t = await server.accounts.create_tenant("acme", D("0.001"))
        cli = db.open()  # e.g. `braid accounts ...` while the server runs
        a = await cli.accounts.create_account(t.tenant_id, "new@example.com")
        key, secret = await cli.keys.create_key(t.tenant_id, a.account_id, can_trade=True)
        await cli.accounts.set_markup(t.tenant_id, D("0.002"))
        await cli.ledger.credit(a.account_id, "USDT", D(10), "fund")
        await cli.close()

        assert server.accounts.account(a.account_id, tenant_id=t.tenant_id).name == "new@example.com"
        assert [x.account_id for x in server.accounts.accounts_of(t.tenant_id)] == [a.account_id]
        found = server.keys.lookup(key.api_key)
        assert found is not None and found.can_trade and server.keys.secret(key.api_key) == secret
        assert server.accounts.markup_of(a.account_id)[0] == D("0.002")
        await server.ledger.reserve(a.account_id, "USDT", D(10), "o")

        cli = db.open()
        await cli.keys.delete_key(t.tenant_id, a.account_id, key.api_key)
        await cli.close()
        assert server.keys.lookup(key.api_key) is None
        with pytest.raises(UnknownAccount):
            server.accounts.account(10**9)
    finally:
        await server.close()
