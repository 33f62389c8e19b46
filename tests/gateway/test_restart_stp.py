"""Self-trade prevention survives a restart: an account's restored resting order is still its own.

Binance's default STP mode, ``EXPIRE_MAKER`` (the mode Braid's router sends), expires the resting (maker)
order instead of trading it against a new order of the same account. Before the fix, restored orders went
back into the engine with tenant ``""`` while new orders carried the tenant id, so after a restart the two
were strangers and traded with each other.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from gateway.orders_service import Caller, NewOrderRequest
from tests.gateway.conftest import Server


def test_restored_order_is_protected_from_its_own_account(tmp_path: Path) -> None:
    first = Server(str(tmp_path)).start()
    try:
        account, _, _ = first.account("alice@example.com")
        caller = Caller(first.tenant.tenant_id, account)
        # between the venues' best bid (99.50) and best ask (100.00): it rests in the internal book
        sell = NewOrderRequest("BTCUSDT", "SELL", "LIMIT", "GTC", quantity=D("0.5"), price=D("99.90"))
        resting = first.call(first.ctx.service.place(caller, sell)).order
        assert resting.status == "NEW"
    finally:
        first.stop()

    second = Server(str(tmp_path)).start()  # a restart: the same database, a fresh process state
    try:
        service = second.ctx.service
        assert second.call(service.restore()) == 1
        base_before = second.balance(account, "BTC")
        buy = NewOrderRequest("BTCUSDT", "BUY", "LIMIT", "IOC", quantity=D("0.5"), price=D("99.90"))
        taker = second.call(service.place(Caller(second.tenant.tenant_id, account), buy))
        # no trade of the account with itself: the buy takes nothing internally, and the maker is expired
        assert taker.fills == [] and taker.order.executed_qty == 0
        restored = second.call(second.wallets.orders.get(account, order_id=resting.order_id))
        assert restored.status in ("EXPIRED", "EXPIRED_IN_MATCH") and restored.executed_qty == 0
        assert second.balance(account, "BTC") == (base_before[0] + base_before[1], D(0))  # nothing stays locked
    finally:
        second.stop()
