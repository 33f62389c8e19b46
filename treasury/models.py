"""The treasury's tables (SQLAlchemy Core, their own ``MetaData``; SQLite and PostgreSQL; migrated by Alembic).

A transfer row is written before anything is sent, and its ``client_id`` goes to the venue with the
withdrawal (Binance ``withdrawOrderId``, HTX ``client-order-id``), so after a crash the venue's history says
whether it was sent.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, Text

from wallets.models import Money, RowId

metadata = MetaData()

transfers = Table(
    "treasury_transfers",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("client_id", String(36), nullable=False),  # our withdrawal id at the venue / idempotency key
    Column("kind", String(16), nullable=False),  # venue_to_hot | hot_to_venue | hot_to_cold | cold_to_hot
    Column("venue", String(16), nullable=False),
    Column("asset", String(16), nullable=False),
    Column("network", String(8), nullable=False),  # BTC, ETH, BSC
    Column("amount", Money, nullable=False),
    Column("address", String(100), nullable=False),  # destination, canonical form
    # proposed -> approved -> sending -> sent -> completed; or rejected / failed
    # (hot <-> cold: approved -> [waiting_cold ->] signed -> sent -> completed)
    Column("state", String(16), nullable=False),
    Column("proposer", String(64), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("venue_ref", String(100), nullable=True),  # the venue's withdrawal id, or the hot wallet's txid
    Column("tx_id", String(100), nullable=True),
    Column("error", String(300), nullable=True),
    Column("created", BigInteger, nullable=False),  # ms since the epoch
    Column("updated", BigInteger, nullable=False),
    Column("sending_at", BigInteger, nullable=True),  # when execution began (matches venue history by time)
    # Hot <-> cold transfers: what the cold signers sign (a PSBT, an unsigned EVM transaction; JSON), and the
    # signed transaction, stored before it is broadcast (its txid in ``tx_id``).
    Column("artefact", Text, nullable=True),
    Column("raw_tx", Text, nullable=True),
    Index("ux_treasury_transfers_client_id", "client_id", unique=True),
    Index("ix_treasury_transfers_state", "state"),
)

# Approvals of the built-in approval store (``TableApprovals``); one row per (subject, actor).
approvals = Table(
    "treasury_approvals",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("subject", String(64), nullable=False),  # e.g. "treasury:42"
    Column("actor", String(64), nullable=False),
    Column("created", BigInteger, nullable=False),
    Index("ux_treasury_approvals_subject_actor", "subject", "actor", unique=True),
)
