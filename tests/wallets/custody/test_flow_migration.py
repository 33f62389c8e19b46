"""Custody's tables come from the migrations: at head, Alembic finds nothing to change for them, and a Store
opened on a fresh database has them (SQLite and PostgreSQL)."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from tests.wallets.conftest import Db
from wallets import migrations
from wallets.custody import models
from wallets.migrations import registry


def test_custody_models_match_the_migrations(db: Db) -> None:
    assert "wallets.custody.models" in registry.MODEL_MODULES
    migrations.upgrade(db.url, schema=db.schema)
    engine = create_engine(db.url, connect_args={"options": f"-csearch_path={db.schema}"} if db.schema else {})
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={
                "compare_type": True,
                "include_name": lambda name, kind, _p: kind != "table" or name in models.metadata.tables,
            })
            diff = compare_metadata(ctx, models.metadata)
    finally:
        engine.dispose()
    assert diff == []
