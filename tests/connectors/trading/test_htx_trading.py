"""HtxTrading (real ccxt async client) against the fake HTX REST server, Signature V2 verified there."""
from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from connectors.errors import (
    AuthenticationFailed,
    InsufficientFunds,
    InvalidOrder,
    OrderStateUnknown,
    RateLimited,
)
from connectors.htx.trading import HtxTrading, order_type
from connectors.simulators.order_entry.htx import FakeHtx
from connectors.simulators.order_entry.matching import SimMarket
from connectors.trading import ChildOrder, VenueFill, client_order_id_for
from domain import OrderStatus

from .conftest import engine, instrument

D = Decimal
KEY, SECRET = "e2xxxxxx-99xxxxxx-84xxxxxx-7xxxx", "b0xxxxxx-c6xxxxxx-94xxxxxx-dxxxx"
INST = instrument("htx", "btcusdt", "0.01", "0.000001", "5")
MARKET = SimMarket("btcusdt", "btc", "usdt", D("0.01"), D("0.000001"), min_notional=D("5"))


@pytest.fixture
async def fake() -> AsyncIterator[FakeHtx]:
    venue = FakeHtx(engine(MARKET, {"usdt": D("100000"), "btc": D("2")}, taker_fee=D("0.002"), unique_ids="all"),
                    {KEY: SECRET, "key-2": SECRET})
    async with venue:
        yield venue


def adapter(fake: FakeHtx, key: str = KEY, secret: str = SECRET, account_id: int | None = None) -> HtxTrading:
    return HtxTrading(key, secret, [INST], account_id=account_id, base_url=fake.url, timeout_s=0.5, rate_limit_ms=5)


@pytest.fixture
async def trading(fake: FakeHtx) -> AsyncIterator[HtxTrading]:
    htx = adapter(fake)
    yield htx
    await htx.close()


def child(qty: str, price: str, tif: str = "IOC", side: str = "BUY", round_no: int = 0) -> ChildOrder:
    return ChildOrder("htx", "BTC/USDT", side, D(qty), D(price), tif, client_order_id_for("p1", round_no, "htx"))


def test_time_in_force_is_encoded_in_the_type() -> None:
    assert order_type("BUY", "IOC") == "buy-ioc"
    assert order_type("SELL", "IOC") == "sell-ioc"
    assert order_type("BUY", "FOK") == "buy-limit-fok"
    assert order_type("SELL", "FOK") == "sell-limit-fok"
    assert order_type("BUY", "GTC") == "buy-limit"
    assert order_type("SELL", "GTC") == "sell-limit"


async def test_ioc_buy_fills_with_exact_fills_and_fees(trading: HtxTrading, fake: FakeHtx) -> None:
    order = child("0.8", "30010")
    placed = await trading.place(order)
    assert placed.status is OrderStatus.FILLED and placed.client_order_id == order.client_order_id
    assert placed.filled_qty == D("0.8") and placed.quote_qty == D("15000") + D("9003")
    assert placed.fills == (VenueFill(D("30000"), D("0.5"), D("0.001"), "BTC", "1"),
                            VenueFill(D("30010"), D("0.3"), D("0.0006"), "BTC", "2"))
    assert placed.fee == D("0.0016") and placed.fee_asset == "BTC"
    assert await trading.query("BTC/USDT", order.client_order_id) == placed
    assert fake.auth_failures == 0
    assert fake.engine.orders[int(placed.venue_order_id or 0)].tif == "IOC"


async def test_fok_and_ioc_leftovers_expire(trading: HtxTrading, fake: FakeHtx) -> None:
    fok = await trading.place(child("0.6", "30000", tif="FOK"))
    assert fok.status is OrderStatus.EXPIRED and fok.filled_qty == 0
    ioc = await trading.place(child("2", "30000", round_no=1))
    assert ioc.status is OrderStatus.EXPIRED and ioc.filled_qty == D("0.5")
    assert [o.tif for o in fake.engine.orders.values()] == ["FOK", "IOC"]


async def test_gtc_rests_is_listed_then_cancelled(trading: HtxTrading) -> None:
    order = child("0.1", "29000", tif="GTC")
    assert (await trading.place(order)).status is OrderStatus.NEW
    assert (await trading.balances())["USDT"] == (D("97100"), D("2900"))
    [listed] = await trading.open_orders("BTC/USDT")
    assert listed.client_order_id == order.client_order_id and listed.price == D("29000")
    cancelled = await trading.cancel("BTC/USDT", order.client_order_id)
    assert cancelled.status is OrderStatus.CANCELED
    assert await trading.open_orders() == []
    assert (await trading.balances())["USDT"] == (D("100000"), D("0"))


async def test_balances_after_a_sell(trading: HtxTrading) -> None:
    await trading.place(child("0.4", "29990", side="SELL"))
    balances = await trading.balances()
    assert balances["BTC"] == (D("1.6"), D("0"))
    assert balances["USDT"] == (D("100000") + D("11996") - D("23.992"), D("0"))


async def test_given_account_id_skips_the_lookup(fake: FakeHtx) -> None:
    htx = adapter(fake, account_id=FakeHtx.account_id)
    try:
        await htx.balances()
    finally:
        await htx.close()
    assert ("GET", "/v1/account/accounts") not in fake.requests


async def test_wrong_secret_is_refused_as_htx_does(fake: FakeHtx) -> None:
    htx = adapter(fake, secret="wrong-secret", account_id=FakeHtx.account_id)
    try:
        with pytest.raises(AuthenticationFailed) as info:
            await htx.place(child("0.1", "30000"))
    finally:
        await htx.close()
    assert info.value.code == "api-signature-not-valid"
    assert info.value.msg == "Signature not valid: Verification failure [校验失败]"
    assert fake.auth_failures == 1 and fake.engine.orders == {}


async def test_insufficient_funds(trading: HtxTrading) -> None:
    with pytest.raises(InsufficientFunds) as info:
        await trading.place(child("5", "30000", tif="GTC"))
    assert info.value.code == "account-frozen-balance-insufficient-error"


@pytest.mark.parametrize("fault", ["timeout", "http_5xx", "venue_unknown"])
async def test_unknown_outcome_then_query_finds_it_and_retry_sends_nothing(
    trading: HtxTrading, fake: FakeHtx, fault: str
) -> None:
    await trading.balances()  # the account id is known before the fault
    fake.fail_next_order(fault, delay_s=1.5)
    order = child("0.5", "30000")
    with pytest.raises(OrderStateUnknown):
        await trading.place(order)
    found = await trading.query("BTC/USDT", order.client_order_id)
    assert found is not None and found.status is OrderStatus.FILLED and found.filled_qty == D("0.5")
    assert await trading.place(order) == found
    assert fake.order_requests("/v1/order/orders/place") == 1 and len(fake.engine.orders) == 1


async def test_client_order_id_is_unique_for_24h_at_the_venue(fake: FakeHtx) -> None:
    order = child("0.1", "30000")
    first, second = adapter(fake), adapter(fake, key="key-2")
    try:
        assert (await first.place(order)).status is OrderStatus.FILLED
        with pytest.raises(InvalidOrder):
            await second.place(order)  # another process, no memory: the venue refuses the reused id
    finally:
        await first.close()
        await second.close()
    assert len(fake.engine.orders) == 1


async def test_rate_limit_maps_retry_after(trading: HtxTrading, fake: FakeHtx) -> None:
    await trading.balances()
    fake.fail_next_order("rate_limit", retry_after_s=3)
    with pytest.raises(RateLimited) as info:
        await trading.place(child("0.1", "30000"))
    assert info.value.retry_after_s == 3.0
