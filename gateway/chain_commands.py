"""`braid chain ...`: the Bitcoin regtest simulator, and a chain watcher printing what it sees."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from dataclasses import asdict
from typing import Any

import orjson

from config.settings import Settings
from wallets.chains import BlockRef, Observation, WatchedAddresses, create_chain_tables
from wallets.chains.factory import CHAINS, build_watcher
from wallets.db import create_db_engine


def _print(obj: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()


def bitcoin_sim(args: argparse.Namespace, settings: Settings) -> int:
    from wallets.chains.simulators.bitcoin import serve_forever

    def started(url: str) -> None:
        _print({"bitcoin_sim": url, "rpc_user": args.user, "chain": "regtest"})

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(args.host, args.port, args.user, args.password, started))
    return 0


class _PrintingConsumer:
    async def on_observed(self, observation: Observation) -> None:
        _print({"event": "observed", **asdict(observation)})

    async def on_confirmations(self, chain: str, tip: BlockRef, pending: list[tuple[Observation, int]]) -> None:
        _print(
            {
                "event": "tip",
                "chain": chain,
                "height": tip.height,
                "hash": tip.hash,
                "confirmations": {f"{o.txid}:{o.index}": n for o, n in pending},
            }
        )

    async def on_orphaned(self, observation: Observation) -> None:
        _print({"event": "orphaned", **asdict(observation)})


def watch(args: argparse.Namespace, settings: Settings) -> int:
    book = WatchedAddresses()
    for item in args.address:
        address, _, account = item.partition("=")
        book.add(args.chain, address, account or address)
    engine = create_db_engine(settings.database_url, schema=settings.database_schema)
    create_chain_tables(engine, settings.database_schema)
    watcher = build_watcher(args.chain, settings.chains, engine, book, _PrintingConsumer())

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop))
        try:
            if args.seconds:
                await asyncio.sleep(args.seconds)
                stop.set()
            await task
        finally:
            stop.set()
            await watcher.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(go())
    engine.dispose()
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    chain = sub.add_parser("chain", help="chain nodes and watchers")
    csub = chain.add_subparsers(dest="chain_command", required=True)
    sim = csub.add_parser("bitcoin-sim", help="run the Bitcoin Core regtest simulator (JSON-RPC over HTTP)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=18443)
    sim.add_argument("--user", default="braid")
    sim.add_argument("--password", default="braid")
    sim.set_defaults(run=bitcoin_sim)
    w = csub.add_parser("watch", help="follow a chain's node (BRAID_CHAINS__*) and print payments to addresses")
    w.add_argument("--chain", choices=CHAINS, required=True)
    w.add_argument("--address", action="append", default=[], metavar="ADDR[=ACCOUNT]")
    w.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until interrupted)")
    w.set_defaults(run=watch)
