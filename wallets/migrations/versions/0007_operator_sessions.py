"""operators' HTTP sessions

Revision 0007, after 0006; created 2026-12-04 21:20:00.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "braid_operator_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_braid_operator_sessions_username", "braid_operator_sessions", ["username"])


def downgrade() -> None:
    op.drop_index("ix_braid_operator_sessions_username", table_name="braid_operator_sessions")
    op.drop_table("braid_operator_sessions")
