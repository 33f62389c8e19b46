"""`braid kyc ...`: set and show an account's verification tier, rotate the personal-data key, and answer data
subject requests (export, erase), against the configured database. Each command prints JSON lines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import TextIO

from compliance import BackOffice, Kyc, KycError, KycStore, OperatorError
from compliance.operators import SET_TIER
from config.settings import Settings
from gateway.accounts_commands import emit_json
from wallets import load_master_key


def open_kyc(settings: Settings, backoffice: BackOffice | None = None) -> Kyc:
    """KYC over the configured database (migrated if needed) with the configured master key; tier changes go
    into ``backoffice``'s audit log when one is given."""
    master = load_master_key(
        settings.master_key.get_secret_value() if settings.master_key else None, settings.master_key_file
    )

    def no_price(asset: str) -> Decimal | None:
        return None  # the commands here never value amounts

    store = KycStore(settings.database_url, master, schema=settings.database_schema)
    if backoffice is None:
        return Kyc(settings.kyc, store, no_price)
    return Kyc(settings.kyc, store, no_price, audit=backoffice.audit.record)


def _run(settings: Settings, body: Callable[[Kyc], None], *, actor: str | None = None, permission: str = "") -> int:
    """Open KYC (audited in the back office) and run ``body``; with ``actor``, only if that operator's role holds
    ``permission`` (``compliance.operators.authorize``, from this machine: ``local``)."""
    backoffice = BackOffice.from_settings(settings)
    kyc = open_kyc(settings, backoffice)
    try:
        if actor is not None:
            ops = backoffice.operators
            ops.authorize(ops.get(actor), permission, "local")
        body(kyc)
    except (KycError, OperatorError) as exc:
        print(f"braid: {exc}", file=sys.stderr)
        return 2
    finally:
        kyc.store.close()
        backoffice.close()
    return 0


def set_tier(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    w = out or sys.stdout
    return _run(
        settings,
        lambda k: emit_json(w, k.set_tier(args.account, args.tier, reason=args.reason, actor=args.actor, ip="local")),
        actor=args.actor,
        permission=SET_TIER,
    )


def show(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    w = out or sys.stdout

    def body(k: Kyc) -> None:
        tier = k.tier(args.account)
        emit_json(
            w,
            {
                "account": args.account,
                "tier": tier,
                "limits": k.settings.limits(tier).model_dump(mode="json"),
                "history": k.store.history(args.account),
            },
        )

    return _run(settings, body)


def rotate_key(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    w = out or sys.stdout
    return _run(settings, lambda k: emit_json(w, k.store.rotate()))


def export(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    w = out or sys.stdout
    return _run(settings, lambda k: emit_json(w, k.export(args.account)))


def erase(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    w = out or sys.stdout
    return _run(settings, lambda k: emit_json(w, k.erase(args.account, actor=args.actor)))


def add_parsers(sub: argparse._SubParsersAction) -> None:
    kp = sub.add_parser("kyc", help="KYC tiers, personal data (export, erase) and its encryption key")
    ksub = kp.add_subparsers(dest="kyc_command", required=True)
    p = ksub.add_parser("set-tier", help="set an account's verification tier by hand (recorded with the reason)")
    p.add_argument("--account", type=int, required=True)
    p.add_argument("--tier", type=int, required=True, choices=(0, 1, 2, 3))
    p.add_argument("--reason", required=True)
    p.add_argument("--actor", required=True, help="the operator making the change (a role that may set tiers)")
    p.set_defaults(run=set_tier)
    p = ksub.add_parser("show", help="an account's tier, its limits and the tier history")
    p.add_argument("--account", type=int, required=True)
    p.set_defaults(run=show)
    p = ksub.add_parser("rotate-key", help="re-encrypt all personal data under a new key, then drop the old keys")
    p.set_defaults(run=rotate_key)
    p = ksub.add_parser("export", help="everything held about the person, decrypted (data subject access)")
    p.add_argument("--account", type=int, required=True)
    p.set_defaults(run=export)
    p = ksub.add_parser("erase", help="erase personal data; keeps the tier history and audit entries")
    p.add_argument("--account", type=int, required=True)
    p.add_argument("--actor", default="cli", help="the operator making the request")
    p.set_defaults(run=erase)
