"""A Braid API server in its own process for the SIGKILL test: fixed venue books, paper execution, wallets
on ``DATA_DIR``. First start: a tenant, funded accounts and keys (written to DATA_DIR/creds.json). Every
start: open orders restored. Prints ``READY <port>``.

:func:`start_stack` is the part the fault suite's server (``tests.faults.server``) shares.

    python -m tests.gateway.kill_server DATA_DIR
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from decimal import Decimal as D
from pathlib import Path

import structlog
from aiohttp import web

from config.instruments import Instrument
from config.settings import Settings
from connectors.book import VenueBook
from gateway.api import build_app
from gateway.api.stack import build_context, freeze_start_up_heap
from router.consolidated import ConsolidatedMarket
from wallets import Wallets

SYMBOL = "BTC/USDT"
ACCOUNTS = 4


def instruments(books: dict[str, VenueBook]) -> tuple[dict[tuple[str, str], Instrument], dict[str, Instrument]]:
    """The venues' rules for BTC/USDT, and the symbol as the API publishes it."""
    insts = {(v, SYMBOL): Instrument(SYMBOL, "BTC", "USDT", v, "BTCUSDT", D("0.01"), D("0.001")) for v in books}
    published = {
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
    return insts, published


async def start_stack(data_dir: str, env_prefix: str, tenant: str) -> tuple[web.TCPSite, Wallets, int]:
    """Books, wallets (``<env_prefix>_DB_URL`` / ``_SCHEMA``, else SQLite in ``data_dir``), funded accounts on the
    first start, open orders restored, the API listening: (site, wallets, orders restored)."""
    settings = Settings(api_orders_limit_10s=1_000_000, risk_max_open_orders=100_000, data_dir=data_dir)
    market = ConsolidatedMarket()
    books = {}
    for i, venue in enumerate(("binance", "kraken")):
        book = VenueBook(venue, SYMBOL, "BTCUSDT")
        book.levels.load([[str(99 - k), "1000"] for k in range(10)], [[str(101 + k), "1000"] for k in range(10)])
        book.synced, book.last_update_ns = True, 1
        books[venue] = book
        market.book(SYMBOL).attach(book, fee=settings.venue(venue).taker_fee, priority=i)
    insts, published = instruments(books)
    key_file = Path(data_dir) / "master.b64"
    if not key_file.exists():
        key_file.write_text(base64.b64encode(os.urandom(32)).decode())
    url = os.environ.get(f"{env_prefix}_DB_URL") or f"sqlite:///{data_dir}/braid.db"
    wallets = Wallets.open(
        url, master_key=base64.b64decode(key_file.read_text()), schema=os.environ.get(f"{env_prefix}_SCHEMA") or None
    )
    await wallets.start()
    creds_file = Path(data_dir) / "creds.json"
    if not creds_file.exists():
        t = await wallets.accounts.create_tenant(tenant)
        creds = []
        for n in range(ACCOUNTS):
            acc = await wallets.accounts.create_account(t.tenant_id, f"{tenant[0]}{n}")
            await wallets.ledger.credit(acc.account_id, "USDT", D("1000000"), "fund")
            await wallets.ledger.credit(acc.account_id, "BTC", D("1000"), "fund")
            key, secret = await wallets.keys.create_key(t.tenant_id, acc.account_id, can_read=True, can_trade=True)
            creds.append([acc.account_id, key.api_key, secret])
        creds_file.write_text(json.dumps(creds))
    ctx = build_context(settings, market, {v: (lambda s, b=b: b) for v, b in books.items()}, insts, wallets, published)
    restored = await ctx.service.restore()
    runner = web.AppRunner(build_app(ctx), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return site, wallets, restored


def port_of(site: web.TCPSite) -> int:
    return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]


async def main(data_dir: str) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    site, _, restored = await start_stack(data_dir, "BRAID_KILL", "kill")
    freeze_start_up_heap()
    print(f"READY {port_of(site)} {restored}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
