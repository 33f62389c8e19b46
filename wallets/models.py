"""The ledger's tables (SQLAlchemy Core; one metadata for SQLite and PostgreSQL).

Money and quantities are exact: ``NUMERIC(38,18)`` on PostgreSQL, canonical decimal text on SQLite (whose
NUMERIC affinity would turn them into binary floats). Sums are done in Python on ``Decimal``, never in SQL,
so both engines give the same answer. Times are integer milliseconds since the epoch (Binance's unit).

Core rather than ORM objects: the writer sends whole batches with ``executemany``, which is what makes
group commit fast; there is no identity map to keep in step with the one-writer state in memory.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

from domain import OPEN_STATUSES as OPEN
from domain import OrderStatus

# SQLite: a single-column INTEGER PRIMARY KEY is the rowid itself (one B-tree fewer per insert)
RowId = BigInteger().with_variant(Integer, "sqlite")

SCALE = 18  # decimal places kept for every amount
QUANTUM = Decimal(1).scaleb(-SCALE)


def canon(value: Decimal) -> Decimal:
    """The shortest plain form of a decimal (``1.500`` -> ``1.5``, ``0E-18`` -> ``0``, ``1E+2`` -> ``100``)."""
    if not value:
        return Decimal(0)
    n = value.normalize()
    return n.quantize(Decimal(1)) if n.as_tuple().exponent > 0 else n  # type: ignore[operator]


class Money(TypeDecorator[Decimal]):
    """An exact decimal: NUMERIC(38,18) on PostgreSQL, canonical text elsewhere."""

    impl = String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(38, SCALE, asdecimal=True))
        return dialect.type_descriptor(String(64))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return value
        return format(canon(value), "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return canon(value if isinstance(value, Decimal) else Decimal(value))


metadata = MetaData()

# Counters for id allocation (orders, trades, postings, transfers, accounts). The writer keeps them in
# memory and persists the high-water mark in the same transaction as the rows that used the ids.
sequences = Table(
    "braid_sequences",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

tenants = Table(
    "braid_tenants",
    metadata,
    Column("tenant_id", BigInteger, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("markup_rate", Money, nullable=False),  # fraction of the received amount, e.g. 0.0005
    Column("broker_account_id", BigInteger, nullable=False),  # where markup is credited
    Column("created", BigInteger, nullable=False),
)

# kind: "client" (an end user, a broker's sub-account), "broker" (a tenant's own account) or "system"
# (external world, venues, internal clearing, house fees; only system accounts may go negative).
accounts = Table(
    "braid_accounts",
    metadata,
    Column("account_id", BigInteger, primary_key=True),
    Column("tenant_id", BigInteger, nullable=True),  # None for system accounts
    Column("kind", String(8), nullable=False),
    Column("name", String(255), nullable=False),  # sub-account email, or system account name
    Column("created", BigInteger, nullable=False),
    Index("ix_braid_accounts_tenant", "tenant_id"),
    Index("ux_braid_accounts_tenant_name", "tenant_id", "name", unique=True),
)

api_keys = Table(
    "braid_api_keys",
    metadata,
    Column("api_key", String(64), primary_key=True),  # the public key the client sends in X-MBX-APIKEY
    Column("account_id", BigInteger, nullable=False),
    Column("tenant_id", BigInteger, nullable=False),
    Column("secret_ct", Text, nullable=False),  # base64 AES-256-GCM ciphertext+tag; associated data = api_key
    Column("nonce", String(24), nullable=False),  # base64 of the 12-byte nonce
    Column("can_read", Boolean, nullable=False),
    Column("can_trade", Boolean, nullable=False),
    Column("ip_allowlist", Text, nullable=False),  # comma-separated addresses/networks; empty: any
    Column("label", String(128), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("deleted", BigInteger, nullable=True),
    Index("ix_braid_api_keys_account", "account_id"),
)

# Double entry: every transfer is two or more postings of one asset that sum to zero. bucket is "free"
# or "locked"; a reservation moves an amount between the two buckets of one account.
postings = Table(
    "braid_postings",
    metadata,
    Column("posting_id", RowId, primary_key=True, autoincrement=False),
    Column("transfer_id", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("asset", String(16), nullable=False),
    Column("bucket", String(6), nullable=False),
    Column("kind", String(8), nullable=False),  # credit, reserve, release, fill, fee, markup
    Column("amount", Money, nullable=False),  # signed
    Column("ref", String(64), nullable=False),  # order id, trade id or the caller's reference
    Index("ix_braid_postings_transfer", "transfer_id"),
)

# Balances are kept with the postings in the same transaction (the writer upserts the new values).
balances = Table(
    "braid_balances",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("asset", String(16), primary_key=True),
    Column("free", Money, nullable=False),
    Column("locked", Money, nullable=False),
)

OPEN_STATUSES = tuple(s for s in OrderStatus if s in OPEN)  # in the enum's order: the index text stays the same
_OPEN_SQL = "status IN (" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ")"

orders = Table(
    "braid_orders",
    metadata,
    Column("order_id", RowId, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("client_order_id", String(64), nullable=False),
    Column("side", String(4), nullable=False),
    Column("type", String(24), nullable=False),
    Column("tif", String(4), nullable=True),
    Column("price", Money, nullable=True),
    Column("stop_price", Money, nullable=True),
    Column("orig_qty", Money, nullable=True),
    Column("orig_quote_qty", Money, nullable=True),
    Column("executed_qty", Money, nullable=False),
    Column("cum_quote", Money, nullable=False),
    Column("status", String(16), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    Column("route", Text, nullable=True),  # parent/route info (JSON text), the router's business
    Index("ix_braid_orders_account_symbol", "account_id", "symbol", "order_id"),
    # A client order id is unique among one account's open orders (Binance's rule); the writer checks
    # first, this index is the backstop.
    Index(
        "ux_braid_orders_open_client_id",
        "account_id",
        "client_order_id",
        unique=True,
        sqlite_where=text(_OPEN_SQL),
        postgresql_where=text(_OPEN_SQL),
    ),
    Index("ix_braid_orders_open", "status", sqlite_where=text(_OPEN_SQL), postgresql_where=text(_OPEN_SQL)),
    # an account's open orders without reading its history (GET openOrders, the user stream, restore)
    Index("ix_braid_orders_account_status", "account_id", "status"),
)

trades = Table(
    "braid_trades",
    metadata,
    Column("trade_id", RowId, primary_key=True, autoincrement=False),
    Column("order_id", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("price", Money, nullable=False),
    Column("qty", Money, nullable=False),
    Column("quote_qty", Money, nullable=False),
    Column("commission", Money, nullable=False),
    Column("commission_asset", String(16), nullable=False),
    Column("markup", Money, nullable=False),
    Column("is_buyer", Boolean, nullable=False),
    Column("is_maker", Boolean, nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("source", String(16), nullable=False),  # venue name or "internal"
    Column("source_ref", String(64), nullable=False),  # child client order id / venue trade id / internal id
    Index("ix_braid_trades_account_symbol", "account_id", "symbol", "trade_id"),
    # one venue/internal execution is booked once per order
    Index("ux_braid_trades_source", "order_id", "source", "source_ref", unique=True),
)

TABLES: dict[str, Table] = {t.name: t for t in metadata.sorted_tables}
