"""KrakenTrading (real ccxt async client) against the fake Kraken REST server, API-Sign verified there."""
from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from connectors.errors import (
    AuthenticationFailed,
    InsufficientFunds,
    InvalidOrder,
    OrderStateUnknown,
)
from connectors.kraken.trading import KrakenTrading
from connectors.simulators.order_entry.kraken import FakeKraken
from connectors.simulators.order_entry.matching import SimMarket, fee_in_quote
from connectors.trading import ChildOrder, client_order_id_for
from domain import OrderStatus

from .conftest import engine, instrument

D = Decimal
KEY = "kraken-key-1"
KEY2 = "kraken-key-2"
SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
INST = instrument("kraken", "XBT/USDT", "0.1", "0.00000001")
MARKET = SimMarket("XBTUSDT", "XXBT", "USDT", D("0.1"), D("0.00000001"), min_qty=D("0.0001"))


@pytest.fixture
async def fake() -> AsyncIterator[FakeKraken]:
    eng = engine(MARKET, {"USDT": D("100000"), "XXBT": D("2")}, taker_fee=D("0.0026"), fee_asset=fee_in_quote)
    venue = FakeKraken(eng, {KEY: SECRET, KEY2: SECRET})
    async with venue:
        yield venue


def adapter(fake: FakeKraken, key: str = KEY, secret: str = SECRET) -> KrakenTrading:
    return KrakenTrading(key, secret, [INST], base_url=fake.url, timeout_s=0.5, rate_limit_ms=5)


@pytest.fixture
async def trading(fake: FakeKraken) -> AsyncIterator[KrakenTrading]:
    kraken = adapter(fake)
    yield kraken
    await kraken.close()


def child(qty: str, price: str, tif: str = "IOC", side: str = "BUY", round_no: int = 0) -> ChildOrder:
    return ChildOrder("kraken", "BTC/USDT", side, D(qty), D(price), tif, client_order_id_for("p1", round_no, "kraken"))


async def test_ioc_buy_fills_with_exact_fills_and_fees(trading: KrakenTrading, fake: FakeKraken) -> None:
    order = child("0.8", "30010")
    placed = await trading.place(order)
    assert placed.status is OrderStatus.FILLED and placed.client_order_id == order.client_order_id
    assert placed.venue_order_id is not None and placed.venue_order_id.startswith("O")
    assert placed.filled_qty == D("0.8")
    assert placed.quote_qty == D("15000") + D("9003")
    assert [(f.price, f.qty, f.fee, f.fee_asset) for f in placed.fills] == [
        (D("30000"), D("0.5"), D("39"), "USDT"), (D("30010"), D("0.3"), D("23.4078"), "USDT")]
    assert placed.fee == D("62.4078") and placed.fee_asset == "USDT"
    assert await trading.query("BTC/USDT", order.client_order_id) == placed
    assert fake.auth_failures == 0
    # The wire: form body with Kraken's own names, the altname pair and our cl_ord_id.
    assert ("POST", "/0/private/AddOrder") in fake.requests


async def test_ioc_leftover_is_cancelled(trading: KrakenTrading) -> None:
    placed = await trading.place(child("2", "30000"))
    assert placed.status is OrderStatus.CANCELED and placed.filled_qty == D("0.5") and placed.remaining == D("1.5")


async def test_fok_is_refused_before_sending(trading: KrakenTrading, fake: FakeKraken) -> None:
    with pytest.raises(InvalidOrder) as info:
        await trading.place(child("0.1", "30000", tif="FOK"))
    assert "no FOK" in str(info.value)
    assert fake.order_requests("/0/private/AddOrder") == 0


async def test_gtc_rests_is_listed_then_cancelled(trading: KrakenTrading) -> None:
    order = child("0.1", "29000", tif="GTC")
    assert (await trading.place(order)).status is OrderStatus.NEW
    assert (await trading.balances())["USDT"] == (D("97100"), D("2900"))
    [listed] = await trading.open_orders("BTC/USDT")
    assert listed.client_order_id == order.client_order_id and listed.price == D("29000") and listed.qty == D("0.1")
    cancelled = await trading.cancel("BTC/USDT", order.client_order_id)
    assert cancelled.status is OrderStatus.CANCELED
    assert await trading.open_orders() == []
    assert (await trading.balances())["USDT"] == (D("100000"), D("0"))


async def test_balances_use_canonical_asset_names(trading: KrakenTrading) -> None:
    await trading.place(child("0.4", "29990", side="SELL"))
    balances = await trading.balances()
    assert balances["BTC"] == (D("1.6"), D("0"))
    assert balances["USDT"] == (D("100000") + D("11996") - D("31.1896"), D("0"))


async def test_wrong_secret_is_refused_as_kraken_does(fake: FakeKraken) -> None:
    wrong = base64.b64encode(b"x" * 64).decode()
    kraken = adapter(fake, secret=wrong)
    try:
        with pytest.raises(AuthenticationFailed) as info:
            await kraken.place(child("0.1", "30000"))
    finally:
        await kraken.close()
    assert info.value.code == "EAPI:Invalid signature"
    assert fake.auth_failures == 1 and fake.engine.orders == {}


async def test_wrong_key_is_refused(fake: FakeKraken) -> None:
    kraken = adapter(fake, key="nobody")
    try:
        with pytest.raises(AuthenticationFailed) as info:
            await kraken.balances()
    finally:
        await kraken.close()
    assert info.value.code == "EAPI:Invalid key"


async def test_insufficient_funds(trading: KrakenTrading) -> None:
    with pytest.raises(InsufficientFunds) as info:
        await trading.place(child("5", "30000", tif="GTC"))
    assert info.value.code == "EOrder:Insufficient funds"


@pytest.mark.parametrize("fault", ["timeout", "http_5xx", "venue_unknown"])
async def test_unknown_outcome_then_query_finds_it_and_retry_sends_nothing(
    trading: KrakenTrading, fake: FakeKraken, fault: str
) -> None:
    fake.fail_next_order(fault, delay_s=1.5)
    order = child("0.5", "30000")
    with pytest.raises(OrderStateUnknown):
        await trading.place(order)
    found = await trading.query("BTC/USDT", order.client_order_id)
    assert found is not None and found.status is OrderStatus.FILLED and found.filled_qty == D("0.5")
    assert await trading.place(order) == found
    assert fake.order_requests("/0/private/AddOrder") == 1 and len(fake.engine.orders) == 1


async def test_duplicate_open_cl_ord_id_refused_by_venue(fake: FakeKraken) -> None:
    order = child("0.1", "29000", tif="GTC")
    first, second = adapter(fake), adapter(fake, key=KEY2)
    try:
        await first.place(order)
        with pytest.raises(InvalidOrder) as info:
            await second.place(order)
    finally:
        await first.close()
        await second.close()
    assert info.value.code == "EOrder:Duplicate order"
    assert len(fake.engine.orders) == 1


async def test_concurrent_orders_keep_nonces_in_order(trading: KrakenTrading, fake: FakeKraken) -> None:
    import asyncio

    orders = [child("0.01", "29000", tif="GTC", round_no=i) for i in range(6)]
    placed = await asyncio.gather(*(trading.place(o) for o in orders), trading.balances(), trading.open_orders())
    assert all(p.status is OrderStatus.NEW for p in placed[:6])  # type: ignore[union-attr]
    assert len(await trading.open_orders()) == 6
