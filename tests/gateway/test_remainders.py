"""A resting remainder below the symbol's minimum notional stays a working order (issue 16, defect 1).

Binance checks the filters when an order enters; what is left of it after fills rests whatever its size. Before
the fix the internal book refused such a remainder (``-1013`` NOTIONAL) when it was restored after a restart, or
when routing left it, and nothing noticed: the order showed ``PARTIALLY_FILLED`` with its funds locked, and could
never fill. Now the remainder rests (exempt from the minimum quantity and notional), and an order that cannot
work again is EXPIRED with its lock released.

The symbol: tick 0.01, step 0.001, minimum notional 1 USDT; venue asks 100.00 (5) and bids 99.50 at best.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from gateway.orders_service import Caller, NewOrderRequest
from tests.gateway.conftest import Server


def _limit(side: str, qty: str, price: str, tif: str = "GTC") -> NewOrderRequest:
    return NewOrderRequest("BTCUSDT", side, "LIMIT", tif, quantity=D(qty), price=D(price))


def _restart_with_small_remainder(tmp_path: Path) -> tuple[int, int, int]:
    """Alice's 0.02 BTC sell at 99.90 rests; Bob takes 0.015 of it: 0.005 left (0.4995 USDT, under the
    minimum). Returns (alice, bob, order id) after the server stopped."""
    first = Server(str(tmp_path)).start()
    try:
        alice, _, _ = first.account("alice@example.com")
        bob, _, _ = first.account("bob@example.com")
        svc = first.ctx.service
        sell = first.call(svc.place(Caller(first.tenant.tenant_id, alice), _limit("SELL", "0.02", "99.90"))).order
        taken = first.call(svc.place(Caller(first.tenant.tenant_id, bob), _limit("BUY", "0.015", "99.90", "IOC")))
        assert taken.order.executed_qty == D("0.015")
        return alice, bob, sell.order_id
    finally:
        first.stop()


def test_restored_remainder_below_min_notional_still_fills(tmp_path: Path) -> None:
    alice, bob, order_id = _restart_with_small_remainder(tmp_path)
    second = Server(str(tmp_path)).start()
    try:
        svc = second.ctx.service
        assert second.call(svc.restore()) == 1
        # the remainder rests in the internal book: Bob's buy at its price takes it
        buy = second.call(svc.place(Caller(second.tenant.tenant_id, bob), _limit("BUY", "0.011", "99.90", "IOC")))
        assert buy.order.executed_qty == D("0.005")
        order = second.call(second.wallets.orders.get(alice, order_id=order_id))
        assert order.status == "FILLED" and order.executed_qty == D("0.02")
        assert second.balance(alice, "BTC")[1] == 0  # nothing stays locked
    finally:
        second.stop()


def test_order_that_cannot_be_restored_is_expired_and_unlocked(tmp_path: Path) -> None:
    alice, _, order_id = _restart_with_small_remainder(tmp_path)
    second = Server(str(tmp_path)).start()
    try:
        svc = second.ctx.service
        assert second.balance(alice, "BTC")[1] == D("0.005")
        del svc.by_symbol["BTCUSDT"]  # the symbol is no longer configured: the order cannot work again
        second.call(svc.restore())
        order = second.call(second.wallets.orders.get(alice, order_id=order_id))
        assert order.status == "EXPIRED" and order.executed_qty == D("0.015")
        assert second.balance(alice, "BTC") == (D("10") - D("0.015"), D(0))
        assert second.call(second.wallets.ledger.balance_sheet()).ok
    finally:
        second.stop()


def test_live_gtc_remainder_under_minimum_rests_and_fills(server: Server) -> None:
    """Routing takes the venues' 5 BTC at 100.00 and leaves 0.002 (0.2 USDT): it must rest and fill."""
    alice, _, _ = server.account("alice@example.com", {"USDT": "1000"})
    bob, _, _ = server.account("bob@example.com")
    svc = server.ctx.service
    placed = server.call(svc.place(Caller(server.tenant.tenant_id, alice), _limit("BUY", "5.002", "100.00")))
    assert placed.order.executed_qty == D("5") and placed.order.status == "PARTIALLY_FILLED"
    sell = server.call(svc.place(Caller(server.tenant.tenant_id, bob), _limit("SELL", "0.01", "100.00", "IOC")))
    assert sell.order.executed_qty == D("0.002")
    order = server.call(server.wallets.orders.get(alice, order_id=placed.order.order_id))
    assert order.status == "FILLED"
    assert server.balance(alice, "USDT")[1] == 0
