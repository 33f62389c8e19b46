"""`braid treasury ...`: the broker's inventory per venue and wallet, and approved rebalancing transfers.

Each command prints one JSON object per line. Transfers are proposed by ``plan``, approved by distinct
operators (``approve ID --actor NAME``; the proposer never counts), and sent by ``execute ID``. Hot wallet
band transfers (``hot_to_cold``, ``cold_to_hot``) come from the same ``plan``; a refill from cold waits for the
cold signers (``cold-artefact ID`` writes what they sign, ``cold-submit ID FILES`` checks and broadcasts it). Proposing
needs an operator (``braid operators create``) whose role may request withdrawals, approving and rejecting
one whose role may approve them; each of these actions that takes effect is written to the audit log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
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


def _write_artefact(tid: int, doc: dict[str, object], folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"approved": folder / f"transfer-{tid}.approved.json"}
    files["approved"].write_text(json.dumps(doc["request"], indent=2) + "\n")
    if "psbt" in doc:
        files["psbt"] = folder / f"transfer-{tid}.psbt"
        files["psbt"].write_text(f"{doc['psbt']}\n")
    else:
        files["unsigned"] = folder / f"transfer-{tid}.unsigned.json"
        files["unsigned"].write_text(json.dumps(doc["unsigned"], indent=2) + "\n")
    return {k: str(v) for k, v in files.items()}


def cold_artefact(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    """Write what the cold signers need for a ``waiting_cold`` refill into ``--dir``: BTC ``transfer-ID.psbt``,
    ETH/BSC ``transfer-ID.unsigned.json``, and ``transfer-ID.approved.json`` (``braid wallet sign --approved``,
    ``braid wallet verify-evm --approved``)."""

    async def body(tr: Treasury, out: TextIO) -> None:
        t = tr.get(args.id)
        if t.artefact is None or t.state != "waiting_cold":
            raise WalletError(f"transfer {t.id} is {t.state}: no cold artefact waits for signing")
        emit_json(out, {"id": t.id, **_write_artefact(t.id, json.loads(t.artefact), Path(args.dir))})

    return _run(settings, body, out)


def cold_submit(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    """The cosigners' signed PSBTs (BTC) or the signed raw transaction (ETH/BSC) of a ``waiting_cold`` refill:
    refused unless it pays exactly the approved transfer, else stored and broadcast."""

    signed = [Path(f).read_text().strip() for f in args.signed]

    async def body(tr: Treasury, out: TextIO) -> None:
        emit_json(out, transfer_json(await tr.attach_cold(args.id, signed)))

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
        "plan",
        help="propose transfers that bring each venue back to its target (BRAID_TREASURY__TARGETS) and the hot "
        "wallet back into its band (BRAID_CUSTODY__HOT_LIMITS)",
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
    c = tsub.add_parser("cold-artefact", help="write a waiting cold -> hot refill's PSBT / unsigned tx for the signers")
    c.add_argument("id", type=int)
    c.add_argument("--dir", default=".", help="where to write the files (default: here)")
    c.set_defaults(run=cold_artefact)
    c = tsub.add_parser("cold-submit", help="check, store and broadcast the cold signers' PSBTs / signed tx")
    c.add_argument("id", type=int)
    c.add_argument("signed", nargs="+", help="signed PSBT files (BTC, two cosigners) or the signed tx file (EVM)")
    c.set_defaults(run=cold_submit)
    tsub.add_parser(
        "reconcile", help="settle interrupted and sent transfers from the venues' withdrawal history"
    ).set_defaults(run=reconcile)
    ls = tsub.add_parser("list", help="transfers, oldest first")
    ls.add_argument("--state", action="append", default=[], help="only these states (repeatable)")
    ls.set_defaults(run=list_)
