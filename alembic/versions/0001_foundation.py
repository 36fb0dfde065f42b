"""Foundation schema: accounts, users, OAuth, statuses and everything people do with them.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = [
    # --- accounts: local (domain IS NULL) and remote in one table, as Mastodon does -----------
    """
    CREATE TABLE accounts (
        id bigint PRIMARY KEY,
        username text NOT NULL,
        domain text,
        display_name text NOT NULL DEFAULT '',
        note text NOT NULL DEFAULT '',
        note_source text NOT NULL DEFAULT '',
        uri text NOT NULL UNIQUE,
        url text,
        inbox_url text,
        shared_inbox_url text,
        outbox_url text,
        followers_url text,
        following_url text,
        featured_url text,
        featured_tags_url text,
        public_key_id text,
        public_key_pem text,
        avatar_remote_url text,
        header_remote_url text,
        avatar_file text,
        header_file text,
        actor_type text NOT NULL DEFAULT 'Person'
            CHECK (actor_type IN ('Person', 'Service', 'Application', 'Group', 'Organization')),
        locked boolean NOT NULL DEFAULT false,
        discoverable boolean NOT NULL DEFAULT true,
        indexable boolean NOT NULL DEFAULT true,
        hide_collections boolean NOT NULL DEFAULT false,
        memorial boolean NOT NULL DEFAULT false,
        fields jsonb NOT NULL DEFAULT '[]',
        also_known_as jsonb NOT NULL DEFAULT '[]',
        moved_to_account_id bigint REFERENCES accounts (id) ON DELETE SET NULL,
        remote_followers_count integer,
        remote_following_count integer,
        remote_statuses_count integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        fetched_at timestamptz,
        suspended_at timestamptz,
        silenced_at timestamptz,
        CHECK (username ~ '^[A-Za-z0-9_.-]+$' OR domain IS NOT NULL)
    )
    """,
    "CREATE UNIQUE INDEX accounts_username_domain ON accounts "
    "(lower(username), coalesce(lower(domain), ''))",
    "CREATE INDEX accounts_domain ON accounts (lower(domain)) WHERE domain IS NOT NULL",
    "CREATE INDEX accounts_search ON accounts USING gin "
    "(to_tsvector('simple', username || ' ' || display_name))",
    # Counters kept by triggers below, so no code path can forget them.
    """
    CREATE TABLE account_stats (
        account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
        statuses_count integer NOT NULL DEFAULT 0,
        followers_count integer NOT NULL DEFAULT 0,
        following_count integer NOT NULL DEFAULT 0,
        -- statuses that are not boosts: NodeInfo's localPosts sums it without a table scan
        posts_count integer NOT NULL DEFAULT 0,
        last_status_at timestamptz
    )
    """,
    # Private keys live apart so that no SELECT on accounts can leak them.
    """
    CREATE TABLE account_keys (
        account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
        private_key_pem text NOT NULL
    )
    """,
    # --- users: the local people who sign in ---------------------------------------------------
    """
    CREATE TABLE users (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL UNIQUE REFERENCES accounts (id) ON DELETE CASCADE,
        email text NOT NULL,
        password_hash text NOT NULL,
        role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
        approved boolean NOT NULL DEFAULT true,
        disabled boolean NOT NULL DEFAULT false,
        locale text NOT NULL DEFAULT 'en',
        default_privacy text NOT NULL DEFAULT 'public'
            CHECK (default_privacy IN ('public', 'unlisted', 'private', 'direct')),
        default_sensitive boolean NOT NULL DEFAULT false,
        default_language text,
        default_federation boolean NOT NULL DEFAULT true,
        settings jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        last_sign_in_at timestamptz,
        sign_in_count integer NOT NULL DEFAULT 0
    )
    """,
    "CREATE UNIQUE INDEX users_email ON users (lower(email))",
    """
    CREATE TABLE invites (
        id bigint PRIMARY KEY,
        code text NOT NULL UNIQUE,
        created_by_user_id bigint REFERENCES users (id) ON DELETE CASCADE,
        max_uses integer,
        uses integer NOT NULL DEFAULT 0,
        expires_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # --- OAuth ------------------------------------------------------------------------------------
    """
    CREATE TABLE oauth_applications (
        id bigint PRIMARY KEY,
        name text NOT NULL,
        website text,
        redirect_uris text[] NOT NULL,
        scopes text NOT NULL DEFAULT 'read',
        client_id text NOT NULL UNIQUE,
        client_secret text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE oauth_authorization_codes (
        code_hash bytea PRIMARY KEY,
        application_id bigint NOT NULL REFERENCES oauth_applications (id) ON DELETE CASCADE,
        user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        redirect_uri text NOT NULL,
        scopes text NOT NULL,
        code_challenge text,
        code_challenge_method text,
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE oauth_access_tokens (
        id bigint PRIMARY KEY,
        token_hash bytea NOT NULL UNIQUE,
        application_id bigint REFERENCES oauth_applications (id) ON DELETE CASCADE,
        user_id bigint REFERENCES users (id) ON DELETE CASCADE,
        scopes text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        last_used_at timestamptz
    )
    """,
    "CREATE INDEX oauth_access_tokens_user ON oauth_access_tokens (user_id)",
    # Sign-in attempts, for rate limiting shared by every web process.
    """
    CREATE TABLE rate_limit_hits (
        bucket text NOT NULL,
        hit_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX rate_limit_hits_bucket ON rate_limit_hits (bucket, hit_at)",
    # --- statuses ---------------------------------------------------------------------------------
    """
    CREATE TABLE statuses (
        id bigint PRIMARY KEY,
        uri text NOT NULL UNIQUE,
        url text,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        local boolean NOT NULL DEFAULT true,
        text text NOT NULL DEFAULT '',
        content text NOT NULL DEFAULT '',
        spoiler_text text NOT NULL DEFAULT '',
        search_text text NOT NULL DEFAULT '',
        visibility text NOT NULL DEFAULT 'public'
            CHECK (visibility IN ('public', 'unlisted', 'private', 'direct')),
        local_only boolean NOT NULL DEFAULT false,
        sensitive boolean NOT NULL DEFAULT false,
        language text,
        in_reply_to_id bigint REFERENCES statuses (id) ON DELETE SET NULL,
        in_reply_to_account_id bigint REFERENCES accounts (id) ON DELETE SET NULL,
        in_reply_to_uri text,
        reblog_of_id bigint REFERENCES statuses (id) ON DELETE CASCADE,
        thread_root_id bigint,
        application_id bigint REFERENCES oauth_applications (id) ON DELETE SET NULL,
        poll_id bigint,
        replies_count integer NOT NULL DEFAULT 0,
        reblogs_count integer NOT NULL DEFAULT 0,
        favourites_count integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        edited_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        search_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED,
        CHECK (reblog_of_id IS NULL OR in_reply_to_id IS NULL)
    )
    """,
    "CREATE INDEX statuses_account_id ON statuses (account_id, id DESC)",
    "CREATE INDEX statuses_in_reply_to ON statuses (in_reply_to_id) "
    "WHERE in_reply_to_id IS NOT NULL",
    "CREATE INDEX statuses_reblog_of ON statuses (reblog_of_id) WHERE reblog_of_id IS NOT NULL",
    "CREATE INDEX statuses_public_local ON statuses (id DESC) "
    "WHERE visibility = 'public' AND reblog_of_id IS NULL",
    "CREATE INDEX statuses_search ON statuses USING gin (search_vector)",
    "CREATE INDEX statuses_thread_root ON statuses (thread_root_id) "
    "WHERE thread_root_id IS NOT NULL",
    "CREATE UNIQUE INDEX statuses_one_reblog ON statuses (account_id, reblog_of_id) "
    "WHERE reblog_of_id IS NOT NULL",
    """
    CREATE TABLE status_edits (
        id bigint PRIMARY KEY,
        status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        text text NOT NULL DEFAULT '',
        content text NOT NULL,
        spoiler_text text NOT NULL DEFAULT '',
        sensitive boolean NOT NULL DEFAULT false,
        media_attachments jsonb NOT NULL DEFAULT '[]',
        poll jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX status_edits_status ON status_edits (status_id, id)",
    """
    CREATE TABLE mentions (
        status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        silent boolean NOT NULL DEFAULT false,
        PRIMARY KEY (status_id, account_id)
    )
    """,
    "CREATE INDEX mentions_account ON mentions (account_id, status_id DESC)",
    """
    CREATE TABLE tags (
        id bigint PRIMARY KEY,
        name text NOT NULL,
        display_name text NOT NULL,
        usable boolean NOT NULL DEFAULT true,
        trendable boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_status_at timestamptz
    )
    """,
    "CREATE UNIQUE INDEX tags_name ON tags (lower(name))",
    """
    CREATE TABLE status_tags (
        status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
        tag_id bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        PRIMARY KEY (tag_id, status_id)
    )
    """,
    "CREATE INDEX status_tags_status ON status_tags (status_id)",
    """
    CREATE TABLE tag_follows (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        tag_id bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (account_id, tag_id)
    )
    """,
    """
    CREATE TABLE custom_emojis (
        id bigint PRIMARY KEY,
        shortcode text NOT NULL,
        domain text,
        image_url text NOT NULL,
        static_url text NOT NULL,
        visible_in_picker boolean NOT NULL DEFAULT true,
        category text,
        disabled boolean NOT NULL DEFAULT false,
        uri text,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE UNIQUE INDEX custom_emojis_shortcode ON custom_emojis "
    "(shortcode, coalesce(domain, ''))",
    """
    CREATE TABLE status_emojis (
        status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
        emoji_id bigint NOT NULL REFERENCES custom_emojis (id) ON DELETE CASCADE,
        PRIMARY KEY (status_id, emoji_id)
    )
    """,
    # --- media --------------------------------------------------------------------------------
    """
    CREATE TABLE media_attachments (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        status_id bigint REFERENCES statuses (id) ON DELETE SET NULL,
        type text NOT NULL DEFAULT 'image'
            CHECK (type IN ('image', 'gifv', 'video', 'audio', 'unknown')),
        file_name text,
        thumbnail_name text,
        content_type text,
        file_size bigint,
        remote_url text,
        remote_preview_url text,
        description text,
        focus_x real,
        focus_y real,
        blurhash text,
        meta jsonb NOT NULL DEFAULT '{}',
        position integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX media_attachments_status ON media_attachments (status_id) "
    "WHERE status_id IS NOT NULL",
    "CREATE UNIQUE INDEX media_attachments_file_name ON media_attachments (file_name) "
    "WHERE file_name IS NOT NULL",
    # --- relationships --------------------------------------------------------------------------
    """
    CREATE TABLE follows (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        target_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        show_reblogs boolean NOT NULL DEFAULT true,
        notify boolean NOT NULL DEFAULT false,
        languages text[],
        uri text,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (account_id, target_account_id),
        CHECK (account_id <> target_account_id)
    )
    """,
    "CREATE INDEX follows_target ON follows (target_account_id, account_id)",
    """
    CREATE TABLE follow_requests (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        target_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        show_reblogs boolean NOT NULL DEFAULT true,
        notify boolean NOT NULL DEFAULT false,
        languages text[],
        uri text,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (account_id, target_account_id),
        CHECK (account_id <> target_account_id)
    )
    """,
    "CREATE INDEX follow_requests_target ON follow_requests (target_account_id, id)",
    """
    CREATE TABLE blocks (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        target_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        uri text,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (account_id, target_account_id)
    )
    """,
    "CREATE INDEX blocks_target ON blocks (target_account_id, account_id)",
    """
    CREATE TABLE mutes (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        target_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        hide_notifications boolean NOT NULL DEFAULT true,
        expires_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (account_id, target_account_id)
    )
    """,
    """
    CREATE TABLE account_notes (
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        target_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        comment text NOT NULL DEFAULT '',
        PRIMARY KEY (account_id, target_account_id)
    )
    """,
    # --- interactions with statuses ----------------------------------------------------------
    """
    CREATE TABLE favourites (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
        uri text,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (account_id, status_id)
    )
    """,
    "CREATE INDEX favourites_status ON favourites (status_id, id)",
    """
    CREATE TABLE bookmarks (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (account_id, status_id)
    )
    """,
    """
    CREATE TABLE status_pins (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (account_id, status_id)
    )
    """,
    # Muted conversations: keyed by the thread root.
    """
    CREATE TABLE conversation_mutes (
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        thread_root_id bigint NOT NULL,
        PRIMARY KEY (account_id, thread_root_id)
    )
    """,
    """
    CREATE TABLE idempotency_keys (
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        key text NOT NULL,
        status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, key)
    )
    """,
    # --- notifications, markers, lists, filters ----------------------------------------------
    """
    CREATE TABLE notifications (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        from_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        type text NOT NULL CHECK (type IN ('mention', 'status', 'reblog', 'follow',
            'follow_request', 'favourite', 'poll', 'update', 'admin.sign_up', 'admin.report',
            'severed_relationships', 'moderation_warning', 'quote', 'quoted_update')),
        status_id bigint REFERENCES statuses (id) ON DELETE CASCADE,
        group_key text,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX notifications_account ON notifications (account_id, id DESC)",
    "CREATE UNIQUE INDEX notifications_unique_event ON notifications "
    "(account_id, from_account_id, type, coalesce(status_id, 0)) "
    "WHERE type IN ('favourite', 'reblog', 'follow', 'follow_request', 'mention')",
    """
    CREATE TABLE markers (
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        timeline text NOT NULL CHECK (timeline IN ('home', 'notifications')),
        last_read_id bigint NOT NULL,
        version integer NOT NULL DEFAULT 1,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, timeline)
    )
    """,
    """
    CREATE TABLE lists (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        title text NOT NULL,
        replies_policy text NOT NULL DEFAULT 'list'
            CHECK (replies_policy IN ('followed', 'list', 'none')),
        exclusive boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX lists_account ON lists (account_id)",
    """
    CREATE TABLE list_accounts (
        list_id bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        PRIMARY KEY (list_id, account_id)
    )
    """,
    """
    CREATE TABLE filters (
        id bigint PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        title text NOT NULL,
        context text[] NOT NULL,
        filter_action text NOT NULL DEFAULT 'warn'
            CHECK (filter_action IN ('warn', 'hide', 'blur')),
        expires_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX filters_account ON filters (account_id)",
    """
    CREATE TABLE filter_keywords (
        id bigint PRIMARY KEY,
        filter_id bigint NOT NULL REFERENCES filters (id) ON DELETE CASCADE,
        keyword text NOT NULL,
        whole_word boolean NOT NULL DEFAULT true
    )
    """,
    """
    CREATE TABLE filter_statuses (
        id bigint PRIMARY KEY,
        filter_id bigint NOT NULL REFERENCES filters (id) ON DELETE CASCADE,
        status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE
    )
    """,
    # --- server-wide ------------------------------------------------------------------------------
    """
    CREATE TABLE server_settings (
        key text PRIMARY KEY,
        value jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE instance_rules (
        id bigint PRIMARY KEY,
        text text NOT NULL,
        hint text NOT NULL DEFAULT '',
        position integer NOT NULL DEFAULT 0
    )
    """,
    # Transactional outbox: domain operations with consequences for peers record an event in
    # the same transaction; federation/publishing.py claims them with SKIP LOCKED.
    """
    CREATE TABLE domain_events (
        id bigint PRIMARY KEY,
        kind text NOT NULL,
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        processed_at timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        last_error text
    )
    """,
    "CREATE INDEX domain_events_pending ON domain_events (id) WHERE processed_at IS NULL",
    # --- counters ------------------------------------------------------------------------------
    """
    CREATE FUNCTION account_stats_on_account() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO account_stats (account_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER accounts_stats AFTER INSERT ON accounts "
    "FOR EACH ROW EXECUTE FUNCTION account_stats_on_account()",
    """
    CREATE FUNCTION counters_on_follow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE account_stats SET following_count = following_count + 1
                WHERE account_id = NEW.account_id;
            UPDATE account_stats SET followers_count = followers_count + 1
                WHERE account_id = NEW.target_account_id;
            RETURN NEW;
        END IF;
        UPDATE account_stats SET following_count = greatest(following_count - 1, 0)
            WHERE account_id = OLD.account_id;
        UPDATE account_stats SET followers_count = greatest(followers_count - 1, 0)
            WHERE account_id = OLD.target_account_id;
        RETURN OLD;
    END $$
    """,
    "CREATE TRIGGER follows_counters AFTER INSERT OR DELETE ON follows "
    "FOR EACH ROW EXECUTE FUNCTION counters_on_follow()",
    """
    CREATE FUNCTION counters_on_status() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE account_stats SET statuses_count = statuses_count + 1,
                posts_count = posts_count + (NEW.reblog_of_id IS NULL)::int,
                last_status_at = greatest(last_status_at, NEW.created_at)
                WHERE account_id = NEW.account_id;
            IF NEW.in_reply_to_id IS NOT NULL THEN
                UPDATE statuses SET replies_count = replies_count + 1 WHERE id = NEW.in_reply_to_id;
            END IF;
            IF NEW.reblog_of_id IS NOT NULL THEN
                UPDATE statuses SET reblogs_count = reblogs_count + 1 WHERE id = NEW.reblog_of_id;
            END IF;
            RETURN NEW;
        END IF;
        UPDATE account_stats SET statuses_count = greatest(statuses_count - 1, 0),
            posts_count = greatest(posts_count - (OLD.reblog_of_id IS NULL)::int, 0)
            WHERE account_id = OLD.account_id;
        IF OLD.in_reply_to_id IS NOT NULL THEN
            UPDATE statuses SET replies_count = greatest(replies_count - 1, 0)
                WHERE id = OLD.in_reply_to_id;
        END IF;
        IF OLD.reblog_of_id IS NOT NULL THEN
            UPDATE statuses SET reblogs_count = greatest(reblogs_count - 1, 0)
                WHERE id = OLD.reblog_of_id;
        END IF;
        RETURN OLD;
    END $$
    """,
    "CREATE TRIGGER statuses_counters AFTER INSERT OR DELETE ON statuses "
    "FOR EACH ROW EXECUTE FUNCTION counters_on_status()",
    """
    CREATE FUNCTION counters_on_favourite() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE statuses SET favourites_count = favourites_count + 1 WHERE id = NEW.status_id;
            RETURN NEW;
        END IF;
        UPDATE statuses SET favourites_count = greatest(favourites_count - 1, 0)
            WHERE id = OLD.status_id;
        RETURN OLD;
    END $$
    """,
    "CREATE TRIGGER favourites_counters AFTER INSERT OR DELETE ON favourites "
    "FOR EACH ROW EXECUTE FUNCTION counters_on_favourite()",
    # --- federation foundations ----------------------------------------------------------------
    # Key lookups by keyId when the in-memory cache misses (federation/keys.py).
    "CREATE INDEX accounts_public_key_id ON accounts (public_key_id) "
    "WHERE public_key_id IS NOT NULL",
    # The instance actor's key pair: one row, apart from accounts (it is no person and must not
    # show up in account queries) and from server_settings (which admin screens list).
    """
    CREATE TABLE instance_actor_keys (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        private_key_pem text NOT NULL,
        public_key_pem text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
]

DOWNGRADE_TABLES = [
    "instance_actor_keys",
    "domain_events",
    "instance_rules",
    "server_settings",
    "filter_statuses",
    "filter_keywords",
    "filters",
    "list_accounts",
    "lists",
    "markers",
    "notifications",
    "idempotency_keys",
    "conversation_mutes",
    "status_pins",
    "bookmarks",
    "favourites",
    "account_notes",
    "mutes",
    "blocks",
    "follow_requests",
    "follows",
    "media_attachments",
    "status_emojis",
    "custom_emojis",
    "tag_follows",
    "status_tags",
    "tags",
    "mentions",
    "status_edits",
    "statuses",
    "rate_limit_hits",
    "oauth_access_tokens",
    "oauth_authorization_codes",
    "oauth_applications",
    "invites",
    "users",
    "account_keys",
    "account_stats",
    "accounts",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for table in DOWNGRADE_TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    for function in (
        "account_stats_on_account",
        "counters_on_follow",
        "counters_on_status",
        "counters_on_favourite",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
