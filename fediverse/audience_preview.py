"""Who would see a draft, told before anything is posted: the same resolution as posting, with
no row written and no peer asked."""

from __future__ import annotations

from fediverse import default_scope, statuses
from fediverse.audience import is_wider
from fediverse.audience_report import WIDENS_THREAD, AudienceReport, build_report, resolve_audience
from fediverse.statuses import Draft, PostingContext
from fediverse.storage.accounts import Account, User
from fediverse.storage.database import Connection


async def preview_audience(
    conn: Connection, *, author: Account, user: User, draft: Draft, ctx: PostingContext
) -> AudienceReport:
    defaults = await default_scope.default_for(conn, user)
    scope = await statuses.resolve_scope(
        conn,
        author=author,
        draft=draft,
        default_visibility=defaults.visibility,
        default_local_only=defaults.local_only,
    )
    mentioned_ids, unknown = await statuses.known_mentioned_ids(
        conn, author=author, text=draft.text, ctx=ctx
    )
    audience = await resolve_audience(
        conn,
        author_id=author.id,
        visibility=scope.visibility,
        local_only=scope.local_only,
        mentioned_ids=mentioned_ids,
        now=None,
    )
    warnings = []
    parent = scope.parent
    if parent is not None and (
        is_wider(scope.visibility, parent.visibility)
        or (parent.local_only and not scope.local_only)
    ):
        warnings.append(WIDENS_THREAD)
    for acct in unknown:
        if "@" in acct:
            warnings.append(f"@{acct} is not known here yet; it will be looked up when you post")
        else:
            warnings.append(f"@{acct} does not exist here and will not be mentioned")
    report = await build_report(conn, audience, status_id=None, warnings=warnings)
    if not audience.federates:
        for account in report.mentioned:
            if not account.is_local:
                report.warnings.append(
                    f"@{account.acct} is on another server and will not see this post, "
                    "which stays on this server"
                )
    return report
