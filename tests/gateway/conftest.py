"""A running Braid API over HTTP for real clients: fixed venue books, paper execution, the internal engine,
wallets on a SQLite file. The server runs on its own event loop in a thread, so sync clients (ccxt,
python-binance ``Client``) and async ones can both talk to it from the test.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from aiohttp import web

from config.instruments import Instrument
from config.settings import Settings
from connectors.book import VenueBook
from connectors.simulators.order_entry import FakeVenue
from gateway.api import ApiContext, build_app
from gateway.api.runner import ApiRunner
from gateway.api.stack import build_context
from router.consolidated import ConsolidatedMarket
from wallets import UnknownAccount, Wallets

SYMBOL = "BTC/USDT"
FEES = {"binance": D("0.001"), "kraken": D("0.0026")}
BOOKS = {
    "binance": ([["99.00", "5"], ["98.00", "10"]], [["100.00", "5"], ["101.00", "10"]]),
    "kraken": ([["99.50", "2"], ["97.00", "10"]], [["100.20", "2"], ["102.00", "10"]]),
}


def published() -> dict[str, Instrument]:
    return {
        SYMBOL: Instrument(
            SYMBOL,
            "BTC",
            "USDT",
            "internal",
            "BTCUSDT",
            D("0.01"),
            D("0.001"),
            min_qty=D("0.001"),
            max_qty=D("1000"),
            min_notional=D("1"),
        )
    }


class Server:
    def __init__(self, tmp: str, settings: Settings | None = None, db_url: str = "", schema: str | None = None) -> None:
        self.tmp = tmp
        self.db_url = db_url or f"sqlite:///{tmp}/braid.db"
        self.schema = schema
        self.settings = settings or Settings(api_orders_limit_10s=10_000)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.books: dict[str, VenueBook] = {}
        self.ctx: ApiContext
        self.wallets: Wallets
        self.port = 0

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (set-up, inspection) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> Server:
        self.thread.start()
        self.call(self._start())
        return self

    async def _start(self) -> None:
        market = ConsolidatedMarket()
        for i, (venue, (bids, asks)) in enumerate(BOOKS.items()):
            book = VenueBook(venue, SYMBOL, "X")
            book.levels.load(bids, asks)
            book.synced = True
            book.last_update_ns = 1
            self.books[venue] = book
            market.book(SYMBOL).attach(book, fee=FEES[venue], priority=i)
        insts = {(v, SYMBOL): Instrument(SYMBOL, "BTC", "USDT", v, "X", D("0.01"), D("0.001")) for v in BOOKS}
        self.wallets = Wallets.open(self.db_url, master_key=os.urandom(32), schema=self.schema)
        await self.wallets.start()
        lookups = {v: (lambda s, b=b: b) for v, b in self.books.items()}
        self.ctx = build_context(self.settings, market, lookups, insts, self.wallets, published())
        app = build_app(self.ctx)
        self.runner = ApiRunner(app, access_log=None, read_timeout_s=self.settings.api_read_timeout_s)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:  # a server reopened on the same database (a restart) finds its tenant there
            self.tenant = self.wallets.accounts.tenant_by_name("acme")
        except UnknownAccount:
            self.tenant = await self.wallets.accounts.create_tenant("acme")

    async def _new_account(
        self, name: str, funds: dict[str, str], trade: bool = True, ips: tuple[str, ...] = ()
    ) -> tuple[int, str, str]:
        acc = await self.wallets.accounts.create_account(self.tenant.tenant_id, name)
        for asset, amount in funds.items():
            await self.wallets.ledger.credit(acc.account_id, asset, D(amount), "test funding")
        key, secret = await self.wallets.keys.create_key(
            self.tenant.tenant_id, acc.account_id, can_read=True, can_trade=trade, ip_allowlist=ips
        )
        return acc.account_id, key.api_key, secret

    def account(self, name: str, funds: dict[str, str] | None = None, **kw: Any) -> tuple[int, str, str]:
        """A funded sub-account with an API key: (account id, key, secret)."""
        return self.call(self._new_account(name, funds if funds is not None else {"USDT": "100000", "BTC": "10"}, **kw))  # type: ignore[no-any-return]

    def balance(self, account_id: int, asset: str) -> tuple[D, D]:
        b = self.wallets.ledger.balance(account_id, asset)
        return b.free, b.locked

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        async def _stop() -> None:
            await self.runner.cleanup()
            await self.wallets.close()

        self.call(_stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def server(tmp_path: Any) -> Iterator[Server]:
    s = Server(str(tmp_path)).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def pg_server(tmp_path: Any) -> Iterator[Server]:
    """The same server on the real PostgreSQL (a fresh schema), skipped where none is reachable."""
    import uuid

    from sqlalchemy import create_engine, text

    from tests.wallets.conftest import PG_URL
    from wallets import drop_schema

    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any connection problem means "not here"
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} not reachable: {exc}")
    schema = f"braid_gw_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    s = Server(str(tmp_path), db_url=PG_URL, schema=schema).start()
    try:
        yield s
    finally:
        s.stop()
        drop_schema(PG_URL, schema)


CCXT_OPTIONS = {
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
    "fetchOpenOrders": {"warnWithoutSymbol": False},
}


def ccxt_client(module: Any, server: Server, key: str = "", secret: str = "") -> Any:
    ex = module.binance({"apiKey": key, "secret": secret, "options": dict(CCXT_OPTIONS)})
    api = f"{server.url}/api/v3"
    ex.urls["api"]["public"] = ex.urls["api"]["private"] = api
    ex.urls["api"]["sapi"] = f"{server.url}/sapi/v1"
    return ex


@pytest.fixture
def fake() -> Iterator[FakeVenue]:
    """The fake Binance (order entry and capital) on loopback, on its own event loop in a thread."""
    from tests.connectors.trading.venues import VENUES

    row = VENUES["binance"]
    venue = row.make_fake({row.key: row.secret})
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(venue.start(), loop).result(10)
    yield venue
    asyncio.run_coroutine_threadsafe(venue.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
