"""Custody's tables (SQLAlchemy Core, their own ``MetaData``; SQLite and PostgreSQL).

``create_tables`` makes them; it is the one place a schema migration will later replace.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.sql import Select

from wallets.migrations import ensure_current
from wallets.models import Money, RowId

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


# One row per payment to a deposit address (chain, txid, output/log index: the watchers' idempotency key).
# status: detected, confirming, credited (tradeable), unlocked (withdrawable), orphaned (left the chain before
# credit), reversed (left after credit: the credit was taken back), dust (below the minimum: never credited).
deposits = Table(
    "custody_deposits",
    metadata,
    Column("id", String(32), primary_key=True),  # hex of sha256(chain:txid:index), Binance's deposit "id"
    Column("chain", String(8), nullable=False),  # BTC, ETH, BSC (the network)
    Column("txid", String(80), nullable=False),
    Column("idx", String(16), nullable=False),  # output number, log index, or "native"
    Column("account_id", BigInteger, nullable=False),
    Column("coin", String(16), nullable=False),
    Column("amount", Money, nullable=False),  # in coins, exact (base units / 10**decimals)
    Column("amount_base", String(80), nullable=False),  # the chain's integer amount, as text
    Column("address", String(100), nullable=False),
    Column("block_height", BigInteger, nullable=False),
    Column("block_hash", String(80), nullable=False),
    Column("confirmations", Integer, nullable=False),
    Column("status", String(12), nullable=False),
    Column("generation", Integer, nullable=False),  # times the credit was reversed (a re-mined payment credits again)
    Column("shortfall", Money, nullable=False),  # of a reversal, what the account no longer held
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Index("ux_custody_deposits_key", "chain", "txid", "idx", unique=True),
    Index("ix_custody_deposits_account", "account_id", "created"),
    Index("ix_custody_deposits_status", "status"),
)

# Every ledger step of a deposit happens once: this row is inserted in the same transaction as the ledger
# transfer ("credit:<generation>", "unlock:<generation>", "reverse:<generation>"), and its primary key refuses
# a second one (another process, or a replay after a crash).
deposit_steps = Table(
    "custody_deposit_steps",
    metadata,
    Column("deposit_id", String(32), primary_key=True),
    Column("step", String(24), primary_key=True),
    Column("ts", BigInteger, nullable=False),
)

# Withdrawals. status: requested, pending_approval, approved, waiting_cold, signed, broadcast, confirming,
# completed, rejected, cancelled, failed. The signed transaction and its txid are stored before it is broadcast.
withdrawals = Table(
    "custody_withdrawals",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("client_id", String(64), nullable=False),  # the client's withdrawOrderId, or the id
    Column("coin", String(16), nullable=False),
    Column("network", String(8), nullable=False),
    Column("address", String(100), nullable=False),
    Column("amount", Money, nullable=False),  # what the destination receives
    Column("fee", Money, nullable=False),  # network fee charged to the client
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),  # why approval is needed, or why it was refused / failed
    Column("requested_by", String(64), nullable=False),  # who asked: "account:<id>" or an operator
    Column("raw_tx", Text, nullable=True),  # hex of the signed transaction (stored before broadcast)
    Column("txid", String(80), nullable=True),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Index("ux_custody_withdrawals_client_id", "account_id", "client_id", unique=True),
    Index("ix_custody_withdrawals_account", "account_id", "created"),
    Index("ix_custody_withdrawals_status", "status"),
)

withdrawal_approvals = Table(
    "custody_withdrawal_approvals",
    metadata,
    Column("withdrawal_id", String(32), primary_key=True),
    Column("operator", String(64), primary_key=True),
    Column("ts", BigInteger, nullable=False),
)

# Per-account withdrawal address whitelist; an entry is usable ``whitelist_cooloff_s`` after ``added``.
whitelist = Table(
    "custody_whitelist",
    metadata,
    Column("account_id", BigInteger, primary_key=True),
    Column("network", String(8), primary_key=True),
    Column("address", String(100), primary_key=True),  # normalised (EVM lower case)
    Column("added", BigInteger, nullable=False),
)

# Operator freezes of withdrawals: scope "ALL" or a coin ("BTC"); an account frozen after a reversed deposit
# it had already spent: scope "account:<id>".
freezes = Table(
    "custody_freezes",
    metadata,
    Column("scope", String(40), primary_key=True),
    Column("active", Boolean, nullable=False),  # False once lifted (kept: who froze what, and when)
    Column("reason", Text, nullable=False),
    Column("by", String(64), nullable=False),
    Column("ts", BigInteger, nullable=False),
)


def history(
    table: Table,
    *,
    account_id: int | None = None,
    coin: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> Select[Any]:
    """Rows of the deposits or withdrawals table, filtered as the history endpoints filter them."""
    q = select(table)
    if account_id is not None:
        q = q.where(table.c.account_id == account_id)
    if coin:
        q = q.where(table.c.coin == coin.upper())
    if start is not None:
        q = q.where(table.c.created >= start)
    if end is not None:
        q = q.where(table.c.created <= end)
    return q.order_by(table.c.created.desc())


def create_tables(engine: Engine, schema: str | None = None) -> None:
    """Bring the database, these tables included, to the newest schema revision (wallets.migrations)."""
    ensure_current(engine, schema)
