"""HtxTrading against the fake HTX REST server: HTX's own cases (order types, account lookup, 24 h client ids).
The scenarios every venue shares are in tests/connectors/test_contract_order_entry.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.errors import InvalidOrder
from connectors.htx.trading import order_type
from connectors.simulators.order_entry.htx import FakeHtx
from connectors.trading import ChildOrder, TradingVenue
from domain import OrderStatus
from tests.connectors.trading.venues import FAST, VENUES, OrderEntryVenue
from tests.connectors.trading.venues import child as venue_child

D = Decimal
ROW = VENUES["htx"]


@pytest.fixture
def row() -> OrderEntryVenue:
    return ROW


def child(qty: str, price: str, tif: str = "IOC", side: str = "BUY", round_no: int = 0) -> ChildOrder:
    return venue_child(ROW, qty, price, tif, side, round_no)


def adapter(fake: FakeHtx, key: str = ROW.key, account_id: int | None = None) -> TradingVenue:
    return ROW.make_adapter(key, ROW.secret, fake.url, account_id=account_id, **FAST)


def test_time_in_force_is_encoded_in_the_type() -> None:
    assert order_type("BUY", "IOC") == "buy-ioc"
    assert order_type("SELL", "IOC") == "sell-ioc"
    assert order_type("BUY", "FOK") == "buy-limit-fok"
    assert order_type("SELL", "FOK") == "sell-limit-fok"
    assert order_type("BUY", "GTC") == "buy-limit"
    assert order_type("SELL", "GTC") == "sell-limit"


async def test_fok_and_ioc_leftovers_expire(trading: TradingVenue, fake: FakeHtx) -> None:
    fok = await trading.place(child("0.6", "30000", tif="FOK"))
    assert fok.status is OrderStatus.EXPIRED and fok.filled_qty == 0
    ioc = await trading.place(child("2", "30000", round_no=1))
    assert ioc.status is OrderStatus.EXPIRED and ioc.filled_qty == D("0.5")
    assert [o.tif for o in fake.engine.orders.values()] == ["FOK", "IOC"]


async def test_given_account_id_skips_the_lookup(fake: FakeHtx) -> None:
    htx = adapter(fake, account_id=FakeHtx.account_id)
    try:
        await htx.balances()
    finally:
        await htx.close()
    assert ("GET", "/v1/account/accounts") not in fake.requests


async def test_client_order_id_is_unique_for_24h_at_the_venue(fake: FakeHtx) -> None:
    order = child("0.1", "30000")
    first, second = adapter(fake), adapter(fake, key=ROW.key2)
    try:
        assert (await first.place(order)).status is OrderStatus.FILLED
        with pytest.raises(InvalidOrder):
            await second.place(order)  # another process, no memory: the venue refuses the reused id
    finally:
        await first.close()
        await second.close()
    assert len(fake.engine.orders) == 1
