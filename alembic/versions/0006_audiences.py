"""Audience snapshots: who a status reached, resolved once at posting time.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = [
    # Followers change; the audience a person was shown when posting must not. One row per local
    # status, written in the posting transaction. `servers` is [{"domain", "accounts"}] for the
    # remote part of the audience; `mentioned_ids` are the accounts named at posting time.
    """
    CREATE TABLE status_audiences (
        status_id bigint PRIMARY KEY REFERENCES statuses (id) ON DELETE CASCADE,
        scope text NOT NULL
            CHECK (scope IN ('public', 'unlisted', 'followers', 'mentioned', 'internal')),
        federates boolean NOT NULL,
        followers_local integer NOT NULL DEFAULT 0,
        followers_remote integer NOT NULL DEFAULT 0,
        local_accounts integer NOT NULL DEFAULT 0,
        remote_accounts integer NOT NULL DEFAULT 0,
        servers jsonb NOT NULL DEFAULT '[]',
        mentioned_ids bigint[] NOT NULL DEFAULT '{}',
        resolved_at timestamptz NOT NULL DEFAULT now()
    )
    """,
]

DOWNGRADE_TABLES = ["status_audiences"]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for table in DOWNGRADE_TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
