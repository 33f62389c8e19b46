"""BinanceTrading (real ccxt async client) against the fake Binance REST server, signatures verified there."""
from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from connectors.binance.trading import BinanceTrading
from connectors.errors import (
    AuthenticationFailed,
    InsufficientFunds,
    OrderStateUnknown,
    RateLimited,
)
from connectors.simulators.order_entry.binance import FakeBinance
from connectors.simulators.order_entry.matching import SimMarket
from connectors.trading import ChildOrder, VenueFill, client_order_id_for
from domain import OrderStatus

from .conftest import engine, instrument

D = Decimal
KEY, SECRET = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
INST = instrument("binance", "BTCUSDT", "0.01", "0.00001", "5")
MARKET = SimMarket("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"), min_notional=D("5"))


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    venue = FakeBinance(engine(MARKET, {"USDT": D("100000"), "BTC": D("2")}), {KEY: SECRET})
    async with venue:
        yield venue


@pytest.fixture
async def trading(fake: FakeBinance) -> AsyncIterator[BinanceTrading]:
    adapter = BinanceTrading(KEY, SECRET, [INST], base_url=fake.url, timeout_s=0.5, rate_limit_ms=5)
    yield adapter
    await adapter.close()


def child(qty: str, price: str, tif: str = "IOC", side: str = "BUY", parent: str = "p1", round_no: int = 0) -> ChildOrder:
    return ChildOrder("binance", "BTC/USDT", side, D(qty), D(price), tif, client_order_id_for(parent, round_no, "binance"))


async def test_ioc_buy_fills_with_exact_fills_and_fees(trading: BinanceTrading, fake: FakeBinance) -> None:
    order = child("0.8", "30010")
    placed = await trading.place(order)
    assert placed.status is OrderStatus.FILLED
    assert placed.client_order_id == order.client_order_id
    assert placed.filled_qty == D("0.8") and placed.remaining == 0
    assert placed.quote_qty == D("0.5") * 30000 + D("0.3") * 30010
    assert placed.fills == (
        VenueFill(D("30000"), D("0.5"), D("0.0005"), "BTC", "1"),
        VenueFill(D("30010"), D("0.3"), D("0.0003"), "BTC", "2"),
    )
    assert placed.fee == D("0.0008") and placed.fee_asset == "BTC"
    queried = await trading.query("BTC/USDT", order.client_order_id)
    assert queried == placed
    assert fake.auth_failures == 0


async def test_ioc_leftover_expires(trading: BinanceTrading) -> None:
    placed = await trading.place(child("2", "30000"))
    assert placed.status is OrderStatus.EXPIRED
    assert placed.filled_qty == D("0.5") and placed.remaining == D("1.5")


async def test_fok_that_cannot_fill_expires_untouched(trading: BinanceTrading) -> None:
    placed = await trading.place(child("0.6", "30000", tif="FOK"))
    assert placed.status is OrderStatus.EXPIRED and placed.filled_qty == 0 and placed.fills == ()


async def test_gtc_rests_is_listed_then_cancelled(trading: BinanceTrading) -> None:
    order = child("0.1", "29000", tif="GTC")
    placed = await trading.place(order)
    assert placed.status is OrderStatus.NEW
    assert (await trading.balances())["USDT"] == (D("100000") - D("2900"), D("2900"))
    [listed] = await trading.open_orders()
    assert listed.client_order_id == order.client_order_id and listed.price == D("29000")
    assert [o.client_order_id for o in await trading.open_orders("BTC/USDT")] == [order.client_order_id]
    cancelled = await trading.cancel("BTC/USDT", order.client_order_id)
    assert cancelled.status is OrderStatus.CANCELED and cancelled.filled_qty == 0
    assert await trading.open_orders() == []
    assert (await trading.balances())["USDT"] == (D("100000"), D("0"))
    # Cancelling again answers with the final state instead of failing.
    assert (await trading.cancel("BTC/USDT", order.client_order_id)).status is OrderStatus.CANCELED


async def test_balances_after_a_sell(trading: BinanceTrading) -> None:
    await trading.place(child("0.4", "29990", side="SELL"))
    balances = await trading.balances()
    assert balances["BTC"] == (D("1.6"), D("0"))
    assert balances["USDT"] == (D("100000") + D("0.4") * 29990 * (1 - D("0.001")), D("0"))


async def test_query_unknown_is_none(trading: BinanceTrading) -> None:
    assert await trading.query("BTC/USDT", "no-such-order") is None


async def test_wrong_secret_is_refused_as_binance_does(fake: FakeBinance) -> None:
    adapter = BinanceTrading(KEY, "not-the-secret", [INST], base_url=fake.url)
    try:
        with pytest.raises(AuthenticationFailed) as info:
            await adapter.place(child("0.1", "30000"))
    finally:
        await adapter.close()
    assert info.value.code == -1022 and info.value.msg == "Signature for this request is not valid."
    assert fake.auth_failures == 1 and fake.engine.orders == {}


async def test_wrong_key_is_refused(fake: FakeBinance) -> None:
    adapter = BinanceTrading("unknown-key", SECRET, [INST], base_url=fake.url)
    try:
        with pytest.raises(AuthenticationFailed) as info:
            await adapter.balances()
    finally:
        await adapter.close()
    assert info.value.code == -2015


async def test_insufficient_funds(trading: BinanceTrading) -> None:
    with pytest.raises(InsufficientFunds) as info:
        await trading.place(child("5", "30000", tif="GTC"))
    assert info.value.code == -2010


@pytest.mark.parametrize("fault", ["timeout", "http_5xx", "venue_unknown"])
async def test_unknown_outcome_then_query_finds_it_and_retry_sends_nothing(
    trading: BinanceTrading, fake: FakeBinance, fault: str
) -> None:
    fake.fail_next_order(fault, delay_s=1.5)
    order = child("0.5", "30000")
    with pytest.raises(OrderStateUnknown):
        await trading.place(order)
    found = await trading.query("BTC/USDT", order.client_order_id)
    assert found is not None and found.status is OrderStatus.FILLED and found.filled_qty == D("0.5")
    again = await trading.place(order)  # the retry is answered from the venue's record
    assert again == found
    assert fake.order_requests("/api/v3/order") == 3  # POST, GET (query), GET (dedup query): one order
    assert len(fake.engine.orders) == 1


async def test_duplicate_open_client_id_refused_by_venue(fake: FakeBinance) -> None:
    order = child("0.1", "29000", tif="GTC")
    first = BinanceTrading(KEY, SECRET, [INST], base_url=fake.url)
    second = BinanceTrading(KEY, SECRET, [INST], base_url=fake.url)  # another process: no memory of the id
    try:
        await first.place(order)
        with pytest.raises(Exception) as info:
            await second.place(order)
    finally:
        await first.close()
        await second.close()
    assert getattr(info.value, "msg", "") == "Duplicate order sent."
    assert len(fake.engine.orders) == 1


async def test_rate_limit_maps_retry_after(trading: BinanceTrading, fake: FakeBinance) -> None:
    fake.fail_next_order("rate_limit", retry_after_s=7)
    with pytest.raises(RateLimited) as info:
        await trading.place(child("0.1", "30000"))
    assert info.value.retry_after_s == 7.0
    assert fake.engine.orders == {}


async def test_nothing_listening_is_unavailable_not_unknown() -> None:
    from connectors.errors import VenueUnavailable

    adapter = BinanceTrading(KEY, SECRET, [INST], base_url="http://127.0.0.1:9", timeout_s=0.5)  # discard port
    try:
        with pytest.raises(VenueUnavailable):
            await adapter.place(child("0.1", "30000"))
    finally:
        await adapter.close()
