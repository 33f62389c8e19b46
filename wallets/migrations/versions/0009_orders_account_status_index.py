"""an index for an account's open orders

Revision 0009, after 0008; created 2026-12-04 22:15:00.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_braid_orders_account_status", "braid_orders", ["account_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_braid_orders_account_status", table_name="braid_orders")
