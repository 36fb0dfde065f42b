"""Polls and votes, direct conversations, notification policy and requests, scheduled statuses.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = [
    # One poll per status (statuses.poll_id points back). `tallies` holds the count per option,
    # kept in the same transaction as each vote; for remote polls federation overwrites it with
    # the counts the origin server publishes.
    """
    CREATE TABLE polls (
        id bigint PRIMARY KEY,
        status_id bigint NOT NULL UNIQUE REFERENCES statuses (id) ON DELETE CASCADE,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        options text[] NOT NULL CHECK (cardinality(options) >= 1),
        tallies integer[] NOT NULL,
        voters_count integer NOT NULL DEFAULT 0,
        multiple boolean NOT NULL DEFAULT false,
        hide_totals boolean NOT NULL DEFAULT false,
        expires_at timestamptz,
        closed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (cardinality(tallies) = cardinality(options))
    )
    """,
    "CREATE INDEX polls_open_expiring ON polls (expires_at) "
    "WHERE closed_at IS NULL AND expires_at IS NOT NULL",
    """
    CREATE TABLE poll_votes (
        id bigint PRIMARY KEY,
        poll_id bigint NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        choice integer NOT NULL CHECK (choice >= 0),
        uri text,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (poll_id, account_id, choice)
    )
    """,
    "CREATE INDEX poll_votes_account ON poll_votes (account_id, poll_id)",
    # Direct conversations, as Mastodon's account_conversations: one row per local participant,
    # thread and set of other participants. The statuses are kept as ids so that the newest one
    # the owner may still see is chosen when reading (deletions and audience need no upkeep).
    """
    CREATE TABLE account_conversations (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        thread_root_id bigint NOT NULL,
        participant_ids bigint[] NOT NULL,
        status_ids bigint[] NOT NULL DEFAULT '{}',
        last_status_id bigint NOT NULL,
        unread boolean NOT NULL DEFAULT false,
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (account_id, thread_root_id, participant_ids)
    )
    """,
    "CREATE INDEX account_conversations_account ON account_conversations "
    "(account_id, last_status_id DESC)",
    # Notification policy (Mastodon 4.3): what to do with notifications from kinds of senders.
    """
    CREATE TABLE notification_policies (
        account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
        for_not_following text NOT NULL DEFAULT 'accept'
            CHECK (for_not_following IN ('accept', 'filter', 'drop')),
        for_not_followers text NOT NULL DEFAULT 'accept'
            CHECK (for_not_followers IN ('accept', 'filter', 'drop')),
        for_new_accounts text NOT NULL DEFAULT 'accept'
            CHECK (for_new_accounts IN ('accept', 'filter', 'drop')),
        for_private_mentions text NOT NULL DEFAULT 'accept'
            CHECK (for_private_mentions IN ('accept', 'filter', 'drop')),
        for_limited_accounts text NOT NULL DEFAULT 'filter'
            CHECK (for_limited_accounts IN ('accept', 'filter', 'drop')),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # Filtered notifications wait here, apart from `notifications`, so that no list of
    # notifications can show them by accident; accepting a request moves them over.
    """
    CREATE TABLE filtered_notifications (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        from_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        type text NOT NULL,
        status_id bigint REFERENCES statuses (id) ON DELETE CASCADE,
        group_key text,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX filtered_notifications_sender ON filtered_notifications "
    "(account_id, from_account_id, id DESC)",
    """
    CREATE TABLE notification_requests (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        from_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        last_status_id bigint REFERENCES statuses (id) ON DELETE SET NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (account_id, from_account_id)
    )
    """,
    # Senders whose request was accepted: their notifications are no longer filtered.
    """
    CREATE TABLE notification_permissions (
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        from_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, from_account_id)
    )
    """,
    # Statuses to post later; `params` is what the client sent, as Mastodon keeps it.
    """
    CREATE TABLE scheduled_statuses (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        scheduled_at timestamptz NOT NULL,
        params jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX scheduled_statuses_due ON scheduled_statuses (scheduled_at)",
    "CREATE INDEX scheduled_statuses_account ON scheduled_statuses (account_id, id DESC)",
]

DOWNGRADE_TABLES = [
    "scheduled_statuses",
    "notification_permissions",
    "notification_requests",
    "filtered_notifications",
    "notification_policies",
    "account_conversations",
    "poll_votes",
    "polls",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for table in DOWNGRADE_TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
