"""an index of each chat's messages still to go, for the claim to keep a chat's order

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("status IN ('queued', 'sending')")


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_waiting_chat",
            ["channel", "address", "id"],
            postgresql_where=WAITING,
            sqlite_where=WAITING,
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_waiting_chat")
