"""`braid db ...`: the database's schema revision, upgrades, and (for developers) new revisions.

Start-up upgrades the database by itself (``wallets.migrations.prepare``); ``braid db upgrade`` does the same
on request, e.g. before rolling out a new version. Each command prints one JSON object; a database whose
schema is newer than this Braid, or that cannot be adopted, exits with status 2 and the reason on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from config.settings import Settings
from gateway.accounts_commands import emit_json
from wallets import migrations


def _state(revision: str | None, head: str) -> str:
    if revision == head:
        return "current"
    if revision is None:
        return "unversioned"  # empty, or made by Braid 0.1.0: the next start or `braid db upgrade` adopts it
    return "behind" if revision in migrations.revisions() else "newer than this Braid"


def current(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    revision = migrations.current(settings.database_url, schema=settings.database_schema)
    head = migrations.head()
    emit_json(out, {"revision": revision, "head": head, "state": _state(revision, head)})
    return 0


def upgrade(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    before, after = migrations.upgrade(
        settings.database_url, schema=settings.database_schema, sqlite_synchronous=settings.sqlite_synchronous
    )
    emit_json(out, {"from": before, "to": after, "changed": before != after})
    return 0


def revision(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    path = migrations.new_revision(args.message, autogenerate=not args.empty)
    emit_json(out, {"file": str(path)})
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="the database's schema: current revision and upgrades")
    dsub = db.add_subparsers(dest="db_command", required=True)
    p = dsub.add_parser("current", help="the database's schema revision and this Braid's newest")
    p.set_defaults(run=current)
    p = dsub.add_parser("upgrade", help="migrate the database to this Braid's schema (start-up does it too)")
    p.set_defaults(run=upgrade)
    p = dsub.add_parser("revision", help="developers: write a new migration from the model changes (source tree)")
    p.add_argument("-m", "--message", required=True, help="what the change is, e.g. 'add custody tables'")
    p.add_argument("--empty", action="store_true", help="an empty revision to fill in by hand (no comparison)")
    p.set_defaults(run=revision)
