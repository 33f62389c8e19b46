"""Plain ccxt (its unified methods, no adapter) works against each fake venue: load_markets, create/fetch/cancel
orders, open orders, balance. The fakes speak enough of each venue's REST API for ccxt's own implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ccxt.async_support as ccxt
import pytest

from connectors.simulators.order_entry import FakeVenue
from tests.connectors.trading.venues import VENUES

KR_SECRET = VENUES["kraken"].secret


def binance() -> tuple[FakeVenue, Callable[[FakeVenue], Any]]:
    fake = VENUES["binance"].make_fake({"k": "s"})

    def client(f: FakeVenue) -> Any:
        ex = ccxt.binance(
            {
                "apiKey": "k",
                "secret": "s",
                "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False},
            }
        )
        ex.urls["api"]["public"] = ex.urls["api"]["private"] = f.url + "/api/v3"
        return ex

    return fake, client


def kraken() -> tuple[FakeVenue, Callable[[FakeVenue], Any]]:
    fake = VENUES["kraken"].make_fake({"k": KR_SECRET})

    def client(f: FakeVenue) -> Any:
        ex = ccxt.kraken({"apiKey": "k", "secret": KR_SECRET, "rateLimit": 5})
        ex.urls["api"]["public"] = ex.urls["api"]["private"] = f.url
        return ex

    return fake, client


def htx() -> tuple[FakeVenue, Callable[[FakeVenue], Any]]:
    fake = VENUES["htx"].make_fake({"k": "s"})

    def client(f: FakeVenue) -> Any:
        host = f"127.0.0.1:{f.port}"
        ex = ccxt.htx(
            {
                "apiKey": "k",
                "secret": "s",
                "rateLimit": 5,
                "hostname": host,
                "options": {"fetchMarkets": {"types": {"spot": True, "linear": False, "inverse": False}}},
            }
        )
        ex.urls["hostnames"] = {"spot": host, "contract": host}
        for name in list(ex.urls["api"]):
            ex.urls["api"][name] = "http://{hostname}"
        return ex

    return fake, client


@pytest.mark.parametrize("setup", [binance, kraken, htx])
async def test_ccxt_unified_order_flow(setup: Callable[[], tuple[FakeVenue, Callable[[FakeVenue], Any]]]) -> None:
    fake, make_client = setup()
    async with fake:
        ex = make_client(fake)
        try:
            await ex.load_markets()
            assert "BTC/USDT" in ex.markets
            ioc = await ex.create_order("BTC/USDT", "limit", "buy", 0.8, 30010, {"timeInForce": "IOC"})
            assert (await ex.fetch_order(ioc["id"], "BTC/USDT"))["status"] == "closed"
            gtc = await ex.create_order("BTC/USDT", "limit", "buy", 0.1, 29000)
            assert [o["id"] for o in await ex.fetch_open_orders("BTC/USDT")] == [gtc["id"]]
            await ex.cancel_order(gtc["id"], "BTC/USDT")
            assert await ex.fetch_open_orders("BTC/USDT") == []
            balance = await ex.fetch_balance()
            assert balance["BTC"]["used"] == 0 and balance["BTC"]["total"] > 2
        finally:
            await ex.close()
    assert fake.auth_failures == 0
    assert [o.status for o in fake.engine.orders.values()] == ["FILLED", "CANCELED"]
