"""`braid operators ...`: back-office operator accounts (create, list, set-role, disable, reset-totp, login).

The command line runs with direct access to the database, so its actions are audited as ``cli:<os user>``
from ``local``. ``create`` and ``reset-totp`` print the TOTP provisioning URI and the recovery codes once.
Passwords are read from standard input (``--password-stdin``) or prompted for, never taken as an argument.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any, TextIO

import orjson

from compliance import ROLES, BackOffice, OperatorError
from compliance.totp import SecondFactorError
from config.settings import Settings

LOCAL = "local"


def cli_actor() -> str:
    """Who the audit log names for an action taken at this machine's command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "cli:unknown"


def emit(out: TextIO, obj: dict[str, Any]) -> None:
    out.write(orjson.dumps(obj).decode() + "\n")


def with_backoffice(settings: Settings, body: Callable[[BackOffice], int | None]) -> int:
    """Open the back office on the configured database, run ``body``, report a refusal as exit 2."""
    bo = BackOffice.from_settings(settings)
    try:
        return int(body(bo) or 0)
    except (OperatorError, SecondFactorError) as exc:
        print(f"braid: {exc}", file=sys.stderr)
        return 2
    finally:
        bo.close()


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise OperatorError("the passwords differ")
    return first


def create(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body(bo: BackOffice) -> None:
        op, enrolment = bo.operators.create(
            args.username, _password(args), args.role, ip_allowlist=args.ip or "", actor=cli_actor(), ip=LOCAL
        )
        emit(out, {**op.as_dict(), "totp": enrolment.as_dict()})  # the only time the secret and codes are shown

    return with_backoffice(settings, body)


def list_operators(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body(bo: BackOffice) -> None:
        for op in bo.operators.all():
            emit(out, op.as_dict())

    return with_backoffice(settings, body)


def set_role(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body(bo: BackOffice) -> None:
        emit(out, bo.operators.set_role(args.username, args.role, actor=cli_actor(), ip=LOCAL).as_dict())

    return with_backoffice(settings, body)


def disable(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body(bo: BackOffice) -> None:
        emit(out, bo.operators.disable(args.username, actor=cli_actor(), ip=LOCAL, disabled=not args.enable).as_dict())

    return with_backoffice(settings, body)


def reset_totp(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body(bo: BackOffice) -> None:
        emit(
            out,
            {
                "username": args.username,
                "totp": bo.operators.reset_totp(args.username, actor=cli_actor(), ip=LOCAL).as_dict(),
            },
        )

    return with_backoffice(settings, body)


def set_ips(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body(bo: BackOffice) -> None:
        emit(out, bo.operators.set_ip_allowlist(args.username, args.ip, actor=cli_actor(), ip=LOCAL).as_dict())

    return with_backoffice(settings, body)


def login(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body(bo: BackOffice) -> None:
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
        op = bo.operators.login(args.username, password, args.totp, args.ip)
        emit(out, {**op.as_dict(), "permissions": sorted(op.permissions)})

    return with_backoffice(settings, body)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    ops = sub.add_parser("operators", help="back-office operators: roles, TOTP, IP allow-lists (audited)")
    osub = ops.add_subparsers(dest="operators_command", required=True)
    roles = sorted(ROLES)
    p = osub.add_parser("create", help="a new operator; prints its TOTP provisioning URI and recovery codes once")
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=roles)
    p.add_argument("--ip", help="comma-separated IP allow-list (addresses or networks; default any)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    p.set_defaults(run=create)
    p = osub.add_parser("list", help="operators as JSON lines")
    p.set_defaults(run=list_operators)
    p = osub.add_parser("set-role", help="change an operator's role")
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=roles)
    p.set_defaults(run=set_role)
    p = osub.add_parser("set-ips", help="replace an operator's IP allow-list ('' allows any)")
    p.add_argument("--username", required=True)
    p.add_argument("--ip", required=True)
    p.set_defaults(run=set_ips)
    p = osub.add_parser("disable", help="disable an operator (--enable to undo)")
    p.add_argument("--username", required=True)
    p.add_argument("--enable", action="store_true")
    p.set_defaults(run=disable)
    p = osub.add_parser("reset-totp", help="a new TOTP secret and recovery codes (printed once)")
    p.add_argument("--username", required=True)
    p.set_defaults(run=reset_totp)
    p = osub.add_parser("login", help="check an operator's password, TOTP code and address (audited)")
    p.add_argument("--username", required=True)
    p.add_argument("--totp", required=True, help="the current code, or a recovery code")
    p.add_argument("--ip", default="127.0.0.1", help="the address the login comes from")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(run=login)
