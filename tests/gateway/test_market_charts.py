"""A fresh Braid, served as `braid serve` does offline (the shipped recording replayed as live), charts within
seconds: trades and candles come from the venues' trades, and real clients (ccxt, python-binance, streams)
read them. The published top of book is never crossed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import ccxt.pro as ccxtpro
import orjson
import pytest
import requests
from aiohttp import web
from binance import Client

from config.settings import Settings
from connectors.replay import DEFAULT_REPLAY
from gateway.serve_command import _mount_api
from router.market import ReplayMarketData
from tests.gateway.conftest import CCXT_OPTIONS
from tests.support import eventually_sync


class Served:
    def __init__(self, tmp: str) -> None:
        self.settings = Settings(data_dir=tmp, api_demo_tenant="")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _start(self) -> None:
        self.md = ReplayMarketData(self.settings, [DEFAULT_REPLAY])
        await self.md.start()
        app = web.Application()
        self.wallets, self.task, _, self.custody = await _mount_api(app, self.md, self.settings)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        if self.custody is not None:
            await self.custody.stop()
        self.task.cancel()
        await self.runner.cleanup()
        await self.wallets.close()
        await self.md.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = Served(str(tmp_path_factory.mktemp("served")))
    s.thread.start()
    s.call(s._start())
    try:
        yield s
    finally:
        s.call(s._stop())
        s.loop.call_soon_threadsafe(s.loop.stop)
        s.thread.join(5)


def test_a_fresh_server_has_trades_and_klines_within_seconds(served: Served) -> None:
    def charted() -> Any:
        trades = requests.get(f"{served.url}/api/v3/trades", params={"symbol": "BTCUSDT"}).json()
        candles = requests.get(f"{served.url}/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1s"}).json()
        return trades and candles and (trades, candles)

    trades, candles = eventually_sync(charted, timeout=10, interval=0.1, what="venue trades and 1s candles")
    assert all(Decimal(t["price"]) > 0 and Decimal(t["qty"]) > 0 for t in trades)
    assert sum(c[8] for c in candles) == len(trades)  # every kept trade is in a candle, once
    t24 = requests.get(f"{served.url}/api/v3/ticker/24hr", params={"symbol": "BTCUSDT"}).json()
    assert t24["count"] >= len(trades) and Decimal(t24["volume"]) > 0
    window = requests.get(f"{served.url}/api/v3/ticker", params={"symbol": "BTCUSDT", "windowSize": "1h"}).json()
    assert window["count"] == t24["count"] and window["lastPrice"] == t24["lastPrice"]
    avg = requests.get(f"{served.url}/api/v3/avgPrice", params={"symbol": "BTCUSDT"}).json()
    assert Decimal(avg["price"]) > 0
    bad = requests.get(f"{served.url}/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m", "timeZone": "15"})
    assert bad.status_code == 400 and bad.json()["code"] == -1100

    def two_sided() -> Any:
        top = requests.get(f"{served.url}/api/v3/ticker/bookTicker", params={"symbol": "BTCUSDT"}).json()
        return Decimal(top["bidPrice"]) and Decimal(top["askPrice"]) and top

    top = eventually_sync(two_sided, timeout=10, interval=0.1, what="a two-sided published top of book")
    assert Decimal(top["bidPrice"]) < Decimal(top["askPrice"])


def test_ccxt_and_python_binance_chart_it(served: Served) -> None:
    ex = ccxt.binance({"options": dict(CCXT_OPTIONS)})
    ex.urls["api"]["public"] = ex.urls["api"]["private"] = f"{served.url}/api/v3"
    ex.load_markets()
    ohlcv = eventually_sync(lambda: ex.fetch_ohlcv("ETH/USDT", "1m"), timeout=10, interval=0.2, what="ohlcv")
    assert ohlcv[-1][5] > 0 and ohlcv[-1][2] >= ohlcv[-1][3]
    trades = ex.fetch_trades("ETH/USDT")
    assert trades and trades[-1]["price"] > 0

    class Braid(Client):
        API_URL = f"{served.url}/api"

    klines = Braid("", "").get_klines(symbol="ETHUSDT", interval=Client.KLINE_INTERVAL_1MINUTE)
    assert klines and Decimal(klines[-1][5]) > 0


def test_streams_carry_trades_candles_and_tickers(served: Served) -> None:
    wanted = ["btcusdt@trade", "btcusdt@aggTrade", "btcusdt@kline_1s", "btcusdt@ticker", "!miniTicker@arr",
              "btcusdt@kline_1d@+08:00"]  # fmt: skip

    async def listen() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with aiohttp.ClientSession() as http:
            streams = "/".join(wanted).replace("+", "%2B")  # a "+" in a query string reads as a space
            async with http.ws_connect(f"{served.url}/stream?streams={streams}") as ws:
                async for msg in ws:
                    body = orjson.loads(msg.data)
                    seen.setdefault(body["stream"], body["data"])
                    if len(seen) == len(wanted):
                        return seen
        return seen

    seen = asyncio.run(asyncio.wait_for(listen(), 10))
    assert seen["btcusdt@trade"]["e"] == "trade" and seen["btcusdt@aggTrade"]["e"] == "aggTrade"
    k = seen["btcusdt@kline_1s"]["k"]
    assert k["i"] == "1s" and k["T"] == k["t"] + 999 and k["n"] >= 1
    assert seen["btcusdt@ticker"]["e"] == "24hrTicker" and seen["btcusdt@ticker"]["n"] >= 1
    assert {m["s"] for m in seen["!miniTicker@arr"]} == {"BTCUSDT", "ETHUSDT"}
    day = seen["btcusdt@kline_1d@+08:00"]["k"]
    assert (day["t"] + 8 * 3_600_000) % 86_400_000 == 0  # the day opens at midnight in UTC+8


def test_ccxt_pro_watches_trades_and_candles(served: Served) -> None:
    async def watch() -> tuple[Any, Any]:
        ex = ccxtpro.binance({"options": dict(CCXT_OPTIONS)})
        ex.urls["api"]["public"] = ex.urls["api"]["private"] = f"{served.url}/api/v3"
        ex.urls["api"]["ws"]["spot"] = f"ws://127.0.0.1:{served.port}/ws"
        try:
            trades = await asyncio.wait_for(ex.watch_trades("BTC/USDT"), 10)
            candles = await asyncio.wait_for(ex.watch_ohlcv("BTC/USDT", "1m"), 10)
            return trades, candles
        finally:
            await ex.close()

    trades, candles = asyncio.run(watch())
    assert trades and trades[-1]["price"] > 0 and trades[-1]["symbol"] == "BTC/USDT"
    assert candles and candles[-1][5] > 0
