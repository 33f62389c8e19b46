"""Bring a database to the schema this code knows, through Alembic driven from code (no alembic.ini).

``prepare(engine, ...)`` runs wherever a ``Store`` opens: one query of the version table when the database
is current (the usual case, cheap enough for tests that open hundreds of databases), otherwise an upgrade
in one transaction (PostgreSQL: an advisory lock per schema; SQLite: ``BEGIN IMMEDIATE``), so several
processes starting together migrate once. A database whose revision this code does not know (made by a
newer Braid) is refused with ``SchemaTooNew`` and left untouched.

A database made by Braid 0.1.0 (tables from ``create_all``, no version table) is compared with the frozen
baseline revision, table by table; if it matches it is stamped as the baseline, then upgraded. Anything else
(some tables missing, a column differing) is refused with the list of differences.
"""

from __future__ import annotations

import argparse
import ast
import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, create_engine, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from wallets.migrations.registry import table_names

# Alembic is imported only to migrate (it takes a third of a second): start-up on a current database reads
# the revision files' headers instead.
if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = structlog.get_logger(__name__)

HERE = Path(__file__).resolve().parent
BASELINE = "0001"
VERSION_TABLE = "alembic_version"
# The version table as Core sees it: through a Store's engine its schema is translated like the others'.
_version = Table(VERSION_TABLE, MetaData(), Column("version_num", String(32), primary_key=True))


class SchemaError(Exception):
    """The database's schema cannot be brought to this code's (nothing was changed)."""


class SchemaTooNew(SchemaError):
    """The database was migrated by a newer Braid than this one."""


@functools.cache
def script() -> ScriptDirectory:
    """The revisions shipped in this package, as Alembic reads them (once per process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(HERE))


_HEADER_LINE = re.compile(r"^(revision|down_revision)\s*=\s*(.+?)\s*$", re.MULTILINE)


@functools.cache
def revisions() -> dict[str, str | None]:
    """Each shipped revision and the one it follows, from the files' headers (no Alembic import)."""
    found: dict[str, str | None] = {}
    for path in sorted((HERE / "versions").glob("[!_]*.py")):
        fields = dict(_HEADER_LINE.findall(path.read_text(encoding="utf-8")))
        rev, down = ast.literal_eval(fields["revision"]), ast.literal_eval(fields.get("down_revision", "None"))
        if not isinstance(rev, str) or not (down is None or isinstance(down, str)):
            raise SchemaError(f"{path.name}: revision and down_revision must be strings (one linear history)")
        found[rev] = down
    return found


def head() -> str:
    """The newest revision this code knows (the one no other revision follows)."""
    revs = revisions()
    heads = sorted(set(revs) - {down for down in revs.values() if down is not None})
    if len(heads) != 1:
        raise SchemaError(f"the migrations have {len(heads)} heads {heads}; they must form one line")
    return heads[0]


def _config(conn: Connection | None = None, schema: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config(cmd_opts=argparse.Namespace(quiet=True, x=None))  # Braid reports what happened, not Alembic
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = conn
    cfg.attributes["schema"] = schema
    return cfg


def _check_schema_name(schema: str | None) -> None:
    if schema is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]{0,62}", schema):
        raise ValueError(f"database schema name {schema!r}: use letters, digits, _ and $ only")


def _engine(url: str, sqlite_synchronous: str) -> Engine:
    # the same connection set-up as the writer's (WAL, BEGIN IMMEDIATE)
    from wallets.db import create_db_engine

    return create_db_engine(url, writer=True, sqlite_synchronous=sqlite_synchronous)


@contextmanager
def _migrating(url: str, schema: str | None, sqlite_synchronous: str) -> Iterator[Connection]:
    """A connection in one transaction, holding the database's migration lock, tables resolved in ``schema``."""
    _check_schema_name(schema)
    engine = _engine(url, sqlite_synchronous)
    try:
        with engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE, the write lock
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(
                    "SELECT pg_advisory_xact_lock(hashtext(%(k)s))", {"k": f"braid-migrations:{schema or ''}"}
                )
                if schema:
                    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                    conn.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
            yield conn
    finally:
        engine.dispose()


def _revision(conn: Connection, schema: str | None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    heads = MigrationContext.configure(conn, opts={"version_table_schema": schema}).get_current_heads()
    if len(heads) > 1:
        raise SchemaError(f"the database has several revisions {heads}")
    return heads[0] if heads else None


def _refuse_unknown(revision: str | None, where: str) -> None:
    if revision is None:
        return
    if revision not in revisions():
        raise SchemaTooNew(
            f"the database at {where} has schema revision {revision!r}, which this version of Braid does not "
            f"know (its newest is {head()!r}): it was upgraded by a newer Braid. Run that version, or restore "
            "a backup made before its upgrade; nothing was changed."
        )


def baseline_differences(conn: Connection, schema: str | None) -> list[str]:
    """How the tables in ``schema`` differ from the baseline revision's (empty: they match)."""
    expected: MetaData = script().get_revision(BASELINE).module.metadata()
    insp = inspect(conn)
    present = set(insp.get_table_names(schema=schema))
    problems: list[str] = []
    for table in expected.sorted_tables:
        name = table.name
        if name not in present:
            problems.append(f"table {name} is missing")
            continue
        have = {c["name"]: c for c in insp.get_columns(name, schema=schema)}
        if list(have) != [c.name for c in table.columns]:
            problems.append(f"{name} has columns {list(have)}, expected {[c.name for c in table.columns]}")
            continue
        for col in table.columns:
            got, want = _type_text(have[col.name]["type"], conn), _type_text(col.type, conn)
            if got != want:
                problems.append(f"{name}.{col.name} is {got}, expected {want}")
            if not col.primary_key and bool(have[col.name]["nullable"]) != bool(col.nullable):
                problems.append(f"{name}.{col.name} nullable is {have[col.name]['nullable']}, expected {col.nullable}")
        pk = insp.get_pk_constraint(name, schema=schema)["constrained_columns"]
        if pk != [c.name for c in table.primary_key.columns]:
            problems.append(f"{name} has primary key {pk}, expected {[c.name for c in table.primary_key.columns]}")
        indexes = {i["name"]: i for i in insp.get_indexes(name, schema=schema)}
        for ix in table.indexes:
            got_ix = indexes.get(ix.name)
            want_cols = [c.name for c in ix.columns]
            if got_ix is None:
                problems.append(f"index {ix.name} is missing")
            elif got_ix["column_names"] != want_cols or bool(got_ix["unique"]) != bool(ix.unique):
                problems.append(
                    f"index {ix.name} is on {got_ix['column_names']} (unique={got_ix['unique']}), "
                    f"expected {want_cols} (unique={ix.unique})"
                )
    return problems


def _type_text(type_: Any, conn: Connection) -> str:
    return str(type_.compile(dialect=conn.dialect)).replace(" ", "")


def _adopt_or_create(conn: Connection, schema: str | None, where: str) -> None:
    """A database without a version table: empty (upgrade creates everything) or 0.1.0's (stamp it)."""
    ours = set(inspect(conn).get_table_names(schema=schema)) & table_names()
    if not ours:
        return
    from alembic import command

    problems = baseline_differences(conn, schema)
    if problems:
        raise SchemaError(
            f"the database at {where} has Braid tables but no schema revision, and they do not match the "
            f"tables of Braid 0.1.0, so it cannot be adopted; nothing was changed: {'; '.join(problems)}"
        )
    command.stamp(_config(conn, schema), BASELINE)
    log.info("db.adopted", database=where, revision=BASELINE)


def _where(url: str, schema: str | None) -> str:
    shown = make_url(url).render_as_string(hide_password=True)
    return f"{shown} (schema {schema})" if schema else shown


def upgrade(url: str, *, schema: str | None = None, sqlite_synchronous: str = "FULL") -> tuple[str | None, str]:
    """Migrate the database to this code's newest revision; return (revision before, revision now)."""
    where = _where(url, schema)
    with _migrating(url, schema, sqlite_synchronous) as conn:
        before = _revision(conn, schema)
        _refuse_unknown(before, where)
        if before is None:
            _adopt_or_create(conn, schema, where)
        target = head()
        if before != target:
            from alembic import command

            command.upgrade(_config(conn, schema), "head")
            log.info("db.upgraded", database=where, revision_from=before, revision_to=target)
        return before, target


def current(url: str, *, schema: str | None = None) -> str | None:
    """The database's revision (None: no version table), without changing anything."""
    _check_schema_name(schema)
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and not Path(u.database or "").is_file():
        return None  # do not create the file by looking
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return _revision(conn, schema)
    finally:
        engine.dispose()


def prepare(engine: Engine, url: str, *, schema: str | None = None, sqlite_synchronous: str = "FULL") -> None:
    """At start-up: nothing if the database is at this code's revision, else ``upgrade`` (or refuse).

    ``engine`` is the store's own (its schema translation places the version table in ``schema``).
    """
    try:
        with engine.connect() as conn:
            found = conn.execute(select(_version.c.version_num)).scalars().all()
    except DBAPIError:  # no version table yet
        found = []
    if found == [head()]:
        return
    upgrade(url, schema=schema, sqlite_synchronous=sqlite_synchronous)


def new_revision(message: str, *, autogenerate: bool = True) -> Path:
    """Write a new revision file in this package's ``versions/`` (a developer's command, in a source tree).

    With ``autogenerate`` its operations are Alembic's comparison of the models (``registry``) with a scratch
    SQLite database at the current head; read and correct them before committing (renames look like a drop
    and an add; check PostgreSQL-only details by hand).
    """
    import tempfile

    from alembic import command

    versions = HERE / "versions"
    numbers = [int(r) for r in revisions() if r.isdigit()]
    rev_id = f"{max(numbers, default=0) + 1:04d}"
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40] or "change"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/scratch.db"
        upgrade(url)
        engine = _engine(url, "OFF")
        try:
            with engine.begin() as conn:
                scripts = command.revision(
                    _config(conn),
                    message,
                    autogenerate=autogenerate,
                    rev_id=rev_id,
                    head="head",
                    version_path=str(versions),
                )
        finally:
            engine.dispose()
    first = scripts[0] if isinstance(scripts, list) else scripts
    assert first is not None
    path = Path(first.path)
    final = path.with_name(f"{rev_id}_{slug}.py")
    path.rename(final)
    script.cache_clear()
    revisions.cache_clear()
    return final


def ensure_current(engine: Engine, schema: str | None = None) -> None:
    """``prepare`` for a package that opens its own engine on Braid's database (custody, chains, compliance):
    its tables come from the same linear history as the ledger's, never from ``create_all``."""
    prepare(engine, engine.url.render_as_string(hide_password=False), schema=schema)
