"""outbox indexes that hold only the rows they serve: fewer index writes per message

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 20:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONLY_SET = ("provider_id", "origin", "replaces")
DUE = ("status", "priority", "next_attempt_at")
WAITING = "status IN ('queued', 'sending')"


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        for column in ONLY_SET:
            where = sa.text(f"{column} IS NOT NULL")
            batch_op.drop_index(f"ix_outbox_{column}")
            batch_op.create_index(
                f"ix_outbox_{column}", [column], postgresql_where=where, sqlite_where=where
            )
        batch_op.drop_index("ix_outbox_due")
        # SQLite's planner cannot use it partial for the claim (storage/tables.py)
        batch_op.create_index("ix_outbox_due", list(DUE), postgresql_where=sa.text(WAITING))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        for column in ONLY_SET:
            batch_op.drop_index(f"ix_outbox_{column}")
            batch_op.create_index(f"ix_outbox_{column}", [column])
        batch_op.drop_index("ix_outbox_due")
        batch_op.create_index("ix_outbox_due", list(DUE))
