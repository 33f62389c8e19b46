"""`braid accounts ...`: tenants, sub-accounts, API keys and admin funding, against the configured database.

Each command prints one JSON object per line. Funding writes a credit from the ``external`` system account
(double entry); it is safe while ``braid serve`` runs on the same database (the server re-reads a balance
row it has not seen change before refusing an order, and every balance change is checked in the database).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

import orjson

from compliance import BackOffice, SecondFactorError
from compliance.totp import account_subject
from config.settings import Settings
from gateway.operators_commands import LOCAL, cli_actor
from wallets import WalletError, Wallets


def _dec(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise argparse.ArgumentTypeError(f"not a decimal number: {text!r}") from exc
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _s(v: Decimal) -> str:
    return format(v, "f")


def emit_json(out: TextIO, obj: dict[str, Any]) -> None:
    """Write one JSON object as one line (what the `braid accounts` and `braid db` commands print)."""
    out.write(orjson.dumps(obj).decode() + "\n")


def _run(settings: Settings, body: Callable[[Wallets], Awaitable[None]]) -> int:
    async def go() -> None:
        w = Wallets.from_settings(settings)
        try:
            await w.start()
            await body(w)
        finally:
            await w.close()

    try:
        asyncio.run(go())
    except (WalletError, SecondFactorError) as exc:
        print(f"braid: {exc}", file=sys.stderr)
        return 2
    return 0


def _backoffice(settings: Settings, body: Callable[[Wallets, BackOffice], Awaitable[None]]) -> int:
    """``_run`` with the back office (audit log, second factors) open too."""

    async def go(w: Wallets) -> None:
        bo = BackOffice.from_settings(settings)
        try:
            await body(w, bo)
        finally:
            bo.close()

    return _run(settings, go)


def create_tenant(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    async def body(w: Wallets) -> None:
        t = await w.accounts.create_tenant(args.name, args.markup)
        emit_json(
            out,
            {"tenant": t.tenant_id, "name": t.name, "markup": _s(t.markup_rate), "brokerAccount": t.broker_account_id},
        )

    return _run(settings, body)


def set_markup(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    async def body(w: Wallets, bo: BackOffice) -> None:
        before = w.accounts.tenant(args.tenant).markup_rate
        t = await w.accounts.set_markup(args.tenant, args.rate)
        await bo.audit.arecord(
            cli_actor(), LOCAL, "markup.set", f"tenant:{t.tenant_id}", {"from": _s(before), "to": _s(t.markup_rate)}
        )
        emit_json(out, {"tenant": t.tenant_id, "markup": _s(t.markup_rate)})

    return _backoffice(settings, body)


def create_account(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    async def body(w: Wallets) -> None:
        a = await w.accounts.create_account(args.tenant, args.name)
        emit_json(out, {"account": a.account_id, "tenant": a.tenant_id, "name": a.name})

    return _run(settings, body)


def create_key(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    async def body(w: Wallets, bo: BackOffice) -> None:
        acc = w.accounts.account(args.account)
        assert acc.tenant_id is not None
        await asyncio.to_thread(bo.factors.require_second_factor, acc.account_id, args.totp)
        key, secret = await w.keys.create_key(
            acc.tenant_id,
            acc.account_id,
            can_read=not args.no_read,
            can_trade=args.trade,
            ip_allowlist=args.ip or "",
            label=args.label,
        )
        await bo.audit.arecord(
            cli_actor(),
            LOCAL,
            "apikey.create",
            f"account:{acc.account_id}",
            {
                "apiKey": key.api_key,
                "canTrade": key.can_trade,
                "canRead": key.can_read,
                "ipAllowlist": list(key.ip_allowlist),
            },
        )
        emit_json(out, {**key.as_dict(), "secretKey": secret})  # the only time the secret is shown

    return _backoffice(settings, body)


def enable_2fa(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    """Enrol an account in TOTP: prints the provisioning URI and recovery codes once; pending until confirmed."""
    out = out or sys.stdout

    async def body(w: Wallets, bo: BackOffice) -> None:
        acc = w.accounts.account(args.account)
        subject = account_subject(acc.account_id)
        if bo.factors.is_active(subject):
            await asyncio.to_thread(bo.factors.verify, subject, args.totp or "")  # re-enrolling needs the old factor
        enrolment = await asyncio.to_thread(bo.factors.enrol, subject, acc.name)
        await bo.audit.arecord(cli_actor(), LOCAL, "2fa.enrol", subject, {})
        emit_json(out, {"account": acc.account_id, "status": "pending", **enrolment.as_dict()})

    return _backoffice(settings, body)


def confirm_2fa(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    """The first code from the authenticator turns the account's second factor on."""
    out = out or sys.stdout

    async def body(w: Wallets, bo: BackOffice) -> None:
        acc = w.accounts.account(args.account)
        subject = account_subject(acc.account_id)
        await asyncio.to_thread(bo.factors.verify, subject, args.totp)
        await bo.audit.arecord(cli_actor(), LOCAL, "2fa.confirm", subject, {})
        emit_json(out, {"account": acc.account_id, "status": bo.factors.status(subject)})

    return _backoffice(settings, body)


def fund(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    async def body(w: Wallets) -> None:
        await w.ledger.credit(args.account, args.asset, args.amount, args.ref or "admin-fund")
        b = w.ledger.balance(args.account, args.asset)
        emit_json(out, {"account": args.account, "asset": b.asset, "free": _s(b.free), "locked": _s(b.locked)})

    return _run(settings, body)


def list_all(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    async def body(w: Wallets) -> None:
        tenants = [w.accounts.tenant(args.tenant)] if args.tenant is not None else w.accounts.tenants()
        for t in tenants:
            emit_json(
                out,
                {
                    "tenant": t.tenant_id,
                    "name": t.name,
                    "markup": _s(t.markup_rate),
                    "brokerAccount": t.broker_account_id,
                },
            )
            for a in w.accounts.accounts_of(t.tenant_id, include_broker=True):
                emit_json(
                    out,
                    {
                        "account": a.account_id,
                        "tenant": t.tenant_id,
                        "kind": a.kind,
                        "name": a.name,
                        "keys": len(w.keys.list_keys(t.tenant_id, a.account_id)),
                        "balances": {
                            b.asset: {"free": _s(b.free), "locked": _s(b.locked)}
                            for b in w.ledger.balances(a.account_id).values()
                        },
                    },
                )

    return _run(settings, body)


def check(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    result: list[bool] = []

    async def body(w: Wallets) -> None:
        sheet = await w.ledger.balance_sheet()
        result.append(sheet.ok)
        emit_json(
            out,
            {"ok": sheet.ok, "postings": sheet.postings, "transfers": sheet.transfers, "problems": sheet.problems[:50]},
        )

    code = _run(settings, body)
    return code or (0 if result and result[0] else 1)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    acc = sub.add_parser("accounts", help="tenants, sub-accounts, API keys and funding (the durable ledger)")
    asub = acc.add_subparsers(dest="accounts_command", required=True)
    p = asub.add_parser("create-tenant", help="a broker, with its own account for the markup it earns")
    p.add_argument("--name", required=True)
    p.add_argument(
        "--markup", type=_dec, default=Decimal(0), help="commission markup, fraction of each fill (e.g. 0.0005)"
    )
    p.set_defaults(run=create_tenant)
    p = asub.add_parser("set-markup", help="change a broker's commission markup")
    p.add_argument("--tenant", type=int, required=True)
    p.add_argument("--rate", type=_dec, required=True)
    p.set_defaults(run=set_markup)
    p = asub.add_parser("create-account", help="a sub-account (end user) of a tenant")
    p.add_argument("--tenant", type=int, required=True)
    p.add_argument("--name", required=True, help="e.g. the user's email; unique within the tenant")
    p.set_defaults(run=create_account)
    p = asub.add_parser("create-key", help="an API key for an account (prints the secret once)")
    p.add_argument("--account", type=int, required=True)
    p.add_argument("--trade", action="store_true", help="allow placing and cancelling orders")
    p.add_argument("--no-read", action="store_true", help="deny reads")
    p.add_argument("--ip", help="comma-separated IP allowlist (addresses or networks; default any)")
    p.add_argument("--label", default="")
    p.add_argument("--totp", help="a current TOTP (or recovery) code; required when the account has 2FA on")
    p.set_defaults(run=create_key)
    p = asub.add_parser("enable-2fa", help="enrol an account in TOTP (prints the URI and recovery codes once)")
    p.add_argument("--account", type=int, required=True)
    p.add_argument("--totp", help="a current code of the existing factor, when re-enrolling")
    p.set_defaults(run=enable_2fa)
    p = asub.add_parser("confirm-2fa", help="turn an enrolment on with the first code from the authenticator")
    p.add_argument("--account", type=int, required=True)
    p.add_argument("--totp", required=True)
    p.set_defaults(run=confirm_2fa)
    p = asub.add_parser("fund", help="credit an account (admin; until deposits exist)")
    p.add_argument("--account", type=int, required=True)
    p.add_argument("--asset", required=True)
    p.add_argument("--amount", type=_dec, required=True)
    p.add_argument("--ref", help="reference stored with the postings (default admin-fund)")
    p.set_defaults(run=fund)
    p = asub.add_parser("list", help="tenants, accounts, key counts and balances as JSON lines")
    p.add_argument("--tenant", type=int)
    p.set_defaults(run=list_all)
    p = asub.add_parser("check", help="verify the ledger: balances equal postings, transfers sum to zero")
    p.set_defaults(run=check)
