"""KYC tables (SQLAlchemy Core, SQLite and PostgreSQL): tiers and their history, encrypted personal data and
its key ring, provider references, webhook events seen (replay guard) and Travel Rule records.

Times are integer milliseconds. Personal data is never stored in clear: ``kyc_pii`` and ``kyc_travel_rule``
hold AES-256-GCM ciphertexts (:mod:`compliance.pii`), the data keys in ``kyc_pii_keys`` are wrapped under
the master key. The schema is created by the Alembic revisions in ``wallets/migrations/versions``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text

from wallets.models import RowId

metadata = MetaData()

kyc_accounts = Table(
    "kyc_accounts",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("tier", Integer, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# Kept on erasure: who moved a tier, when and why (no personal fields).
kyc_tier_history = Table(
    "kyc_tier_history",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("old_tier", Integer, nullable=False),
    Column("new_tier", Integer, nullable=False),
    Column("source", String(32), nullable=False),  # operator, sumsub, onfido
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Index("ix_kyc_tier_history_account", "account_id"),
)

kyc_pii_keys = Table(
    "kyc_pii_keys",
    metadata,
    Column("key_id", Integer, primary_key=True, autoincrement=False),
    Column("wrapped", LargeBinary, nullable=False),  # the data key, AES-GCM under the master key
    Column("nonce", LargeBinary, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

kyc_pii = Table(
    "kyc_pii",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("field", String(64), primary_key=True),
    Column("key_id", Integer, nullable=False),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

kyc_provider_refs = Table(
    "kyc_provider_refs",
    metadata,
    Column("provider", String(16), primary_key=True),
    Column("ref_id", String(128), primary_key=True),  # the provider's applicant or check id
    Column("kind", String(16), nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_kyc_provider_refs_account", "account_id"),
)

# Every webhook accepted, by a digest of its body: the same delivery twice is a replay.
kyc_webhook_events = Table(
    "kyc_webhook_events",
    metadata,
    Column("provider", String(16), primary_key=True),
    Column("event_key", String(128), primary_key=True),
    Column("received_ms", BigInteger, nullable=False),
    Column("outcome", String(64), nullable=False),
)

kyc_travel_rule = Table(
    "kyc_travel_rule",
    metadata,
    Column("kind", String(16), primary_key=True),  # withdrawal (beneficiary) or deposit (originator)
    Column("ref_id", String(128), primary_key=True),
    Column("key_id", Integer, nullable=False),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)
