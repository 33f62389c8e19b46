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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TextIO

from compliance import BackOffice
from compliance.operators import APPROVE_WITHDRAWAL, REQUEST_WITHDRAWAL, OperatorError
from config.custody import custody_dir
from config.settings import Settings
from connectors.binance.capital import BinanceCapital
from connectors.binance.trading import BinanceTrading
from connectors.capital import VenueCapital
from connectors.errors import VenueError
from connectors.htx.capital import HtxCapital
from connectors.htx.trading import HtxTrading
from connectors.kraken.capital import KrakenCapital
from connectors.kraken.trading import KrakenTrading
from connectors.trading import TradingVenue
from connectors.trading import decimal_text as _s
from gateway.accounts_commands import emit_json
from treasury import AuditSink, Authorizer, TableApprovals, Transfer, Treasury, TreasuryError
from wallets import WalletError, migrations
from wallets.custody import PublicWallets
from wallets.custody.networks import BTC_PARAMS, NETWORKS
from wallets.db import create_db_engine


def _adapters(settings: Settings) -> tuple[dict[str, TradingVenue], dict[str, VenueCapital]]:
    trading: dict[str, TradingVenue] = {}
    capital: dict[str, VenueCapital] = {}
    keys = settings.treasury.kraken_withdraw_keys
    for name, account in settings.treasury.accounts.items():
        secret = account.secret.get_secret_value()
        url, timeout = account.rest_url, settings.http_timeout_s
        if name == "binance":
            b = BinanceTrading(account.api_key, secret, [], base_url=url, timeout_s=timeout)
            trading[name], capital[name] = b, BinanceCapital(b)
        elif name == "kraken":
            k = KrakenTrading(account.api_key, secret, [], base_url=url, timeout_s=timeout)
            trading[name], capital[name] = k, KrakenCapital(k, keys)
        elif name == "htx":
            h = HtxTrading(account.api_key, secret, [], base_url=url, timeout_s=timeout)
            trading[name], capital[name] = h, HtxCapital(h)
        else:
            raise WalletError(f"treasury.accounts names an unknown venue {name!r} (binance, kraken or htx)")
    return trading, capital


def _hot_addresses(settings: Settings) -> dict[str, str]:
    """Configured hot addresses, else the hot wallet's first address per network from the custody public keys."""
    if settings.treasury.hot_addresses:
        return dict(settings.treasury.hot_addresses)
    path = custody_dir(settings.custody, settings.data_dir) / "api"
    if not path.exists():
        return {}
    public = PublicWallets.load(path)
    return {network: public.hot_address(network) for network in NETWORKS}


# What each treasury action needs from the operator's role (the same permissions as client withdrawals).
PERMISSIONS = {"propose": REQUEST_WITHDRAWAL, "approve": APPROVE_WITHDRAWAL, "reject": APPROVE_WITHDRAWAL}
CLI_IP = "127.0.0.1"  # actions at this machine's command line


def operator_check(bo: BackOffice) -> Authorizer:
    """Only an enabled operator whose role carries the permission may act (a refusal is audited)."""

    def check(actor: str, action: str, target: str) -> None:
        try:
            bo.operators.authorize(bo.operators.get(actor), PERMISSIONS[action], CLI_IP)
        except OperatorError as exc:
            raise TreasuryError(f"treasury {action} refused: {exc}") from None

    return check


def audit_to(bo: BackOffice) -> AuditSink:
    """Each treasury action that took effect goes to the back office's audit log."""

    def record(actor: str, action: str, target: str, details: Mapping[str, str]) -> None:
        bo.audit.record(actor, CLI_IP, action, target, details)

    return record


@asynccontextmanager
async def open_treasury(settings: Settings) -> AsyncIterator[Treasury]:
    """The treasury on the configured database and venue accounts (closed again on exit)."""
    migrations.upgrade(
        settings.database_url, schema=settings.database_schema, sqlite_synchronous=settings.sqlite_synchronous
    )
    engine = create_db_engine(
        settings.database_url, schema=settings.database_schema, sqlite_synchronous=settings.sqlite_synchronous
    )
    trading, capital = _adapters(settings)
    t = settings.treasury
    bo = BackOffice.from_settings(settings)
    try:
        # No chain-balance source is wired to the command line yet: wallets=None shows venues only, and refills
        # from the hot wallet are not planned; no hot wallet sender either, so hot -> venue transfers are refused.
        yield Treasury(
            engine,
            balances=trading,
            capital=capital,
            wallets=None,
            hot_addresses=_hot_addresses(settings),
            approvals=TableApprovals(engine),
            required_approvals=t.required_approvals,
            targets=t.targets,
            networks=t.networks,
            min_transfer=t.min_transfer,
            btc=BTC_PARAMS[settings.custody.btc_network],
            authorize=operator_check(bo),
            audit=audit_to(bo),
        )
    finally:
        bo.close()
        for venue in trading.values():
            await venue.close()
        engine.dispose()


def transfer_json(t: Transfer) -> dict[str, Any]:
    return {
        "id": t.id,
        "kind": t.kind,
        "venue": t.venue,
        "asset": t.asset,
        "network": t.network,
        "amount": _s(t.amount),
        "address": t.address,
        "state": t.state,
        "proposer": t.proposer,
        "approvers": list(t.approvers),
        "reason": t.reason,
        "clientId": t.client_id,
        "venueRef": t.venue_ref,
        "txId": t.tx_id,
        "error": t.error,
        "created": t.created,
        "updated": t.updated,
    }


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
