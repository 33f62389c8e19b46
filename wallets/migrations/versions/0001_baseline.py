"""Baseline: the tables of Braid 0.1.0, which made them with ``create_all`` before it had migrations.

The definitions are frozen here (plain column types, no imports of ``wallets.models``), so this revision
keeps meaning what 0.1.0 created however the models change later. ``wallets.migrations`` also compares a
database without a version table against ``metadata()`` before it adopts it as this revision.

Revision 0001, the first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Money: exact decimals (NUMERIC(38,18) on PostgreSQL, canonical decimal text on SQLite)
_MONEY = sa.String(64).with_variant(sa.Numeric(38, 18), "postgresql")
# SQLite: a single-column INTEGER PRIMARY KEY is the rowid itself
_ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OPEN = "status IN ('PENDING_NEW', 'NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL')"


def metadata() -> sa.MetaData:
    """The tables and indexes of 0.1.0, exactly."""
    m = sa.MetaData()
    C = sa.Column
    sa.Table(
        "braid_sequences",
        m,
        C("name", sa.String(32), primary_key=True),
        C("value", sa.BigInteger(), nullable=False),
    )
    sa.Table(
        "braid_tenants",
        m,
        C("tenant_id", sa.BigInteger(), primary_key=True),
        C("name", sa.String(128), nullable=False, unique=True),
        C("markup_rate", _MONEY, nullable=False),
        C("broker_account_id", sa.BigInteger(), nullable=False),
        C("created", sa.BigInteger(), nullable=False),
    )
    sa.Table(
        "braid_accounts",
        m,
        C("account_id", sa.BigInteger(), primary_key=True),
        C("tenant_id", sa.BigInteger(), nullable=True),
        C("kind", sa.String(8), nullable=False),
        C("name", sa.String(255), nullable=False),
        C("created", sa.BigInteger(), nullable=False),
        sa.Index("ix_braid_accounts_tenant", "tenant_id"),
        sa.Index("ux_braid_accounts_tenant_name", "tenant_id", "name", unique=True),
    )
    sa.Table(
        "braid_api_keys",
        m,
        C("api_key", sa.String(64), primary_key=True),
        C("account_id", sa.BigInteger(), nullable=False),
        C("tenant_id", sa.BigInteger(), nullable=False),
        C("secret_ct", sa.Text(), nullable=False),
        C("nonce", sa.String(24), nullable=False),
        C("can_read", sa.Boolean(), nullable=False),
        C("can_trade", sa.Boolean(), nullable=False),
        C("ip_allowlist", sa.Text(), nullable=False),
        C("label", sa.String(128), nullable=False),
        C("created", sa.BigInteger(), nullable=False),
        C("deleted", sa.BigInteger(), nullable=True),
        sa.Index("ix_braid_api_keys_account", "account_id"),
    )
    sa.Table(
        "braid_postings",
        m,
        C("posting_id", _ROWID, primary_key=True, autoincrement=False),
        C("transfer_id", sa.BigInteger(), nullable=False),
        C("ts", sa.BigInteger(), nullable=False),
        C("account_id", sa.BigInteger(), nullable=False),
        C("asset", sa.String(16), nullable=False),
        C("bucket", sa.String(6), nullable=False),
        C("kind", sa.String(8), nullable=False),
        C("amount", _MONEY, nullable=False),
        C("ref", sa.String(64), nullable=False),
        sa.Index("ix_braid_postings_transfer", "transfer_id"),
    )
    sa.Table(
        "braid_balances",
        m,
        C("account_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        C("asset", sa.String(16), primary_key=True),
        C("free", _MONEY, nullable=False),
        C("locked", _MONEY, nullable=False),
    )
    sa.Table(
        "braid_orders",
        m,
        C("order_id", _ROWID, primary_key=True, autoincrement=False),
        C("account_id", sa.BigInteger(), nullable=False),
        C("symbol", sa.String(32), nullable=False),
        C("client_order_id", sa.String(64), nullable=False),
        C("side", sa.String(4), nullable=False),
        C("type", sa.String(24), nullable=False),
        C("tif", sa.String(4), nullable=True),
        C("price", _MONEY, nullable=True),
        C("stop_price", _MONEY, nullable=True),
        C("orig_qty", _MONEY, nullable=True),
        C("orig_quote_qty", _MONEY, nullable=True),
        C("executed_qty", _MONEY, nullable=False),
        C("cum_quote", _MONEY, nullable=False),
        C("status", sa.String(16), nullable=False),
        C("time", sa.BigInteger(), nullable=False),
        C("update_time", sa.BigInteger(), nullable=False),
        C("route", sa.Text(), nullable=True),
        sa.Index("ix_braid_orders_account_symbol", "account_id", "symbol", "order_id"),
        sa.Index(
            "ux_braid_orders_open_client_id",
            "account_id",
            "client_order_id",
            unique=True,
            sqlite_where=sa.text(_OPEN),
            postgresql_where=sa.text(_OPEN),
        ),
        sa.Index("ix_braid_orders_open", "status", sqlite_where=sa.text(_OPEN), postgresql_where=sa.text(_OPEN)),
    )
    sa.Table(
        "braid_trades",
        m,
        C("trade_id", _ROWID, primary_key=True, autoincrement=False),
        C("order_id", sa.BigInteger(), nullable=False),
        C("account_id", sa.BigInteger(), nullable=False),
        C("symbol", sa.String(32), nullable=False),
        C("price", _MONEY, nullable=False),
        C("qty", _MONEY, nullable=False),
        C("quote_qty", _MONEY, nullable=False),
        C("commission", _MONEY, nullable=False),
        C("commission_asset", sa.String(16), nullable=False),
        C("markup", _MONEY, nullable=False),
        C("is_buyer", sa.Boolean(), nullable=False),
        C("is_maker", sa.Boolean(), nullable=False),
        C("time", sa.BigInteger(), nullable=False),
        C("source", sa.String(16), nullable=False),
        C("source_ref", sa.String(64), nullable=False),
        sa.Index("ix_braid_trades_account_symbol", "account_id", "symbol", "trade_id"),
        sa.Index("ux_braid_trades_source", "order_id", "source", "source_ref", unique=True),
    )
    return m


def upgrade() -> None:
    metadata().create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    metadata().drop_all(op.get_bind(), checkfirst=False)
