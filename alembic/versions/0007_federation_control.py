"""Federation control: domain rules (allow/block), federation requests, the admin audit log.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = [
    # One row per (domain, kind). A rule is in force from `effective_at` (a grace period puts it
    # in the future) until `ends_at` (a removal with a grace period); `applied_at` says when its
    # consequences (severed follows, removed data) were carried out.
    """
    CREATE TABLE federation_domain_rules (
        id bigint PRIMARY KEY,
        domain text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('allow', 'block')),
        severity text NOT NULL DEFAULT 'silence'
            CHECK (severity IN ('silence', 'suspend', 'noop')),
        reject_media boolean NOT NULL DEFAULT false,
        reject_reports boolean NOT NULL DEFAULT false,
        private_comment text,
        public_comment text,
        obfuscate boolean NOT NULL DEFAULT false,
        effective_at timestamptz NOT NULL DEFAULT now(),
        ends_at timestamptz,
        applied_at timestamptz,
        created_by text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (domain, kind)
    )
    """,
    # Does a rule for `rule` cover `domain`? Same host or a subdomain of it; a rule without a
    # port covers every port, a rule with one only that port (Mastodon names a server
    # host[:port]). Both sides are already normalized (lower case, IDNA, no trailing dot).
    """
    CREATE FUNCTION federation_domain_covers(rule text, domain text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE
            WHEN position(':' IN rule) > 0 THEN
                domain = rule
                OR (split_part(domain, ':', 2) = split_part(rule, ':', 2)
                    AND split_part(domain, ':', 1) LIKE '%.' || split_part(rule, ':', 1))
            ELSE
                split_part(domain, ':', 1) = rule
                OR split_part(domain, ':', 1) LIKE '%.' || rule
        END
    $$
    """,
    # Accounts arriving from a silenced domain are silenced as they are stored, whatever code
    # path stores them (Mastodon silences them in its account processing).
    """
    CREATE FUNCTION accounts_silence_from_domain() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE silenced timestamptz;
    BEGIN
        IF NEW.domain IS NOT NULL AND NEW.silenced_at IS NULL THEN
            SELECT r.effective_at INTO silenced FROM federation_domain_rules r
                WHERE r.kind = 'block' AND r.severity = 'silence' AND r.effective_at <= now()
                  AND (r.ends_at IS NULL OR r.ends_at > now())
                  AND federation_domain_covers(r.domain, lower(NEW.domain))
                ORDER BY r.effective_at LIMIT 1;
            NEW.silenced_at := silenced;
        END IF;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER accounts_domain_silence BEFORE INSERT ON accounts "
    "FOR EACH ROW EXECUTE FUNCTION accounts_silence_from_domain()",
    # In allowlist mode, a staff member's lookup or follow of an account elsewhere is recorded
    # for the admins to approve (the domain is allowed, the follow proceeds) or deny.
    """
    CREATE TABLE federation_requests (
        id bigint PRIMARY KEY,
        requester_account_id bigint REFERENCES accounts (id) ON DELETE CASCADE,
        acct text NOT NULL,
        domain text NOT NULL,
        reason text NOT NULL DEFAULT '',
        follow boolean NOT NULL DEFAULT false,
        state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'denied')),
        decided_by text,
        decided_at timestamptz,
        -- an approved request's follow, once sent (the server's resolver does it)
        completed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX federation_requests_pending ON federation_requests (id DESC) "
    "WHERE state = 'pending'",
    # One pending request per person and address: asking twice adds nothing.
    "CREATE UNIQUE INDEX federation_requests_once ON federation_requests "
    "(coalesce(requester_account_id, 0), lower(acct)) WHERE state = 'pending'",
    # Every admin change: who (CLI user or admin account), what, when, before/after.
    """
    CREATE TABLE admin_audit_log (
        id bigint PRIMARY KEY,
        actor text NOT NULL,
        actor_account_id bigint REFERENCES accounts (id) ON DELETE SET NULL,
        action text NOT NULL,
        target text NOT NULL DEFAULT '',
        before jsonb,
        after jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # Moderation fields Mastodon's Admin::Report carries.
    "ALTER TABLE reports ADD COLUMN category text NOT NULL DEFAULT 'other'",
    "ALTER TABLE reports ADD COLUMN assigned_account_id bigint "
    "REFERENCES accounts (id) ON DELETE SET NULL",
    "ALTER TABLE reports ADD COLUMN action_taken_by_account_id bigint "
    "REFERENCES accounts (id) ON DELETE SET NULL",
    "ALTER TABLE reports ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now()",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for column in ("updated_at", "action_taken_by_account_id", "assigned_account_id", "category"):
        op.execute(f"ALTER TABLE reports DROP COLUMN IF EXISTS {column}")
    op.execute("DROP TABLE IF EXISTS admin_audit_log")
    op.execute("DROP TABLE IF EXISTS federation_requests")
    op.execute("DROP TRIGGER IF EXISTS accounts_domain_silence ON accounts")
    op.execute("DROP FUNCTION IF EXISTS accounts_silence_from_domain()")
    op.execute("DROP TABLE IF EXISTS federation_domain_rules")
    op.execute("DROP FUNCTION IF EXISTS federation_domain_covers(text, text)")
