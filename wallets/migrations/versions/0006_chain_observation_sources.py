"""chain observations carry their source addresses

Revision 0006, after 0005; created 2026-12-04 20:40:00.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chain_observations") as batch:
        batch.add_column(sa.Column("sources", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chain_observations") as batch:
        batch.drop_column("sources")
