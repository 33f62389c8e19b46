"""Screening, monitoring and case tables (SQLAlchemy Core, SQLite and PostgreSQL).

Money columns use the ledger's exact ``Money`` type; times are integer milliseconds since the epoch.
``create_screening_tables`` makes them; it is the one place a schema migration will replace.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from wallets.db import create_db_engine
from wallets.migrations import ensure_current
from wallets.models import Money

RowId = BigInteger().with_variant(Integer, "sqlite")

metadata = MetaData()

# One row per loaded list publication; ``payload`` is the parsed list (zlib-compressed JSON), so every
# process screens against exactly the version the command loaded.
sanctions_lists = Table(
    "compliance_sanctions_lists",
    metadata,
    Column("list_id", RowId, primary_key=True, autoincrement=True),
    Column("published", String(10), nullable=False),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("source", String(16), nullable=False),
    Column("files", Text, nullable=False),
    Column("entry_count", Integer, nullable=False),
    Column("address_count", Integer, nullable=False),
    Column("loaded_ms", BigInteger, nullable=False),
    Column("loaded_by", String(64), nullable=False),
    Column("payload", LargeBinary, nullable=False),
)

# Every screening decision, with the list version it was made against.
screenings = Table(
    "compliance_screenings",
    metadata,
    Column("screening_id", RowId, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),  # name | address
    Column("subject", Text, nullable=False),
    Column("account_id", BigInteger),
    Column("list_id", BigInteger, nullable=False),
    Column("list_version", String(128), nullable=False),
    Column("decision", String(8), nullable=False),  # clear | hit
    Column("matches", Text, nullable=False),  # JSON
    Column("time_ms", BigInteger, nullable=False),
    Column("case_id", BigInteger),
    Index("ix_compliance_screenings_account", "account_id", "time_ms"),
)

# Onboarded customers, re-screened whenever a new list version is loaded.
customers = Table(
    "compliance_customers",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("full_name", Text, nullable=False),
    Column("birth_date", String(10)),
    Column("country", String(64)),
    Column("list_id", BigInteger),  # the version last screened against
    Column("status", String(8), nullable=False),  # clear | hit
    Column("updated_ms", BigInteger, nullable=False),
)

cases = Table(
    "compliance_cases",
    metadata,
    Column("case_id", RowId, primary_key=True, autoincrement=True),
    Column("kind", String(24), nullable=False),  # sanctions-name | sanctions-address | aml
    Column("state", String(16), nullable=False),  # open | investigating | escalated | closed
    Column("account_id", BigInteger),
    Column("summary", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # JSON: rule, event, list version, score, matches
    Column("opened_by", String(64), nullable=False),  # "system" for automatic alerts
    Column("opened_ms", BigInteger, nullable=False),
    Column("assignee", String(64)),
    Column("investigator", String(64)),  # who took it from open to investigating
    Column("closed_by", String(64)),
    Column("closed_ms", BigInteger),
    Column("resolution", Text),
    Column("funds", String(8)),  # on close: release | return (None when nothing was held)
    Column("sar_filed", Boolean, nullable=False, default=False),
    Column("dedupe_key", String(200), unique=True),  # one open case per subject and cause
    Index("ix_compliance_cases_state", "state", "case_id"),
)

# Notes, assignments and state changes of a case, in order.
case_log = Table(
    "compliance_case_log",
    metadata,
    Column("log_id", RowId, primary_key=True, autoincrement=True),
    Column("case_id", BigInteger, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(16), nullable=False),  # open | note | assign | investigate | escalate | close
    Column("text", Text, nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Index("ix_compliance_case_log_case", "case_id", "log_id"),
)

# Money held by a case: a deposit not credited or a withdrawal not sent until the case is closed.
holds = Table(
    "compliance_holds",
    metadata,
    Column("hold_id", RowId, primary_key=True, autoincrement=True),
    Column("case_id", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("direction", String(12), nullable=False),  # deposit | withdrawal
    Column("ref", String(128), nullable=False),  # custody's id: txid:vout or the withdrawal id
    Column("chain", String(16)),
    Column("address", String(128)),
    Column("asset", String(16), nullable=False),
    Column("amount", Money, nullable=False),
    Column("status", String(10), nullable=False),  # held | released | returned
    Column("created_ms", BigInteger, nullable=False),
    Column("resolved_ms", BigInteger),
    Column("resolved_by", String(64)),
    Index("ux_compliance_holds_ref", "direction", "ref", unique=True),
    Index("ix_compliance_holds_case", "case_id"),
)

# AML alerts: active ones belong to a case; shadow ones are only recorded.
alerts = Table(
    "compliance_alerts",
    metadata,
    Column("alert_id", RowId, primary_key=True, autoincrement=True),
    Column("rule_id", String(64), nullable=False),
    Column("mode", String(8), nullable=False),  # active | shadow
    Column("account_id", BigInteger, nullable=False),
    Column("event_kind", String(12), nullable=False),
    Column("event_ref", String(128), nullable=False),
    Column("detail", Text, nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("case_id", BigInteger),
    Index("ix_compliance_alerts_rule", "rule_id", "time_ms"),
)

# The money events monitored, so the rules' windows and baselines survive a restart.
events = Table(
    "compliance_events",
    metadata,
    Column("event_id", RowId, primary_key=True, autoincrement=True),
    Column("kind", String(12), nullable=False),  # deposit | withdrawal | trade
    Column("ref", String(128), nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("asset", String(16), nullable=False),
    Column("amount", Money, nullable=False),
    Column("value", Money, nullable=False),  # in the reporting currency
    Column("time_ms", BigInteger, nullable=False),
    Column("chain", String(16)),
    Column("address", String(128)),
    Column("country", String(64)),
    Index("ux_compliance_events_ref", "kind", "ref", unique=True),
    Index("ix_compliance_events_account", "account_id", "time_ms"),
)


def open_engine(url: str, schema: str | None = None) -> Engine:
    """An engine on ``url`` set up as the ledger's (SQLite in WAL mode, its folder made; ``schema`` on PostgreSQL)."""
    return create_db_engine(url, writer=True, schema=schema)


def create_screening_tables(engine: Engine, schema: str | None = None) -> None:
    """Bring the database, these tables included, to the newest schema revision (wallets.migrations)."""
    ensure_current(engine, schema)
