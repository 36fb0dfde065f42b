"""Web Push, announcements, featured tags, endorsements and dismissed suggestions.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = [
    # The server's VAPID key pair (RFC 8292): one row, apart from server_settings so that no
    # listing of settings can leak the private key.
    """
    CREATE TABLE vapid_keys (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        private_key_pem text NOT NULL,
        public_key text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # One Web Push subscription per access token, as in Mastodon; revoking the token ends it.
    """
    CREATE TABLE web_push_subscriptions (
        id bigint PRIMARY KEY,
        access_token_id bigint NOT NULL UNIQUE
            REFERENCES oauth_access_tokens (id) ON DELETE CASCADE,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        endpoint text NOT NULL,
        key_p256dh text NOT NULL,
        key_auth text NOT NULL,
        standard boolean NOT NULL DEFAULT false,
        alerts jsonb NOT NULL DEFAULT '{}',
        policy text NOT NULL DEFAULT 'all'
            CHECK (policy IN ('all', 'followed', 'follower', 'none')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX web_push_subscriptions_account ON web_push_subscriptions (account_id)",
    # One row per (notification, subscription); leased with SKIP LOCKED like `deliveries`.
    """
    CREATE TABLE push_deliveries (
        id bigint PRIMARY KEY,
        subscription_id bigint NOT NULL
            REFERENCES web_push_subscriptions (id) ON DELETE CASCADE,
        notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
        state text NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        deadline timestamptz NOT NULL,
        last_error text,
        last_status_code integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        UNIQUE (notification_id, subscription_id)
    )
    """,
    "CREATE INDEX push_deliveries_due ON push_deliveries (next_attempt_at) WHERE state = 'pending'",
    # --- announcements ---------------------------------------------------------------------
    """
    CREATE TABLE announcements (
        id bigint PRIMARY KEY,
        text text NOT NULL,
        content text NOT NULL,
        starts_at timestamptz,
        ends_at timestamptz,
        all_day boolean NOT NULL DEFAULT false,
        published_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE announcement_dismissals (
        announcement_id bigint NOT NULL REFERENCES announcements (id) ON DELETE CASCADE,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        PRIMARY KEY (announcement_id, account_id)
    )
    """,
    """
    CREATE TABLE announcement_reactions (
        announcement_id bigint NOT NULL REFERENCES announcements (id) ON DELETE CASCADE,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (announcement_id, account_id, name)
    )
    """,
    # --- profiles: featured hashtags and endorsed accounts --------------------------------
    """
    CREATE TABLE featured_tags (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        tag_id bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (account_id, tag_id)
    )
    """,
    """
    CREATE TABLE account_pins (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        target_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (account_id, target_account_id),
        CHECK (account_id <> target_account_id)
    )
    """,
    """
    CREATE TABLE suggestion_dismissals (
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        target_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, target_account_id)
    )
    """,
]

DOWNGRADE_TABLES = [
    "suggestion_dismissals",
    "account_pins",
    "featured_tags",
    "announcement_reactions",
    "announcement_dismissals",
    "announcements",
    "push_deliveries",
    "web_push_subscriptions",
    "vapid_keys",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for table in DOWNGRADE_TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
