"""Schema migrations, on SQLite and PostgreSQL: a database made by Braid 0.1.0 (before migrations) is adopted
and upgraded with nothing lost; a fresh database gets the newest revision; one newer than the code is refused
and left alone; upgrading twice changes nothing; the migrations and the models describe the same tables.

"The previous release" is frozen test data in ``data/release-0.1.0/``: the ``CREATE`` statements 0.1.0's
``create_all`` issued on each database, and the rows of a ledger it wrote through its own API (a tenant, two
clients, an API key, funding, a buy filled in two trades on a venue, an open sell with its reservation, a
cancelled order). Later migrations change the models, never these files.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr
from sqlalchemy import Connection, create_engine, text

from config.settings import Settings, get_settings
from gateway import cli
from tests.wallets.conftest import MASTER, Db
from wallets import OrderRecord, migrations, models
from wallets.ledger import check_sheet
from wallets.migrations import SchemaError, SchemaTooNew, registry

OLD = Path(__file__).parent / "data" / "release-0.1.0"
ROWS: dict[str, dict[str, Any]] = json.loads((OLD / "rows.json").read_text())


@contextmanager
def _raw(db: Db) -> Iterator[Connection]:
    """A plain connection (no Braid code in the way) in one transaction, tables resolved in the test's schema."""
    engine = create_engine(db.url)
    try:
        with engine.begin() as conn:
            if db.schema:
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"')
                conn.exec_driver_sql(f'SET LOCAL search_path TO "{db.schema}"')
            yield conn
    finally:
        engine.dispose()


def _make_old_release(db: Db) -> None:
    """The database Braid 0.1.0 left: its tables (no version table) and a ledger's rows."""
    lines = (OLD / f"schema-{db.backend}.sql").read_text().splitlines()
    ddl = "\n".join(line for line in lines if not line.startswith("--"))
    with _raw(db) as conn:
        for statement in filter(None, (part.strip() for part in ddl.split(";"))):
            conn.exec_driver_sql(statement)
        for table, data in ROWS.items():
            cols = data["columns"]
            sql = text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})")
            conn.execute(sql, [dict(zip(cols, row, strict=True)) for row in data["rows"]])


def _snapshot(db: Db) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of 0.1.0's tables, values normalised (decimals exact) so both databases compare alike."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with _raw(db) as conn:
        for table, data in ROWS.items():
            cols = ", ".join(data["columns"])
            rows = conn.exec_driver_sql(f"SELECT {cols} FROM {table}").all()
            out[table] = sorted((tuple(_norm(v) for v in r) for r in rows), key=repr)
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, Decimal):
        return models.canon(value)
    if isinstance(value, str):
        try:
            return models.canon(Decimal(value)) if value[:1].isdigit() or value[:1] == "-" else value
        except ArithmeticError:
            return value
    return value


def _settings(db: Db, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db.url,
        database_schema=db.schema,
        data_dir=str(tmp_path),
        master_key=SecretStr(base64.b64encode(MASTER).decode()),
    )


def _braid(settings: Settings, *argv: str) -> tuple[int, list[dict[str, Any]]]:
    args = cli.build_parser().parse_args(list(argv))
    out = io.StringIO()
    code = args.run(args, settings, out)
    return code, [orjson.loads(line) for line in out.getvalue().splitlines()]


def _version_rows(db: Db) -> list[str]:
    with _raw(db) as conn:
        return list(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def test_old_release_database_is_adopted_and_upgraded_with_nothing_lost(db: Db, tmp_path: Path) -> None:
    _make_old_release(db)
    with _raw(db) as conn:
        before_sheet = check_sheet(conn)  # what `braid accounts check` checks, run on 0.1.0's database as it is
    assert before_sheet.ok and before_sheet.transfers > 0, before_sheet.problems
    before = _snapshot(db)
    s = _settings(db, tmp_path)

    assert _braid(s, "db", "current") == (0, [{"revision": None, "head": migrations.head(), "state": "unversioned"}])
    assert _braid(s, "db", "upgrade") == (0, [{"from": None, "to": migrations.head(), "changed": True}])
    assert _braid(s, "db", "current")[1][0]["state"] == "current"
    assert _snapshot(db) == before
    code, [sheet] = _braid(s, "accounts", "check")
    assert code == 0 and sheet["ok"] and sheet["transfers"] == before_sheet.transfers

    # upgrading again changes nothing
    assert _braid(s, "db", "upgrade") == (0, [{"from": migrations.head(), "to": migrations.head(), "changed": False}])
    assert _version_rows(db) == [migrations.head()] and _snapshot(db) == before
    asyncio.run(_works_as_before(db))


async def _works_as_before(db: Db) -> None:
    """Balances, orders and trades read back through the API; new ids follow the old ones."""
    w = db.open()
    try:
        alice, bob = (a.account_id for a in w.accounts.accounts_of(w.accounts.tenant_by_name("acme").tenant_id))
        assert w.ledger.balance(alice, "BTC").free == Decimal("0.2998498")
        assert w.ledger.balance(bob, "BTC").locked == Decimal("1.25")
        trades = await w.orders.my_trades(alice, "BTCUSDT")
        assert [(t.qty, t.price, t.source_ref) for t in trades] == [
            (Decimal("0.1"), Decimal(40000), "child-0"),
            (Decimal("0.2"), Decimal("40000.5"), "child-1"),
        ]
        assert [o.client_order_id for o in await w.orders.open_orders(bob)] == ["b-1"]
        new = await w.orders.save_new(
            OrderRecord(
                0, bob, "BTCUSDT", "b-3", "SELL", "LIMIT", tif="GTC", price=Decimal(42000), orig_qty=Decimal("0.1")
            )
        )
        assert new.order_id > max(r[0] for r in ROWS["braid_orders"]["rows"])
    finally:
        await w.close()


async def test_start_adopts_an_old_release_database_by_itself(db: Db) -> None:
    _make_old_release(db)
    w = db.open()  # what `braid serve` and every command do
    try:
        assert (await w.ledger.balance_sheet()).ok
        assert migrations.current(db.url, schema=db.schema) == migrations.head()
    finally:
        await w.close()


def test_fresh_database_gets_the_newest_revision_once(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    assert migrations.current(db.url, schema=db.schema) is None
    if db.backend == "sqlite":  # looking does not create the file
        assert not Path(db.url.removeprefix("sqlite:///")).exists()
    w = db.open()
    w.store.dispose()
    assert _version_rows(db) == [migrations.head()]
    # start-up on a current database only reads the version table: no migration runs
    monkeypatch.setattr(migrations.runner, "upgrade", lambda *a, **k: pytest.fail("upgrade ran on a current database"))
    w = db.open()
    w.store.dispose()
    assert migrations.upgrade(db.url, schema=db.schema) == (migrations.head(), migrations.head())


def test_database_newer_than_the_code_is_refused_and_left_alone(
    db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db.open().store.dispose()
    with _raw(db) as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaTooNew, match="revision '9999', which this version of Braid does not know"):
        db.open()
    with pytest.raises(SchemaTooNew):
        migrations.upgrade(db.url, schema=db.schema)
    s = _settings(db, tmp_path)
    assert _braid(s, "db", "current") == (
        0,
        [{"revision": "9999", "head": migrations.head(), "state": "newer than this Braid"}],
    )

    # the command line: a clear message and a non-zero exit
    for name, value in (
        ("DATABASE_URL", db.url),
        ("DATABASE_SCHEMA", db.schema),
        ("DATA_DIR", str(tmp_path)),
        ("MASTER_KEY", base64.b64encode(MASTER).decode()),
        ("CONFIG_FILE", str(tmp_path / "none.toml")),
    ):
        if value is None:
            monkeypatch.delenv(f"BRAID_{name}", raising=False)
        else:
            monkeypatch.setenv(f"BRAID_{name}", value)
    get_settings.cache_clear()
    try:
        assert cli.main(["accounts", "check"]) == 2
        assert cli.main(["db", "upgrade"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "braid: the database at" in err and "does not know (its newest is" in err and "nothing was changed" in err
    assert _version_rows(db) == ["9999"]


def test_unversioned_database_unlike_the_old_release_is_refused(db: Db) -> None:
    _make_old_release(db)
    with _raw(db) as conn:
        conn.exec_driver_sql("DROP INDEX ix_braid_orders_open")
    with pytest.raises(SchemaError, match="cannot be adopted.*index ix_braid_orders_open is missing"):
        db.open()
    with _raw(db) as conn:  # nothing was changed: still no version table
        assert "alembic_version" not in _table_names(conn, db)


def _table_names(conn: Connection, db: Db) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(conn).get_table_names(schema=db.schema))


def test_old_release_schema_is_the_baseline_revision(db: Db) -> None:
    """The frozen DDL of 0.1.0 is what the baseline revision describes (so adoption stamps the right thing)."""
    _make_old_release(db)
    with _raw(db) as conn:
        assert migrations.baseline_differences(conn, db.schema) == []


@pytest.mark.parametrize("module", registry.MODEL_MODULES)
def test_migrations_and_models_describe_the_same_tables(db: Db, module: str) -> None:
    """Every change to the models (of each registered package) comes with a migration: at head, Alembic finds
    nothing to change."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    metadata = importlib.import_module(module).metadata
    migrations.upgrade(db.url, schema=db.schema)
    engine = create_engine(db.url, connect_args={"options": f"-csearch_path={db.schema}"} if db.schema else {})
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _p: kind != "table" or name in metadata.tables,
                },
            )
            diff = compare_metadata(ctx, metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_new_revision_follows_the_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`braid db revision` (developers) writes the next numbered revision; with the models unchanged it is empty."""
    import shutil

    copy = tmp_path / "migrations"
    shutil.copytree(migrations.runner.HERE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrations.runner, "HERE", copy)
    migrations.runner.script.cache_clear()
    migrations.revisions.cache_clear()
    try:
        before = migrations.head()
        nxt = f"{int(before) + 1:04d}"  # the next number after whatever revisions ship today
        code, [made] = _braid(Settings(data_dir=str(tmp_path)), "db", "revision", "-m", "Add custody tables")
        path = Path(made["file"])
        assert code == 0 and path.parent == copy / "versions" and path.name == f"{nxt}_add_custody_tables.py"
        body = path.read_text()
        assert f"revision = '{nxt}'" in body and f"down_revision = '{before}'" in body and "op." not in body
        assert migrations.head() == nxt and migrations.runner.script().get_heads() == [nxt]
    finally:
        migrations.runner.script.cache_clear()
        migrations.revisions.cache_clear()
