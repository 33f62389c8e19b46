"""The order-entry contract: every venue's trading adapter (the real ccxt-backed client) against its fake REST
server on loopback, signatures verified there, passes the same scenarios. Venue-specific rules (Kraken's
nonces and missing FOK, HTX's order types and account lookup, Binance's FOK) stay in tests/connectors/trading/.

A venue joins by adding one ``OrderEntryVenue`` row: its fake server, its adapter, and the venue's own answers
(codes, fees, the status an IOC leftover ends in).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors.errors import (
    AuthenticationFailed,
    InsufficientFunds,
    InvalidOrder,
    OrderStateUnknown,
    RateLimited,
    VenueUnavailable,
)
from connectors.trading import OrderStatus, TradingVenue
from tests.connectors.trading.venues import FAST, VENUES, OrderEntryVenue, child, placements

D = Decimal


@pytest.fixture(params=list(VENUES))
def row(request: pytest.FixtureRequest) -> OrderEntryVenue:
    return VENUES[request.param]


async def test_ioc_buy_fills_with_exact_fills_and_fees(row: OrderEntryVenue, trading: TradingVenue, fake: Any) -> None:
    order = child(row, "0.8", "30010")
    placed = await trading.place(order)
    assert placed.status is OrderStatus.FILLED and placed.client_order_id == order.client_order_id
    assert placed.venue_order_id
    assert placed.filled_qty == D("0.8") and placed.remaining == 0
    assert placed.quote_qty == D("0.5") * 30000 + D("0.3") * 30010
    assert [(f.price, f.qty, f.fee, f.fee_asset) for f in placed.fills] == [
        (D(p), D(q), D(fee), asset) for p, q, fee, asset in row.ioc_fills
    ]
    assert len({f.trade_id for f in placed.fills}) == len(placed.fills)  # each fill is its own venue trade
    assert (placed.fee, placed.fee_asset) == (D(row.ioc_fee[0]), row.ioc_fee[1])
    assert await trading.query("BTC/USDT", order.client_order_id) == placed
    assert fake.auth_failures == 0 and placements(row, fake) == 1


async def test_ioc_leftover_ends_without_resting(row: OrderEntryVenue, trading: TradingVenue) -> None:
    placed = await trading.place(child(row, "2", "30000"))
    assert placed.status is row.ioc_leftover
    assert placed.filled_qty == D("0.5") and placed.remaining == D("1.5")
    assert await trading.open_orders() == []


async def test_limit_order_rests_is_listed_then_cancelled(row: OrderEntryVenue, trading: TradingVenue) -> None:
    order = child(row, "0.1", "29000", tif="GTC")
    placed = await trading.place(order)
    assert placed.status is OrderStatus.NEW and placed.filled_qty == 0
    assert (await trading.balances())["USDT"] == (D("97100"), D("2900"))  # the order's quote is locked
    [listed] = await trading.open_orders("BTC/USDT")
    assert listed.client_order_id == order.client_order_id and listed.price == D("29000") and listed.qty == D("0.1")
    assert [o.client_order_id for o in await trading.open_orders()] == [order.client_order_id]
    cancelled = await trading.cancel("BTC/USDT", order.client_order_id)
    assert cancelled.status is OrderStatus.CANCELED and cancelled.filled_qty == 0
    assert await trading.open_orders() == []
    assert (await trading.balances())["USDT"] == (D("100000"), D("0"))
    assert (await trading.query("BTC/USDT", order.client_order_id)).status is OrderStatus.CANCELED  # type: ignore[union-attr]
    # Cancelling again answers with the final state instead of failing.
    assert (await trading.cancel("BTC/USDT", order.client_order_id)).status is OrderStatus.CANCELED


async def test_balances_after_a_sell_use_canonical_asset_names(row: OrderEntryVenue, trading: TradingVenue) -> None:
    await trading.place(child(row, "0.4", "29990", side="SELL"))
    balances = await trading.balances()
    assert balances["BTC"] == (D("1.6"), D("0"))
    assert balances["USDT"] == (D("100000") + D("0.4") * 29990 - D(row.sell_fee_usdt), D("0"))


async def test_query_of_an_unknown_order_is_none(trading: TradingVenue) -> None:
    assert await trading.query("BTC/USDT", "no-such-order") is None


async def test_wrong_secret_is_refused_and_nothing_is_placed(row: OrderEntryVenue, fake: Any) -> None:
    adapter = row.make_adapter(row.key, row.wrong_secret, fake.url, **FAST)
    try:
        with pytest.raises(AuthenticationFailed) as info:
            await adapter.place(child(row, "0.1", "30000"))
    finally:
        await adapter.close()
    code, msg = row.bad_signature
    assert info.value.code == code and (msg is None or info.value.msg == msg)
    assert fake.auth_failures == 1 and fake.engine.orders == {}


async def test_unknown_key_is_refused(row: OrderEntryVenue, fake: Any) -> None:
    adapter = row.make_adapter("unknown-key", row.secret, fake.url, **FAST)
    try:
        with pytest.raises(AuthenticationFailed) as info:
            await adapter.balances()
    finally:
        await adapter.close()
    assert info.value.code == row.bad_key


async def test_insufficient_funds_is_its_own_error(row: OrderEntryVenue, trading: TradingVenue, fake: Any) -> None:
    with pytest.raises(InsufficientFunds) as info:
        await trading.place(child(row, "5", "30000", tif="GTC"))
    assert info.value.code == row.insufficient
    assert await trading.open_orders() == []


@pytest.mark.parametrize("fault", ["timeout", "http_5xx", "venue_unknown"])
async def test_unknown_outcome_then_query_finds_it_and_retry_sends_nothing(
    row: OrderEntryVenue, trading: TradingVenue, fake: Any, fault: str
) -> None:
    await trading.balances()  # anything the adapter looks up once (HTX's account id) is known before the fault
    fake.fail_next_order(fault, delay_s=1.5)
    order = child(row, "0.5", "30000")
    with pytest.raises(OrderStateUnknown):
        await trading.place(order)
    found = await trading.query("BTC/USDT", order.client_order_id)
    assert found is not None and found.status is OrderStatus.FILLED and found.filled_qty == D("0.5")
    assert await trading.place(order) == found  # the retry is answered from the venue's record
    assert placements(row, fake) == 1 and len(fake.engine.orders) == 1


async def test_a_reused_client_order_id_is_refused_by_the_venue(row: OrderEntryVenue, fake: Any) -> None:
    order = child(row, "0.1", "29000", tif="GTC")
    first = row.make_adapter(row.key, row.secret, fake.url, **FAST)
    second = row.make_adapter(row.key2, row.secret, fake.url, **FAST)  # another process: no memory of the id
    try:
        await first.place(order)
        with pytest.raises(InvalidOrder) as info:
            await second.place(order)
    finally:
        await first.close()
        await second.close()
    if row.duplicate is not None:
        assert info.value.code == row.duplicate
    if row.venue == "binance":
        assert info.value.msg == "Duplicate order sent."
    assert len(fake.engine.orders) == 1


async def test_rate_limit_maps_to_rate_limited_and_places_nothing(
    row: OrderEntryVenue, trading: TradingVenue, fake: Any
) -> None:
    await trading.balances()
    fake.fail_next_order("rate_limit", retry_after_s=int(row.rate_limit_retry_after))
    with pytest.raises(RateLimited) as info:
        await trading.place(child(row, "0.1", "30000"))
    assert info.value.retry_after_s == row.rate_limit_retry_after
    assert fake.engine.orders == {}


async def test_nothing_listening_is_unavailable_not_unknown(row: OrderEntryVenue) -> None:
    adapter = row.make_adapter(row.key, row.secret, "http://127.0.0.1:9", **FAST)  # the discard port: refused
    try:
        with pytest.raises(VenueUnavailable):
            await adapter.place(child(row, "0.1", "30000"))
    finally:
        await adapter.close()
