"""The fake venues' capital endpoints: plain ccxt (fetch_deposit_address, withdraw, fetch_withdrawals,
fetch_deposits) and our funding adapters against each fake, with the venue's real request signing checked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from connectors.binance.capital import BinanceCapital
from connectors.capital import VenueCapital
from connectors.errors import VenueError
from connectors.htx.capital import HtxCapital
from connectors.kraken.capital import KrakenCapital
from connectors.simulators.order_entry import FakeVenue
from tests.connectors.trading.test_ccxt_unified import binance, htx, kraken
from tests.connectors.trading.venues import FAST, VENUES, OrderEntryVenue
from wallets.custody import validate_address
from wallets.custody.networks import BTC_PARAMS

D = Decimal
HOT = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"  # BIP-173's P2WPKH example program on regtest
VENUE_ASSET = {"binance": "BTC", "kraken": "XXBT", "htx": "btc"}  # how each fake spells BTC


@pytest.mark.parametrize("setup", [binance, kraken, htx])
async def test_ccxt_deposit_address_withdraw_and_history(
    setup: Callable[[], tuple[FakeVenue, Callable[[FakeVenue], Any]]],
) -> None:
    fake, make_client = setup()
    async with fake:
        ex = make_client(fake)
        if fake.venue == "binance":
            ex.urls["api"]["sapi"] = fake.url + "/sapi/v1"
        fake.wallet.withdraw_keys["braid-hot"] = HOT  # Kraken withdraws to keys set up in the account
        asset = VENUE_ASSET[fake.venue]
        try:
            net = {} if fake.venue == "kraken" else {"network": "BTC"}
            found = await ex.fetch_deposit_address("BTC", net)
            assert found["address"] == fake.wallet.deposit_address(asset, "BTC")
            validate_address("BTC", found["address"], BTC_PARAMS["regtest"])

            extra = {"key": "braid-hot"} if fake.venue == "kraken" else dict(net)
            sent = await ex.withdraw("BTC", 0.5, HOT, params=extra)
            assert sent["id"]
            assert fake.engine.free[asset] == D("1.5")  # exactly the withdrawn amount left the account

            [listed] = await ex.fetch_withdrawals("BTC")
            assert listed["id"] == sent["id"] and listed["type"] == "withdrawal" and listed["status"] == "ok"
            assert (listed["address"] or listed["info"].get("info")) == HOT and listed["txid"]

            fake.wallet.credit_deposit(asset, "BTC", D("0.25"))
            [deposit] = await ex.fetch_deposits("BTC")
            assert deposit["type"] == "deposit" and deposit["status"] == "ok"
            assert fake.engine.free[asset] == D("1.75")
            assert fake.auth_failures == 0
        finally:
            await ex.close()


CAPITAL: dict[str, Callable[[Any], VenueCapital]] = {
    "binance": BinanceCapital,
    "kraken": lambda trading: KrakenCapital(trading, {HOT: "braid-hot"}),
    "htx": HtxCapital,
}


@pytest.fixture(params=list(VENUES))
def row(request: pytest.FixtureRequest) -> OrderEntryVenue:
    return VENUES[request.param]


@pytest.fixture
async def capital(row: OrderEntryVenue, fake: Any) -> AsyncIterator[VenueCapital]:
    fake.wallet.withdraw_keys["braid-hot"] = HOT
    adapter = row.make_adapter(row.key, row.secret, fake.url, **FAST)
    yield CAPITAL[row.venue](adapter)
    await adapter.close()


async def test_adapter_withdraws_exact_amounts_and_finds_them_again(capital: VenueCapital, fake: Any) -> None:
    address = await capital.deposit_address("BTC", "BTC")
    assert address == fake.wallet.deposit_address(VENUE_ASSET[fake.venue], "BTC")
    ref = await capital.withdraw("BTC", "BTC", D("0.12345678"), HOT, "tr-1")
    assert fake.engine.free[VENUE_ASSET[fake.venue]] == D("2") - D("0.12345678")
    [found] = await capital.withdrawals("BTC")
    assert (found.venue_ref, found.amount, found.address, found.status) == (ref, D("0.12345678"), HOT, "completed")
    assert found.client_id == ("tr-1" if capital.supports_client_id else "")


async def test_a_client_withdrawal_id_is_refused_twice(capital: VenueCapital, fake: Any) -> None:
    if not capital.supports_client_id:
        pytest.skip("Kraken has no client withdrawal id")
    await capital.withdraw("BTC", "BTC", D("0.1"), HOT, "tr-dup")
    with pytest.raises(VenueError):
        await capital.withdraw("BTC", "BTC", D("0.1"), HOT, "tr-dup")
    assert fake.engine.free[VENUE_ASSET[fake.venue]] == D("1.9")


async def test_withdrawing_more_than_the_balance_is_refused(capital: VenueCapital, fake: Any) -> None:
    with pytest.raises(VenueError):
        await capital.withdraw("BTC", "BTC", D("5"), HOT, "tr-big")
    assert fake.engine.free[VENUE_ASSET[fake.venue]] == D("2") and fake.wallet.withdrawals == []
