"""`braid treasury ...`: the broker's inventory per venue and wallet, and approved rebalancing transfers.

Each command prints one JSON object per line. Transfers are proposed by ``plan``, approved by distinct
operators (``approve ID --actor NAME``; the proposer never counts), and sent by ``execute ID``. Proposing
needs an operator (``braid operators create``) whose role may request withdrawals, approving and rejecting
one whose role may approve them; each of these actions that takes effect is written to the audit log.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from config.settings import Settings
from connectors.errors import VenueError
from connectors.trading import decimal_text as _s
from gateway.accounts_commands import emit_json
from gateway.treasury_access import open_treasury, transfer_json
from treasury import Treasury
from wallets import WalletError


def _run(settings: Settings, body: Callable[[Treasury, TextIO], Awaitable[None]], out: TextIO | None = None) -> int:
    async def go() -> None:
        async with open_treasury(settings) as treasury:
            await body(treasury, out or sys.stdout)

    try:
        asyncio.run(go())
    except (WalletError, VenueError) as exc:
        print(f"braid: {exc}", file=sys.stderr)
        return 2
    return 0


def inventory(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    async def body(tr: Treasury, out: TextIO) -> None:
        inv = await tr.inventory()
        for h in inv.holdings:
            emit_json(
                out, {"place": h.place, "kind": h.kind, "asset": h.asset, "free": _s(h.free), "locked": _s(h.locked)}
            )
        for asset in inv.assets():
            emit_json(out, {"asset": asset, "total": _s(inv.total(asset))})
        for name in inv.unavailable:
            emit_json(out, {"place": name, "unavailable": True})

    return _run(settings, body, out)


def plan(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    async def body(tr: Treasury, out: TextIO) -> None:
        for t in await tr.plan(args.actor):
            emit_json(out, transfer_json(t))

    return _run(settings, body, out)


def approve(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    async def body(tr: Treasury, out: TextIO) -> None:
        emit_json(out, transfer_json(tr.approve(args.id, args.actor)))

    return _run(settings, body, out)


def reject(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    async def body(tr: Treasury, out: TextIO) -> None:
        emit_json(out, transfer_json(tr.reject(args.id, args.actor)))

    return _run(settings, body, out)


def execute(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    async def body(tr: Treasury, out: TextIO) -> None:
        emit_json(out, transfer_json(await tr.execute(args.id)))

    return _run(settings, body, out)


def reconcile(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    async def body(tr: Treasury, out: TextIO) -> None:
        for t in await tr.reconcile():
            emit_json(out, transfer_json(t))

    return _run(settings, body, out)


def list_(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    async def body(tr: Treasury, out: TextIO) -> None:
        for t in tr.list_transfers(states=args.state or None):
            emit_json(out, transfer_json(t))

    return _run(settings, body, out)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    tr = sub.add_parser("treasury", help="the broker's inventory per venue and wallet, and rebalancing transfers")
    tsub = tr.add_subparsers(dest="treasury_command", required=True)
    tsub.add_parser("inventory", help="balances per venue (and wallet), and totals per asset").set_defaults(
        run=inventory
    )
    p = tsub.add_parser(
        "plan", help="propose transfers that bring each venue back to its target (BRAID_TREASURY__TARGETS)"
    )
    p.add_argument("--actor", required=True, help="the proposing operator (never counts as an approver)")
    p.set_defaults(run=plan)
    for name, fn, text in (
        ("approve", approve, "approve a proposed transfer"),
        ("reject", reject, "reject a transfer"),
    ):
        a = tsub.add_parser(name, help=text)
        a.add_argument("id", type=int)
        a.add_argument("--actor", required=True, help="the operator (not the proposer)")
        a.set_defaults(run=fn)
    e = tsub.add_parser("execute", help="send an approved transfer (or settle one a crash left sending)")
    e.add_argument("id", type=int)
    e.set_defaults(run=execute)
    tsub.add_parser(
        "reconcile", help="settle interrupted and sent transfers from the venues' withdrawal history"
    ).set_defaults(run=reconcile)
    ls = tsub.add_parser("list", help="transfers, oldest first")
    ls.add_argument("--state", action="append", default=[], help="only these states (repeatable)")
    ls.set_defaults(run=list_)
