"""Uploads sent while the file is still written (uploads.streaming); the worker's lease on a job (jobs.worker_id,
heartbeat_at, heartbeat_timeout_s, worker_losses).

Revision 0002, after 0001. Releases before migrations added these columns one by one when they started, so a
database from then may have some of them already: only the missing ones are added.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ADDED: dict[str, list[sa.Column[Any]]] = {
    "uploads": [sa.Column("streaming", sa.Boolean(), nullable=False, server_default="0")],
    "jobs": [
        sa.Column("worker_id", sa.String(128), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("heartbeat_timeout_s", sa.Integer(), nullable=True),
        sa.Column("worker_losses", sa.Integer(), nullable=False, server_default="0"),
    ],
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in ADDED.items():
        present = {column["name"] for column in inspector.get_columns(table)}
        for column in columns:
            if column.name not in present:
                op.add_column(table, column)


def downgrade() -> None:
    for table, columns in ADDED.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column.name)
