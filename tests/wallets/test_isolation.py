"""One key never sees another account's orders, trades or balances; a broker never sees another broker's."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from wallets import OrderRecord, TradeRecord, UnknownAccount, UnknownOrder
from tests.wallets.conftest import Db


async def test_accounts_orders_trades_balances_and_keys_are_isolated(db: Db) -> None:
    w = db.open()
    try:
        ta = await w.accounts.create_tenant("broker-a", D("0.001"))
        tb = await w.accounts.create_tenant("broker-b")
        a1 = await w.accounts.create_account(ta.tenant_id, "a1@example.com")
        a2 = await w.accounts.create_account(ta.tenant_id, "a2@example.com")
        b1 = await w.accounts.create_account(tb.tenant_id, "a1@example.com")  # same name, other tenant: fine
        await w.ledger.credit(a1.account_id, "USDT", D(100), "fund")
        o = await w.orders.save_new(OrderRecord(0, a1.account_id, "BTCUSDT", "same-id", "BUY", "LIMIT", price=D(1), orig_qty=D(1)))
        await w.orders.save_new(OrderRecord(0, a2.account_id, "BTCUSDT", "same-id", "BUY", "LIMIT", price=D(1), orig_qty=D(1)))
        await w.orders.add_fill(TradeRecord(0, o.order_id, a1.account_id, "BTCUSDT", D(1), D(1), D(1), D(0), "BTC", True, False, 0, "internal", "m1"))

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
        assert w.ledger.balances(a2.account_id) == {} and w.ledger.balances(b1.account_id) == {}
        assert set(w.ledger.balances(a1.account_id)) == {"USDT"}
    finally:
        await w.close()
