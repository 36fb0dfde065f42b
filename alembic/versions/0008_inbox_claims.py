"""Inbox queue claims without a lease write: rows are claimed inside the transaction that
applies them (row locks + a per-actor advisory lock); only an activity that must fetch from the
network first is leased (`leased_until`), and its actor waits until it is done.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE inbox_activities ADD COLUMN leased_until timestamptz")
    op.execute("DROP INDEX inbox_activities_pending")
    # (next_attempt_at, id): the claim's ORDER BY is read straight off the index, so the scan
    # stops after the rows it returns (each row examined takes an advisory lock).
    op.execute(
        "CREATE INDEX inbox_activities_pending ON inbox_activities (next_attempt_at, id) "
        "WHERE processed_at IS NULL"
    )
    # Small: only rows leased for a fetch that has not finished.
    op.execute(
        "CREATE INDEX inbox_activities_leased ON inbox_activities (actor_uri) "
        "WHERE leased_until IS NOT NULL AND processed_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX inbox_activities_leased")
    op.execute("DROP INDEX inbox_activities_pending")
    op.execute(
        "CREATE INDEX inbox_activities_pending ON inbox_activities (next_attempt_at) "
        "WHERE processed_at IS NULL"
    )
    op.execute("ALTER TABLE inbox_activities DROP COLUMN leased_until")
