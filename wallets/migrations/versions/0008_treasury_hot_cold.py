"""treasury hot <-> cold transfers: the cold signers' artefact and the stored signed transaction

Revision 0008, after 0007; created 2026-12-04 22:00:00.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("treasury_transfers") as batch:
        batch.add_column(sa.Column("artefact", sa.Text(), nullable=True))
        batch.add_column(sa.Column("raw_tx", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("treasury_transfers") as batch:
        batch.drop_column("raw_tx")
        batch.drop_column("artefact")
