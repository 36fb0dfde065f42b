"""Reports: a peer's Flag (or, later, a local report) waiting for the moderators.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE TABLE reports (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        target_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        status_ids bigint[] NOT NULL DEFAULT '{}',
        comment text NOT NULL DEFAULT '',
        uri text UNIQUE,
        forwarded boolean NOT NULL DEFAULT false,
        action_taken_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX reports_target ON reports (target_account_id, id DESC)",
    "CREATE INDEX reports_unresolved ON reports (id DESC) WHERE action_taken_at IS NULL",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS reports")
