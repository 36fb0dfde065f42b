"""Federation queues: outgoing deliveries, received activities, unreachable domains.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = [
    # One row per (activity, inbox): a shared inbox gets one request however many followers
    # live behind it. Claimed with FOR UPDATE SKIP LOCKED; retried with backoff until deadline.
    """
    CREATE TABLE deliveries (
        id bigint PRIMARY KEY,
        activity_id text NOT NULL,
        inbox_url text NOT NULL,
        domain text NOT NULL,
        sender_account_id bigint REFERENCES accounts (id) ON DELETE CASCADE,
        status_id bigint,
        body bytea NOT NULL,
        state text NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'delivered', 'failed', 'skipped')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        deadline timestamptz NOT NULL,
        last_error text,
        last_status_code integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        UNIQUE (activity_id, inbox_url)
    )
    """,
    "CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending'",
    "CREATE INDEX deliveries_status ON deliveries (status_id) WHERE status_id IS NOT NULL",
    # A domain is skipped after failures on several distinct days; a success clears it.
    """
    CREATE TABLE unreachable_domains (
        domain text PRIMARY KEY,
        failure_days date[] NOT NULL DEFAULT '{}',
        last_error text,
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # What each peer accepted: draft-cavage first, RFC 9421 after a 401 (double-knock).
    """
    CREATE TABLE peer_signature_schemes (
        domain text PRIMARY KEY,
        scheme text NOT NULL CHECK (scheme IN ('cavage', 'rfc9421')),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # Verified activities waiting to be processed; the activity id makes redelivery harmless.
    """
    CREATE TABLE inbox_activities (
        id bigint PRIMARY KEY,
        activity_id text NOT NULL UNIQUE,
        actor_uri text NOT NULL,
        activity_type text NOT NULL,
        payload jsonb NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        processed_at timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text
    )
    """,
    "CREATE INDEX inbox_activities_pending ON inbox_activities (next_attempt_at) "
    "WHERE processed_at IS NULL",
    # Remote statuses keep who they were addressed to (to/cc), for the audience rule.
    """
    CREATE TABLE status_addressing (
        status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
        target_uri text NOT NULL,
        PRIMARY KEY (status_id, target_uri)
    )
    """,
    "ALTER TABLE statuses ADD COLUMN activity_uri text",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("ALTER TABLE statuses DROP COLUMN IF EXISTS activity_uri")
    for table in (
        "status_addressing",
        "inbox_activities",
        "peer_signature_schemes",
        "unreachable_domains",
        "deliveries",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
