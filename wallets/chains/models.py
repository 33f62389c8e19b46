"""The watchers' tables (SQLAlchemy Core on their own metadata; SQLite and PostgreSQL).

``chain_blocks`` holds the hash of every block a watcher processed (its view of the best chain, compared with
the node's to find a replaced block at any depth). ``chain_observations`` is the watcher's outbox: each payment
is written in the same transaction as its block, then handed to the consumer and marked delivered, so a
restart re-delivers exactly what was not handed over and nothing else.

Amounts are base units of up to 256 bits (an ERC-20 ``uint256``), more than ``wallets.models.Money``'s
NUMERIC(38,18) holds, so they have their own exact type: NUMERIC(78,0) on PostgreSQL, decimal text on SQLite.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Engine,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

from wallets.migrations import ensure_current

metadata = MetaData()


class BaseUnits(TypeDecorator[int]):
    """A non-negative integer up to 2**256: NUMERIC(78,0) on PostgreSQL, decimal text elsewhere."""

    impl = String(80)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(78, 0, asdecimal=True))
        return dialect.type_descriptor(String(80))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return value if dialect.name == "postgresql" else str(int(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


RowId = BigInteger().with_variant(Integer, "sqlite")

chain_blocks = Table(
    "chain_blocks",
    metadata,
    Column("chain", String(16), primary_key=True),
    Column("height", BigInteger, primary_key=True),
    Column("hash", String(80), nullable=False),
    Column("seen_ms", BigInteger, nullable=False),
)

chain_observations = Table(
    "chain_observations",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("chain", String(16), nullable=False),
    Column("txid", String(80), nullable=False),
    Column("idx", String(16), nullable=False),  # output number, log index or "native"
    Column("address", String(100), nullable=False),
    Column("account", String(64)),
    Column("asset", String(32), nullable=False),
    Column("token", String(64)),
    # The payer's addresses, space-separated (Observation.sources); NULL for rows written before 0006.
    Column("sources", Text),
    Column("amount", BaseUnits, nullable=False),
    Column("block_height", BigInteger, nullable=False),
    Column("block_hash", String(80), nullable=False),
    Column("orphaned", Boolean, nullable=False, default=False),
    # The consumer has been told the row's current state (observed, or orphaned once orphaned is true).
    Column("delivered", Boolean, nullable=False, default=False),
    Column("seen_ms", BigInteger, nullable=False),
    UniqueConstraint("chain", "txid", "idx", "block_hash", name="uq_chain_observation"),
)
Index("ix_chain_observations_height", chain_observations.c.chain, chain_observations.c.block_height)
Index("ix_chain_observations_undelivered", chain_observations.c.chain, chain_observations.c.delivered)


def create_chain_tables(engine: Engine, schema: str | None = None) -> None:
    """Bring the database, these tables included, to the newest schema revision (wallets.migrations)."""
    ensure_current(engine, schema)
