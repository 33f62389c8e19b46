"""The wall clock stepping backwards under a running service (an NTP correction, a VM restored from a snapshot).

One injected clock drives the whole service (``build_context(clock_ms=...)``): orders' times, the engine's and
the router's, signature windows and rate-limit windows, and serverTime. After a step back of an hour:
requests signed on the old time are refused as ahead of the server (-1021, Binance-shaped), a client that
re-syncs from serverTime trades again, order ids stay unique and increasing, an order that rested before the
step still fills and cancels, rate-limit counters and Retry-After never go negative, a replayed request is still
refused, nothing crashes, and the ledger balances (`braid accounts check`).
"""

from __future__ import annotations

import asyncio
import base64
import os
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from config.settings import Settings
from connectors.binance.auth import signature
from connectors.book import VenueBook
from domain import now_ms
from gateway.api import build_app
from gateway.api.stack import build_context
from router.consolidated import ConsolidatedMarket
from tests.faults.support import FORM, accounts_check
from tests.gateway.kill_server import SYMBOL, instruments
from wallets import Wallets

HOUR_MS = 3_600_000


class SteppingClock:
    """The system clock plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return now_ms() + self.offset_ms


class Client:
    def __init__(self, http: aiohttp.ClientSession, base: str, key: str, secret: str) -> None:
        self.http, self.base, self.key, self.secret = http, base, key, secret
        self.skew_ms = 0  # what the client adds to its own clock: synced from serverTime, as clients do

    async def sync(self) -> None:
        async with self.http.get(f"{self.base}/api/v3/time") as r:
            self.skew_ms = (await r.json())["serverTime"] - now_ms()

    def sign(self, params: str) -> str:
        body = f"{params}&timestamp={now_ms() + self.skew_ms}"
        return f"{body}&signature={signature(self.secret, body)}"

    async def send(self, method: str, path: str, body: str) -> tuple[int, dict[str, str], Any]:
        hdr = {"X-MBX-APIKEY": self.key}
        if method == "GET":
            req = self.http.get(f"{self.base}{path}?{body}", headers=hdr)
        else:
            req = self.http.request(method, f"{self.base}{path}", data=body, headers={**hdr, **FORM})
        async with req as r:
            return r.status, dict(r.headers), await r.json(content_type=None)

    async def order(self, params: str) -> tuple[int, dict[str, str], Any]:
        return await self.send("POST", "/api/v3/order", self.sign(f"symbol=BTCUSDT&{params}"))


def assert_counters_sane(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        if name.upper().startswith("X-MBX-") or name.lower() == "retry-after":
            assert int(value) >= 0, (name, value)


async def test_clock_stepping_back_an_hour(tmp_path):
    clock = SteppingClock()
    data = str(tmp_path)
    master = os.urandom(32)
    Path(data, "master.b64").write_text(base64.b64encode(master).decode())  # noqa: ASYNC240 - set-up
    settings = Settings(api_orders_limit_10s=8, api_weight_limit_1m=100_000, data_dir=data)
    market = ConsolidatedMarket()
    books = {}
    for i, venue in enumerate(("binance", "kraken")):
        book = VenueBook(venue, SYMBOL, "BTCUSDT")
        book.levels.load([[str(99 - k), "1000"] for k in range(5)], [[str(101 + k), "1000"] for k in range(5)])
        book.synced, book.last_update_ns = True, 1
        books[venue] = book
        market.book(SYMBOL).attach(book, fee=settings.venue(venue).taker_fee, priority=i)
    insts, published = instruments(books)
    wallets = Wallets.open(f"sqlite:///{data}/braid.db", master_key=master)
    await wallets.start()
    tenant = await wallets.accounts.create_tenant("clock")
    keys = []
    for n in range(2):
        acc = await wallets.accounts.create_account(tenant.tenant_id, f"c{n}")
        await wallets.ledger.credit(acc.account_id, "USDT", D("100000"), "fund")
        await wallets.ledger.credit(acc.account_id, "BTC", D("100"), "fund")
        key, secret = await wallets.keys.create_key(tenant.tenant_id, acc.account_id, can_read=True, can_trade=True)
        keys.append((key.api_key, secret))
    lookups = {v: (lambda s, b=b: b) for v, b in books.items()}
    ctx = build_context(settings, market, lookups, insts, wallets, published, clock_ms=clock)
    runner = web.AppRunner(build_app(ctx), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http:
            buyer, seller = (Client(http, base, k, s) for k, s in keys)
            ids: list[int] = []

            async def accepted(c: Client, params: str) -> dict[str, Any]:
                status, headers, body = await c.order(params)
                assert status == 200, body
                assert_counters_sane(headers)
                ids.append(body["orderId"])
                return body  # type: ignore[no-any-return]

            resting = await accepted(buyer, "side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.5&price=99.50")
            await accepted(seller, "side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.1&price=99.50")  # fills part
            replay = seller.sign("symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=IOC&quantity=0.02&price=99.50")
            status, _, body = await seller.send("POST", "/api/v3/order", replay)
            assert status == 200, body
            ids.append(body["orderId"])

            clock.offset_ms -= HOUR_MS  # the step

            # signed on the old time: an hour ahead of the server now, refused the Binance way
            status, headers, body = await buyer.order("side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price=98")
            assert (status, body["code"]) == (400, -1021), body
            assert_counters_sane(headers)
            # the same signed request again, within its window on the client's side: still refused
            status, _, body = await seller.send("POST", "/api/v3/order", replay)
            assert status == 400 and body["code"] in (-1021, -1022), body

            # clients re-sync from serverTime, which stepped too, and trade again
            await buyer.sync()
            await seller.sync()
            assert abs(buyer.skew_ms + HOUR_MS) < 5_000
            status, _, body = await seller.send("POST", "/api/v3/order", replay)  # the old request, still refused
            assert status == 400 and body["code"] in (-1021, -1022), body
            fill = await accepted(seller, "side=SELL&type=LIMIT&timeInForce=IOC&quantity=0.2&price=99.50")
            assert fill["status"] == "FILLED" and fill["transactTime"] >= 0
            for n in range(4):  # the order-rate window restarted with the clock: counts from zero, never below
                await accepted(buyer, f"side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.02&price={90 + n}")
            # the resting order placed before the step is still live: it can be queried and cancelled
            status, _, body = await buyer.send(
                "GET", "/api/v3/order", buyer.sign(f"symbol=BTCUSDT&orderId={resting['orderId']}")
            )
            assert status == 200 and D(body["executedQty"]) == D("0.32") and body["status"] == "PARTIALLY_FILLED"
            status, _, body = await buyer.send("DELETE", "/api/v3/openOrders", buyer.sign("symbol=BTCUSDT"))
            assert status == 200 and {o["orderId"] for o in body} >= {resting["orderId"]}, body

            # over the order limit after the step: 429 -1015, counters and Retry-After never negative
            over = None
            for n in range(10):
                status, headers, body = await buyer.order(
                    f"side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.02&price={80 + n}"
                )
                assert_counters_sane(headers)
                if status == 200:
                    ids.append(body["orderId"])
                else:
                    over = (status, body["code"])
                    break
            assert over == (429, -1015)
            _, headers, _ = await buyer.send("GET", "/api/v3/account", buyer.sign(""))
            assert_counters_sane(headers)

            # order ids: unique and increasing across the step (they come from the store's sequence, not the clock)
            assert ids == sorted(set(ids)) and len(ids) == len(set(ids))
            status, _, every = await buyer.send("GET", "/api/v3/allOrders", buyer.sign("symbol=BTCUSDT&limit=1000"))
            assert status == 200
            assert len({o["clientOrderId"] for o in every}) == len(every)
            cancelled = next(o for o in every if o["orderId"] == resting["orderId"])
            assert cancelled["status"] == "CANCELED" and D(cancelled["executedQty"]) == D("0.32")
    finally:
        await runner.cleanup()
        await wallets.close()
    await asyncio.to_thread(accounts_check, data)  # the command runs its own event loop
