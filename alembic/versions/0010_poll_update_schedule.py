"""Debounced poll updates: one pending row per local poll whose counts changed, so that peers
get at most one Update{Question} per poll every few minutes (Mastodon's
DistributePollUpdateWorker, scheduled 3 minutes after a vote and unique until it runs).

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE TABLE poll_update_schedule (
        poll_id bigint PRIMARY KEY REFERENCES polls (id) ON DELETE CASCADE,
        due_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX poll_update_schedule_due ON poll_update_schedule (due_at)",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS poll_update_schedule")
