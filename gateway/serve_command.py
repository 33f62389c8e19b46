"""`braid serve` (the service) and `braid simulate` (local venue simulators on their own)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
from decimal import Decimal
from typing import Any

import structlog
from aiohttp import web

from config.settings import Settings
from connectors.replay import DEFAULT_REPLAY
from connectors.simulators.launch import launch_simulators
from connectors.simulators.server import SimServer
from connectors.venues import known_venues
from gateway.status import add_routes
from router.market import MarketData, ReplayMarketData

DEMO_FUNDS = {"USDT": Decimal("100000"), "BTC": Decimal("2"), "ETH": Decimal("20")}

log = structlog.get_logger(__name__)


def _venues_reachable(timeout_s: float = 2.0) -> bool:
    try:
        with socket.create_connection(("stream.binance.com", 9443), timeout=timeout_s):
            return True
    except OSError:
        return False


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    source = args.source or settings.market_source
    if source == "auto":
        source = "live" if await asyncio.to_thread(_venues_reachable) else "replay"
    venues = [v for v in known_venues() if settings.venue(v).enabled]
    sims: dict[str, SimServer] = {}
    if source == "simulated":
        sims, overrides = await launch_simulators(settings.symbols, venues)
        settings = settings.with_venue_overrides(overrides)  # type: ignore[arg-type]
    md: MarketData | ReplayMarketData
    if source == "replay":
        md = ReplayMarketData(settings, settings.replay_paths or [DEFAULT_REPLAY], speed=settings.replay_speed)
    else:
        md = MarketData(settings, settings.symbols, venues)
    await md.start()
    app = web.Application()
    add_routes(app, md)
    wallets, service_task, demo, custody = await _mount_api(app, md, settings)
    from gateway.api.runner import ApiRunner

    runner = ApiRunner(app, access_log=None, read_timeout_s=settings.api_read_timeout_s)
    await runner.setup()
    port = args.port if args.port is not None else settings.port
    site = web.TCPSite(runner, settings.host, port)
    await site.start()
    url = f"http://{settings.host}:{port}"
    print(f"Braid is serving {', '.join(settings.symbols)} from {source} venues ({', '.join(venues)})", flush=True)
    print(f"  status page: {url}/   health: {url}/status   book: {url}/book?symbol={settings.symbols[0]}", flush=True)
    print(
        f"  Binance-compatible API: {url}/api/v3   streams: ws://{settings.host}:{port}/ws   docs: {url}/docs",
        flush=True,
    )
    if demo is not None:
        print(f"  demo account ({settings.api_demo_tenant}): API key {demo[0]}", flush=True)
        print(f"                 secret  {demo[1]}", flush=True)
    if custody is not None:
        _print_custody(custody)
    else:
        print("  custody: deposits and withdrawals off (no keys from `braid wallet init`, or see the log)", flush=True)
    try:
        await _wait_for_signal()
    finally:
        if custody is not None:
            await custody.stop()
        service_task.cancel()
        await runner.cleanup()
        await wallets.close()
        await md.stop()
        for sim in sims.values():
            await sim.stop()
    return 0


def _print_custody(custody: Any) -> None:
    s = custody.settings
    print(f"  custody: deposit watchers and withdrawals on {', '.join(s.chains.networks)}", flush=True)
    if custody.devchains is not None:
        info = custody.devchains.info
        urls = ([f"BTC {info.btc_url}"] if info.btc_url else []) + [f"{n} {c.url}" for n, c in info.evm.items()]
        print(f"  dev chains: {', '.join(urls)}", flush=True)
        print(
            "    deposit: GET /sapi/v1/capital/deposit/address?coin=BTC, then "
            "`braid wallet dev-send --network BTC --to ADDRESS --amount 0.1`",
            flush=True,
        )


async def _mount_api(
    app: web.Application, md: MarketData | ReplayMarketData, settings: Settings
) -> tuple[Any, asyncio.Task[None], tuple[str, str] | None, Any]:
    """The Binance-compatible API over the mirrored books (paper execution), wallets on the configured database."""
    from gateway.api import build_app
    from gateway.api.stack import build_context, freeze_start_up_heap, internal_instrument
    from gateway.custody_compliance import custody_compliance_from
    from gateway.custody_runtime import custody_wanted, start_custody
    from wallets import Wallets

    wallets = Wallets.from_settings(settings)
    await wallets.start()
    instruments = {
        (v, inst.symbol): inst for v, feed in md.feeds.items() for inst in getattr(feed, "instruments", {}).values()
    }
    published = {sym: internal_instrument(sym, instruments.get(("binance", sym))) for sym in settings.symbols}
    lookups = {v: (lambda sym, f=feed: f.books.get(sym)) for v, feed in md.feeds.items()}
    ctx = build_context(settings, md.market, lookups, instruments, wallets, published)
    md.trade_listeners.append(ctx.publisher.on_venue_trade)  # the venues' trades chart beside Braid's own
    kyc = ctx.kyc.kyc if ctx.kyc is not None else None

    def price_of(asset: str) -> Decimal | None:
        return md.market.book(f"{asset}/{settings.kyc.quote_asset}").mid()

    # tier limits, Travel Rule, sanctions screening, AML, operator roles on custody's paths
    compliance = custody_compliance_from(settings, ctx.backoffice, kyc, price_of) if custody_wanted(settings) else None
    # dev chains, deposit watchers, withdrawal loop; sets ctx.custody (None: no keys and no dev chains)
    custody = await start_custody(settings, wallets, ctx, compliance)
    await ctx.service.restore()
    build_app(ctx, app)
    task = asyncio.get_running_loop().create_task(ctx.service.watch())
    freeze_start_up_heap()
    demo = await _demo_key(wallets, settings) if settings.api_demo_tenant else None
    return wallets, task, demo, custody


async def _demo_key(wallets: Any, settings: Settings) -> tuple[str, str]:
    """The demo tenant's account and API key (made and funded on first start, the same key afterwards)."""
    from wallets import UnknownAccount

    name = settings.api_demo_tenant
    try:
        tenant = wallets.accounts.tenant_by_name(name)
    except UnknownAccount:
        tenant = await wallets.accounts.create_tenant(name)
    accounts = wallets.accounts.accounts_of(tenant.tenant_id)
    if accounts:
        account = accounts[0]
    else:
        account = await wallets.accounts.create_account(tenant.tenant_id, f"trader@{name}")
        for asset, amount in DEMO_FUNDS.items():
            await wallets.ledger.credit(account.account_id, asset, amount, "demo funding")
    keys = wallets.keys.list_keys(tenant.tenant_id, account.account_id)
    if keys:
        return keys[0].api_key, wallets.keys.secret(keys[0].api_key)
    key, secret = await wallets.keys.create_key(
        tenant.tenant_id, account.account_id, can_read=True, can_trade=True, label="demo"
    )
    return key.api_key, secret


def serve(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_serve(args, settings))


async def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    sims, overrides = await launch_simulators(args.symbol or settings.symbols, args.venue or known_venues())
    for venue, urls in overrides.items():
        print(f"{venue}: {urls['ws_url']}", flush=True)
    try:
        await _wait_for_signal()
    finally:
        for sim in sims.values():
            await sim.stop()
    return 0


def simulate(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_simulate(args, settings))


def add_parsers(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("serve", help="run Braid: mirror the venues and serve the status page and books")
    sp.add_argument(
        "--source", choices=["auto", "live", "replay", "simulated"], help="market data source (default: settings)"
    )
    sp.add_argument("--port", type=int, help="HTTP port (default: BRAID_PORT or 8080)")
    sp.set_defaults(run=serve)
    sim = sub.add_parser("simulate", help="run local venue simulators and print their URLs")
    sim.add_argument("--venue", action="append", choices=known_venues(), help="venue (repeatable; default all)")
    sim.add_argument("--symbol", action="append", help="canonical symbol (repeatable; default BRAID_SYMBOLS)")
    sim.set_defaults(run=simulate)
