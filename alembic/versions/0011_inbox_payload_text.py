"""Inbox payloads kept as the JSON text received (`json`, not `jsonb`).

A received activity is only ever read back whole, by the worker that applies it. `jsonb` stores
numbers as exact decimals and prints them in full: `1e308` comes back as 309 digits, and a
number like `1e-16383` (which the parser reads as 0.0) as 16,385 characters. A 630 KB activity
made of such numbers could then not even be read back (PostgreSQL's 1 GB string limit), and
every claim of the queue failed behind it. `json` keeps the text verbatim: what is read back is
what was verified, never larger. (It also skips jsonb's conversion on every insert.)

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE inbox_activities ALTER COLUMN payload TYPE json USING payload::json")


def downgrade() -> None:
    op.execute("ALTER TABLE inbox_activities ALTER COLUMN payload TYPE jsonb USING payload::jsonb")
