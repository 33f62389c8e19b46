"""Tables of the back office: operators, second factors (TOTP state and recovery codes) and the audit log.

SQLAlchemy Core on this module's own ``metadata`` (SQLite and PostgreSQL, the ledger's database). Times are
integer milliseconds since the epoch. :func:`open_engine` creates the tables; a schema migration can replace
:func:`create_tables` later.
"""

from __future__ import annotations

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
)

from wallets.db import create_db_engine
from wallets.migrations import ensure_current

metadata = MetaData()

operators = Table(
    "braid_operators",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),  # argon2id, PHC string
    Column("role", String(32), nullable=False),
    Column("ip_allowlist", Text, nullable=False),  # comma-separated addresses/networks; empty: any
    Column("disabled", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False),  # in a row, since the last success
    Column("locked_until", BigInteger, nullable=False),  # ms; 0 when not locked
    Column("last_login", BigInteger, nullable=True),
    Column("created", BigInteger, nullable=False),
)

# One row per subject ("operator:<name>" or "account:<id>"). The secret is sealed (AES-256-GCM, the subject as
# associated data) with the master key that seals API secrets. last_step: the last accepted RFC 6238 time step,
# so a code is accepted once.
second_factors = Table(
    "braid_second_factors",
    metadata,
    Column("subject", String(96), primary_key=True),
    Column("secret_ct", Text, nullable=False),
    Column("nonce", String(24), nullable=False),
    Column("active", Boolean, nullable=False),  # False until a first code confirms the enrolment
    Column("last_step", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("locked_until", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
)

# Recovery codes: SHA-256 of each code (they are 80-bit random strings, so a slow hash adds nothing); used once.
recovery_codes = Table(
    "braid_recovery_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("subject", String(96), nullable=False),
    Column("used", BigInteger, nullable=True),
    Index("ix_braid_recovery_codes_subject", "subject"),
)

# The hash-chained audit log. seq is the primary key: two writers that read the same head both try the same
# seq and the database lets only one in (the other retries on the new head), on either engine.
audit_log = Table(
    "braid_audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=False),
    Column("details", Text, nullable=False),  # canonical JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_braid_audit_log_actor", "actor", "seq"),
    Index("ix_braid_audit_log_ts", "ts"),
)

# The last entry's seq and hash, written in the same transaction as the entry: an entry deleted from the end
# of the chain leaves the head pointing past the last one.
audit_head = Table(
    "braid_audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)


# Operators' HTTP sessions: the SHA-256 of the bearer token (a 256-bit random string, so a slow hash adds
# nothing), bound to the address that logged in. Ended by logout (revoked) or by time.
operator_sessions = Table(
    "braid_operator_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("revoked", BigInteger, nullable=True),
    Index("ix_braid_operator_sessions_username", "username"),
)


def create_tables(engine: Engine) -> None:
    """Bring the database, these tables included, to the newest schema revision (wallets.migrations)."""
    ensure_current(engine, engine.get_execution_options().get("schema_translate_map", {}).get(None))


def open_engine(url: str, schema: str | None = None) -> Engine:
    """An engine on the ledger's database (SQLite takes the write lock at BEGIN), with the tables created."""
    engine = create_db_engine(url, writer=True, schema=schema)
    create_tables(engine)
    return engine
