"""A Braid API server in its own process for the fault suite: fixed venue books, paper execution, wallets on
``DATA_DIR`` (SQLite) or on ``BRAID_FAULT_DB_URL`` (+ ``BRAID_FAULT_SCHEMA``). First start: a tenant, funded
accounts and keys (DATA_DIR/creds.json). Every start: open orders restored. Prints ``READY <port> <restored>``.

``BRAID_FAULT_ROOM``: once started, the disk is nearly full: no file of the server (or of its writer process) may
grow beyond the largest data file's size at that moment plus this many bytes; writes beyond fail with EFBIG, as
on a full disk (SIGXFSZ is ignored, so nothing is killed).

    python -m tests.faults.server DATA_DIR
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import signal
import sys
from decimal import Decimal as D
from pathlib import Path

import structlog
from aiohttp import web

from config.instruments import Instrument
from config.settings import Settings
from connectors.book import VenueBook
from gateway.api import build_app
from gateway.api.stack import build_context
from router.consolidated import ConsolidatedMarket
from wallets import Wallets

SYMBOL = "BTC/USDT"
ACCOUNTS = 4


def instruments(books: dict[str, VenueBook]) -> tuple[dict[tuple[str, str], Instrument], dict[str, Instrument]]:
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


async def main(data_dir: str) -> None:
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(int(os.environ.get("BRAID_FAULT_LOG_LEVEL") or 50)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file over its size limit fails with EFBIG, kills nothing
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
    url = os.environ.get("BRAID_FAULT_DB_URL") or f"sqlite:///{data_dir}/braid.db"
    wallets = Wallets.open(
        url, master_key=base64.b64decode(key_file.read_text()), schema=os.environ.get("BRAID_FAULT_SCHEMA") or None
    )
    await wallets.start()
    creds_file = Path(data_dir) / "creds.json"
    if not creds_file.exists():
        tenant = await wallets.accounts.create_tenant("faults")
        creds = []
        for n in range(ACCOUNTS):
            acc = await wallets.accounts.create_account(tenant.tenant_id, f"f{n}")
            await wallets.ledger.credit(acc.account_id, "USDT", D("1000000"), "fund")
            await wallets.ledger.credit(acc.account_id, "BTC", D("1000"), "fund")
            key, secret = await wallets.keys.create_key(tenant.tenant_id, acc.account_id, can_read=True, can_trade=True)
            creds.append([acc.account_id, key.api_key, secret])
        creds_file.write_text(json.dumps(creds))
    ctx = build_context(settings, market, {v: (lambda s, b=b: b) for v, b in books.items()}, insts, wallets, published)
    restored = await ctx.service.restore()
    runner = web.AppRunner(build_app(ctx), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    room = os.environ.get("BRAID_FAULT_ROOM")
    if room:  # the disk is full from now on: this process and its writer process (by pid) may not grow files
        fsize = max(p.stat().st_size for p in Path(data_dir).iterdir()) + int(room)  # noqa: ASYNC240 - once
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))
        writer = getattr(wallets.store, "_proc", None)
        if writer is not None:
            resource.prlimit(writer.pid, resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))
    print(f"READY {site._server.sockets[0].getsockname()[1]} {restored}", flush=True)  # type: ignore[union-attr]
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
