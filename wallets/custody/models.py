"""Custody's tables (SQLAlchemy Core, their own ``MetaData``; SQLite and PostgreSQL).

``create_tables`` makes them; it is the one place a schema migration will later replace.
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

from wallets.migrations import ensure_current
from wallets.models import RowId

metadata = MetaData()

# One deposit address per (network, account), derived from the API process's xpub at derivation_index.
# The unique indexes are the backstop that makes reuse impossible even if two processes raced.
deposit_addresses = Table(
    "custody_deposit_addresses",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("network", String(8), nullable=False),  # BTC, ETH, BSC
    Column("account_id", BigInteger, nullable=False),
    Column("address", String(100), nullable=False),  # canonical form: bech32 lower case, EIP-55
    Column("lookup", String(100), nullable=False),  # normalised form the watchers match on (EVM lower case)
    Column("derivation_index", Integer, nullable=False),
    Column("path", String(64), nullable=False),  # full derivation path, e.g. m/84'/1'/0'/0/7
    Column("created", BigInteger, nullable=False),  # ms since the epoch
    Index("ux_custody_deposit_network_account", "network", "account_id", unique=True),
    Index("ux_custody_deposit_network_lookup", "network", "lookup", unique=True),
    Index("ux_custody_deposit_network_index", "network", "derivation_index", unique=True),
)

# Next derivation index per network. Allocation updates this row inside the inserting transaction, so the
# row lock (PostgreSQL) or the write lock (SQLite) makes two processes take different indexes.
address_counters = Table(
    "custody_address_counters",
    metadata,
    Column("network", String(8), primary_key=True),
    Column("next_index", Integer, nullable=False),
)


def create_tables(engine: Engine, schema: str | None = None) -> None:
    """Bring the database, these tables included, to the newest schema revision (wallets.migrations)."""
    ensure_current(engine, schema)