"""Who may see a status: the one rule, as a Python function and as one SQL predicate.

Scopes map onto Mastodon's four visibilities plus `local_only`:
public, unlisted, private (followers), direct (mentioned) and internal (= public or unlisted
with local_only: the organization only, never federated). A status outside a viewer's audience
is indistinguishable from a missing one.

`tests/test_audience_rule.py` checks that `may_see` and `visible_sql` agree for every scope and
relationship.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Visibility(StrEnum):
    PUBLIC = "public"
    UNLISTED = "unlisted"
    PRIVATE = "private"
    DIRECT = "direct"


VISIBILITY_ORDER = {
    Visibility.PUBLIC: 0,
    Visibility.UNLISTED: 1,
    Visibility.PRIVATE: 2,
    Visibility.DIRECT: 3,
}


@dataclass(frozen=True)
class StatusAudienceFacts:
    """What the rule needs to know about a status."""

    author_id: int
    visibility: str
    local_only: bool
    author_suspended: bool = False


@dataclass(frozen=True)
class ViewerFacts:
    """What the rule needs to know about the viewer's relation to this status.

    `viewer_id` is None for anonymous viewers. `is_local` is true for signed-in staff (every
    viewer with an account here is local; remote servers are judged by federation).
    """

    viewer_id: int | None
    is_local: bool
    follows_author: bool = False
    mentioned: bool = False
    blocked_by_author: bool = False


def may_see(status: StatusAudienceFacts, viewer: ViewerFacts) -> bool:
    if viewer.viewer_id is not None and viewer.viewer_id == status.author_id:
        return True
    if status.author_suspended or viewer.blocked_by_author:
        return False
    if status.visibility in (Visibility.PUBLIC, Visibility.UNLISTED):
        return viewer.is_local or not status.local_only
    if viewer.viewer_id is None:
        return False
    if status.visibility == Visibility.PRIVATE:
        return viewer.follows_author or viewer.mentioned
    return viewer.mentioned


def may_remote_see(
    status: StatusAudienceFacts,
    *,
    follows_author: bool,
    mentioned: bool,
    blocked_by_author: bool = False,
) -> bool:
    """May a remote actor (a peer's account, or a peer server when nobody signed) fetch this
    status over ActivityPub? Internal statuses never leave the organization; otherwise the
    audience is Mastodon's: public and unlisted for anyone, private for followers and the
    mentioned, direct for the mentioned only."""
    if status.local_only or status.author_suspended or blocked_by_author:
        return False
    if status.visibility in (Visibility.PUBLIC, Visibility.UNLISTED):
        return True
    if status.visibility == Visibility.PRIVATE:
        return follows_author or mentioned
    return mentioned


def visible_sql(status: str, viewer_param: str) -> str:
    """SQL predicate: may the account `viewer_param` (a `$n` placeholder, NULL for anonymous,
    always a local account) see the row aliased `status`?

    It joins nothing: correlated EXISTS subqueries keep it usable in any query shape.
    """
    s, v = status, viewer_param
    return f"""(
        ({v}::bigint IS NOT NULL AND {s}.account_id = {v}::bigint)
        OR (
            NOT EXISTS (SELECT 1 FROM accounts aud_a
                        WHERE aud_a.id = {s}.account_id AND aud_a.suspended_at IS NOT NULL)
            AND NOT EXISTS (SELECT 1 FROM blocks aud_b
                            WHERE aud_b.account_id = {s}.account_id
                              AND aud_b.target_account_id = {v}::bigint)
            AND (
                ({s}.visibility IN ('public', 'unlisted')
                    AND (NOT {s}.local_only OR {v}::bigint IS NOT NULL))
                OR ({s}.visibility = 'private' AND EXISTS (
                    SELECT 1 FROM follows aud_f
                    WHERE aud_f.account_id = {v}::bigint
                      AND aud_f.target_account_id = {s}.account_id))
                OR ({s}.visibility IN ('private', 'direct') AND EXISTS (
                    SELECT 1 FROM mentions aud_m
                    WHERE aud_m.status_id = {s}.id AND aud_m.account_id = {v}::bigint))
            )
        )
    )"""


def is_wider(visibility: str, than: str) -> bool:
    """Whether `visibility` reaches more people than `than` (public is widest)."""
    return VISIBILITY_ORDER[Visibility(visibility)] < VISIBILITY_ORDER[Visibility(than)]


def can_reblog(visibility: str, local_only: bool) -> bool:
    """Mastodon: nobody can boost private or direct posts. Internal posts may be boosted by
    staff; the boost stays internal."""
    return visibility in (Visibility.PUBLIC, Visibility.UNLISTED)
