"""`braid serve` (the service) and `braid simulate` (local venue simulators on their own)."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys

import structlog
from aiohttp import web

from config.settings import Settings
from connectors.simulators.launch import launch_simulators
from connectors.simulators.server import SimServer
from connectors.venues import known_venues
from gateway.status import add_routes
from router.market import MarketData

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
        source = "live" if await asyncio.to_thread(_venues_reachable) else "simulated"
    venues = [v for v in known_venues() if settings.venue(v).enabled]
    sims: dict[str, SimServer] = {}
    if source == "simulated":
        sims, overrides = await launch_simulators(settings.symbols, venues)
        settings = settings.with_venue_overrides(overrides)  # type: ignore[arg-type]
    md = MarketData(settings, settings.symbols, venues)
    await md.start()
    app = web.Application()
    add_routes(app, md)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = args.port if args.port is not None else settings.port
    site = web.TCPSite(runner, settings.host, port)
    await site.start()
    url = f"http://{settings.host}:{port}"
    print(f"Braid is serving {', '.join(settings.symbols)} from {source} venues ({', '.join(venues)})", flush=True)
    print(f"  status page: {url}/   health: {url}/status   book: {url}/book?symbol={settings.symbols[0]}", flush=True)
    try:
        await _wait_for_signal()
    finally:
        await runner.cleanup()
        await md.stop()
        for sim in sims.values():
            await sim.stop()
    return 0


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


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sp = sub.add_parser("serve", help="run Braid: mirror the venues and serve the status page and books")
    sp.add_argument("--source", choices=["auto", "live", "simulated"], help="market data source (default: settings)")
    sp.add_argument("--port", type=int, help="HTTP port (default: BRAID_PORT or 8080)")
    sp.set_defaults(run=serve)
    sim = sub.add_parser("simulate", help="run local venue simulators and print their URLs")
    sim.add_argument("--venue", action="append", choices=known_venues(), help="venue (repeatable; default all)")
    sim.add_argument("--symbol", action="append", help="canonical symbol (repeatable; default BRAID_SYMBOLS)")
    sim.set_defaults(run=simulate)


