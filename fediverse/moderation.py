"""Moderation of accounts and reports by staff (Mastodon's admin API), each change audited."""

from __future__ import annotations

from datetime import datetime

from fediverse import accounts as account_domain
from fediverse import invites
from fediverse.errors import NotFound, ValidationError
from fediverse.federation_rules import Actor, record_audit
from fediverse.storage import accounts as account_store
from fediverse.storage import moderation as store
from fediverse.storage.accounts import Account, User
from fediverse.storage.database import Connection
from fediverse.storage.moderation import ReportRow

ACCOUNT_ACTIONS = ("none", "disable", "silence", "suspend", "sensitive")


async def account_with_user(conn: Connection, account_id: int) -> tuple[Account, User | None]:
    account = await account_store.fetch_account(conn, account_id=account_id)
    if account is None:
        raise NotFound()
    user = None
    if account.domain is None:
        user = await account_store.fetch_user_by_account(conn, account_id=account.id)
        if user is None:
            raise NotFound()
    return account, user


def _state(account: Account, user: User | None) -> dict[str, object]:
    return {
        "suspended": account.suspended_at is not None,
        "silenced": account.silenced_at is not None,
        "disabled": bool(user and user.disabled),
        "approved": bool(user is None or user.approved),
    }


async def act_on_account(
    conn: Connection, *, account_id: int, action: str, who: Actor, now: datetime
) -> None:
    """approve, reject, suspend, silence, disable, none, unsuspend, unsilence, enable."""
    account, user = await account_with_user(conn, account_id)
    before = _state(account, user)
    if action in ("approve", "reject"):
        if user is None or user.approved:
            raise ValidationError("the account is not pending approval", field="id")
        if action == "approve":
            await invites.approve(conn, user=user)
        else:
            await store.delete_account(conn, account_id=account.id)
    elif action == "suspend":
        await account_domain.set_suspended(conn, account, True)
    elif action == "unsuspend":
        await account_domain.set_suspended(conn, account, False)
    elif action == "silence":
        await store.update_account_moderation(
            conn, account_id=account.id, silenced_at=now, clear=None
        )
    elif action == "unsilence":
        await store.update_account_moderation(
            conn, account_id=account.id, silenced_at=None, clear="silenced_at"
        )
    elif action in ("disable", "enable"):
        if user is None:
            raise ValidationError("only local accounts can be disabled", field="type")
        await account_store.update_user(
            conn, user_id=user.id, changes={"disabled": action == "disable"}
        )
    elif action not in ("none", "sensitive"):
        raise ValidationError(f"unknown action {action!r}", field="type")
    after = None
    if action != "reject":
        account, user = await account_with_user(conn, account_id)
        after = _state(account, user)
    await record_audit(
        conn,
        who=who,
        action=f"account.{action}",
        target=account.acct,
        before=before,
        after=after,
        now=now,
    )


async def report(conn: Connection, *, report_id: int) -> ReportRow:
    found = await store.fetch_report(conn, report_id=report_id)
    if found is None:
        raise NotFound()
    return found


async def act_on_report(
    conn: Connection, *, report_id: int, action: str, who: Actor, now: datetime
) -> ReportRow:
    """resolve, reopen, assign_to_self, unassign."""
    found = await report(conn, report_id=report_id)
    taken_at, taken_by, assigned = (
        found.action_taken_at,
        found.action_taken_by_account_id,
        found.assigned_account_id,
    )
    if action == "resolve":
        taken_at, taken_by = now, who.account_id
    elif action == "reopen":
        taken_at, taken_by = None, None
    elif action == "assign_to_self":
        assigned = who.account_id
    elif action == "unassign":
        assigned = None
    else:
        raise ValidationError(f"unknown action {action!r}", field="action")
    await store.update_report(
        conn,
        report_id=report_id,
        action_taken_at=taken_at,
        action_taken_by_account_id=taken_by,
        assigned_account_id=assigned,
        now=now,
    )
    await record_audit(
        conn,
        who=who,
        action=f"report.{action}",
        target=str(report_id),
        before={"action_taken": found.action_taken_at is not None},
        after={"action_taken": taken_at is not None},
        now=now,
    )
    return await report(conn, report_id=report_id)
