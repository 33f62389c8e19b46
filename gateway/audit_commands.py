"""`braid audit verify|list`: check the hash chain of the audit log, and read it."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TextIO

import orjson

from compliance import AuditLog
from compliance.operator_models import open_engine
from config.settings import Settings


def _since(text: str) -> int:
    """Milliseconds since the epoch, or an ISO date/time (UTC if no zone is given)."""
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a time (ms or ISO 8601): {text!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _open(settings: Settings) -> AuditLog:
    return AuditLog(open_engine(settings.database_url, settings.database_schema))


def verify(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    log = _open(settings)
    try:
        count, problems = log.verify()
    finally:
        log.close()
    for p in problems:
        out.write(orjson.dumps({"seq": p.seq, "problem": p.what}).decode() + "\n")
    out.write(orjson.dumps({"ok": not problems, "entries": count, "problems": len(problems)}).decode() + "\n")
    if problems:
        print(f"braid: audit log fails verification at {', '.join(str(p) for p in problems[:5])}", file=sys.stderr)
    return 1 if problems else 0


def list_entries(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    log = _open(settings)
    try:
        for e in log.entries(since_ms=args.since, actor=args.actor, action=args.action, limit=args.limit):
            d = e.as_dict()
            d["time"] = datetime.fromtimestamp(e.ts / 1000, UTC).isoformat(timespec="milliseconds")
            d["details"] = orjson.loads(e.details)
            out.write(orjson.dumps(d).decode() + "\n")
    finally:
        log.close()
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser("audit", help="the hash-chained audit log of operator and security actions")
    asub = audit.add_subparsers(dest="audit_command", required=True)
    p = asub.add_parser(
        "verify", help="check every entry's hash and link; exit 1 naming any edited, deleted or moved entry"
    )
    p.set_defaults(run=verify)
    p = asub.add_parser("list", help="entries as JSON lines, oldest first")
    p.add_argument("--since", type=_since, help="from this time on (ms since the epoch or ISO 8601, UTC by default)")
    p.add_argument("--actor", help="only this actor (an operator name, cli:<user>, api:<key>...)")
    p.add_argument("--action", help="only this action (e.g. operator.login, apikey.create)")
    p.add_argument("--limit", type=int)
    p.set_defaults(run=list_entries)
