"""Relationship severance events (Mastodon 4.3): what a moderation change cut, so that the
`severed_relationships` notification can carry its `event` (type, target, purged, counts).

One event per domain whose follows were severed; one row per local account it touched, with
that account's counts and the notification it was told by (Mastodon's
AccountRelationshipSeveranceEvent, whose id the API shows as the event's id).

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE TABLE relationship_severance_events (
        id bigint PRIMARY KEY,
        type text NOT NULL
            CHECK (type IN ('domain_block', 'user_domain_block', 'account_suspension')),
        target_name text NOT NULL,
        purged boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE account_relationship_severance_events (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        relationship_severance_event_id bigint NOT NULL
            REFERENCES relationship_severance_events (id) ON DELETE CASCADE,
        notification_id bigint UNIQUE REFERENCES notifications (id) ON DELETE SET NULL,
        followers_count integer NOT NULL DEFAULT 0,
        following_count integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX account_relationship_severance_events_account "
    "ON account_relationship_severance_events (account_id, id DESC)",
    "CREATE INDEX account_relationship_severance_events_event "
    "ON account_relationship_severance_events (relationship_severance_event_id)",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS account_relationship_severance_events")
    op.execute("DROP TABLE IF EXISTS relationship_severance_events")
