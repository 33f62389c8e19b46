"""Alembic's environment for Braid: run by ``wallets.migrations`` on a connection it opened (no alembic.ini).

The caller passes the connection (already in its transaction, with PostgreSQL's ``search_path`` set to the
configured schema) and the schema in ``config.attributes``; the version table lives in that schema too.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from wallets.chains.models import BaseUnits
from wallets.migrations.registry import metadatas, table_names
from wallets.models import Money

config = context.config
connection = config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("Braid's migrations run through `braid db upgrade` (wallets.migrations), online only")

tables = table_names()  # other tables sharing the database are none of Braid's business


def _render_item(kind: str, obj: Any, _autogen: AutogenContext) -> str | Literal[False]:
    # A revision spells Money out as the column types it makes, so it keeps its meaning if Money changes.
    if kind == "type" and isinstance(obj, Money):
        return 'sa.String(64).with_variant(sa.Numeric(38, 18), "postgresql")'
    if kind == "type" and isinstance(obj, BaseUnits):  # whole base units of a chain (up to 2**256)
        return 'sa.String(80).with_variant(sa.Numeric(78, 0), "postgresql")'
    return False


context.configure(
    connection=connection,
    target_metadata=metadatas(),
    version_table_schema=config.attributes.get("schema"),
    render_as_batch=True,  # SQLite alters a table by copying it: autogenerate writes batch operations
    compare_type=True,
    include_name=lambda name, kind, _parent: kind != "table" or name in tables,
    render_item=_render_item,
)
with context.begin_transaction():
    context.run_migrations()
