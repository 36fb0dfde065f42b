"""`fediverse federation ...`: the federation mode, domain rules, impact previews, requests and
the audit log, against the running server's database. Exit codes: 0 ok, 1 error, 2 usage.

Changes are seen by running servers within their policy cache time (a couple of seconds).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime, timedelta

from fediverse import federation_rules as rules
from fediverse.errors import DomainError
from fediverse.federation_rules import Actor, DomainBlockExists, Mode
from fediverse.storage.database import Connection, Database

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def _who() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(label=f"cli:{user}")


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _grace(hours: float | None) -> timedelta | None:
    return timedelta(hours=hours) if hours else None


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `federation` and its actions on the top-level parser."""
    federation = commands.add_parser("federation", help="federation mode, allowed/blocked domains")
    actions = federation.add_subparsers(dest="action", required=True)
    mode = actions.add_parser("mode", help="show or set the mode (open or allowlist)")
    mode.add_argument("mode", nargs="?", choices=[m.value for m in Mode])
    allow = actions.add_parser("allow", help="allow a domain (allowlist mode)")
    allow.add_argument("domain")
    block = actions.add_parser("block", help="block a domain")
    block.add_argument("domain")
    block.add_argument("--severity", choices=rules.SEVERITIES, default="suspend")
    block.add_argument("--reject-media", action="store_true")
    block.add_argument("--reject-reports", action="store_true")
    block.add_argument("--comment", help="private comment (for admins)")
    block.add_argument("--public-comment", help="shown in the public list of blocks")
    block.add_argument("--obfuscate", action="store_true", help="star the name in public lists")
    block.add_argument("--grace-hours", type=float, metavar="N", help="take effect in N hours")
    remove = actions.add_parser("remove", help="remove a domain's allow and block")
    remove.add_argument("domain")
    remove.add_argument("--grace-hours", type=float, metavar="N", help="take effect in N hours")
    cancel = actions.add_parser("cancel", help="undo a change still in its grace period")
    cancel.add_argument("domain")
    actions.add_parser("list", help="list the mode and the domain rules")
    impact = actions.add_parser("impact", help="what blocking or removing a domain would sever")
    impact.add_argument("domain")
    requests = actions.add_parser("requests", help="list, approve or deny federation requests")
    requests.add_argument("decision", nargs="?", choices=["approve", "deny", "all"])
    requests.add_argument("id", nargs="?", type=int)
    audit = actions.add_parser("audit", help="the audit log of admin changes, newest first")
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    actions.add_parser("apply-pending", help="apply changes whose grace period has ended")


async def run(args: argparse.Namespace, database: Database) -> int:
    """Carry out one `federation` action; prints what happened."""
    who = _who()
    now = datetime.now(UTC)
    try:
        if args.action == "requests" and args.decision in ("approve", "deny") and args.id is None:
            print("error: give the request ID to approve or deny", file=sys.stderr)
            return EXIT_USAGE
        async with database.transaction() as conn:
            return await _dispatch(args, conn, who, now)
    except DomainBlockExists as exists:
        print(f"error: {exists.message} (block id {exists.existing.id})", file=sys.stderr)
        return EXIT_ERROR
    except DomainError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return EXIT_ERROR


def _print_sever(report: rules.SeverReport) -> None:
    if report.following or report.followers or report.accounts_removed:
        print(
            f"Severed {report.following} follow(s) of local accounts and {report.followers} "
            f"follower(s) from {', '.join(report.domains) or 'there'}"
            + (f"; removed {report.accounts_removed} account(s)" if report.accounts_removed else "")
        )


async def _dispatch(args: argparse.Namespace, conn: Connection, who: Actor, now: datetime) -> int:
    c = conn
    action = args.action
    if action == "mode":
        if args.mode is None:
            print((await rules.read_mode(c)).value)
            return EXIT_OK
        report = await rules.set_mode(c, mode=Mode(args.mode), who=who, now=now)
        print(f"Federation mode is now {args.mode}")
        _print_sever(report)
        return EXIT_OK
    if action == "allow":
        rule = await rules.allow_domain(c, domain=args.domain, who=who, now=now)
        print(f"Allowed {rule.domain} (id {rule.id})")
        return EXIT_OK
    if action == "block":
        grace = _grace(args.grace_hours)
        rule = await rules.block_domain(
            c,
            domain=args.domain,
            who=who,
            now=now,
            severity=args.severity,
            reject_media=args.reject_media,
            reject_reports=args.reject_reports,
            private_comment=args.comment,
            public_comment=args.public_comment,
            obfuscate=args.obfuscate,
            grace=grace,
        )
        if grace:
            print(
                f"Blocked {rule.domain} ({rule.severity}) from {_when(rule.effective_at)}; "
                f"until then `fediverse federation cancel {rule.domain}` undoes it"
            )
        else:
            print(f"Blocked {rule.domain} ({rule.severity}, id {rule.id})")
        return EXIT_OK
    if action == "remove":
        removed = await rules.remove_domain(
            c,
            domain=args.domain,
            who=who,
            now=now,
            grace=_grace(args.grace_hours),
        )
        for rule in removed:
            grace = _grace(args.grace_hours)
            when = f" from {_when(now + grace)}" if grace else ""
            print(f"Removed the {rule.kind} rule for {rule.domain}{when}")
        return EXIT_OK
    if action == "cancel":
        name = rules.normalize_domain(args.domain)
        pending = [
            rule
            for rule in await rules.list_rules(c)
            if rule.domain == name and (rule.applied_at is None or rule.ends_at is not None)
        ]
        if not pending:
            print(f"error: nothing pending for {name}", file=sys.stderr)
            return EXIT_ERROR
        for rule in pending:
            await rules.cancel_pending(c, rule_id=rule.id, who=who, now=now)
            print(f"Cancelled the pending change to the {rule.kind} rule for {name}")
        return EXIT_OK
    if action == "list":
        return await _list(c, now)
    if action == "impact":
        found = await rules.impact(c, domain=args.domain)
        print(f"Impact of blocking or removing {found.domain}:")
        print(f"  local accounts following there: {found.following_count}")
        for local, remote in found.local_following:
            print(f"    @{local} follows {remote}")
        print(f"  followers from there: {found.followers_count}")
        for remote, local in found.remote_followers:
            print(f"    {remote} follows @{local}")
        print(f"  pending follow requests: {found.requests_count}")
        print(f"  accounts stored: {found.accounts_count}, statuses: {found.statuses_count}")
        return EXIT_OK
    if action == "requests":
        return await _requests(c, args, who, now)
    if action == "audit":
        for entry in await rules.list_audit(c, limit=args.limit):
            if args.json:
                print(
                    json.dumps(
                        {
                            "id": str(entry.id),
                            "actor": entry.actor,
                            "action": entry.action,
                            "target": entry.target,
                            "before": entry.before,
                            "after": entry.after,
                            "created_at": entry.created_at.isoformat(),
                        }
                    )
                )
            else:
                print(
                    f"{_when(entry.created_at)}  {entry.actor:<20} {entry.action:<28} "
                    f"{entry.target}  before={json.dumps(entry.before)} "
                    f"after={json.dumps(entry.after)}"
                )
        return EXIT_OK
    if action == "apply-pending":
        count = await rules.apply_due(c, now=now)
        print(f"Applied {count} pending change(s)")
        return EXIT_OK
    return EXIT_USAGE


async def _list(c: Connection, now: datetime) -> int:
    mode = await rules.read_mode(c)
    found = await rules.list_rules(c)
    figures = await rules.domain_figures(c)
    print(f"mode: {mode.value}")
    if not found:
        print("no domain rules")
        return EXIT_OK
    print(f"{'domain':<32} {'rule':<18} {'following':>9} {'followers':>9}  state")
    for rule in found:
        kind = "allow" if rule.kind == "allow" else f"block:{rule.severity}"
        flags = [
            flag
            for flag, on in (("media", rule.reject_media), ("reports", rule.reject_reports))
            if on
        ]
        if flags:
            kind += f" -{'-'.join(flags)}"
        if rule.effective_at > now:
            state = f"pending until {_when(rule.effective_at)}"
        elif rule.ends_at is not None:
            state = f"ends {_when(rule.ends_at)}"
        else:
            state = "in force"
        figure = figures.get(rule.domain)
        following = figure.staff_following if figure else 0
        followers = figure.followers_from_there if figure else 0
        print(f"{rule.domain:<32} {kind:<18} {following:>9} {followers:>9}  {state}")
    return EXIT_OK


async def _requests(c: Connection, args: argparse.Namespace, who: Actor, now: datetime) -> int:
    if args.decision == "approve":
        found = await rules.approve_request(c, request_id=args.id, who=who, now=now)
        follow = " (the server sends the follow shortly)" if found.follow else ""
        print(f"Approved request {found.id}: {found.domain} is allowed{follow}")
        return EXIT_OK
    if args.decision == "deny":
        found = await rules.deny_request(c, request_id=args.id, who=who, now=now)
        print(f"Denied request {found.id} for {found.acct}")
        return EXIT_OK
    state = None if args.decision == "all" else "pending"
    listed = await rules.list_requests(c, state=state)
    if not listed:
        print("no pending federation requests" if state else "no federation requests")
        return EXIT_OK
    print(f"{'id':<20} {'asked by':<16} {'account':<32} {'state':<9} when  reason")
    for item in listed:
        print(
            f"{item.id:<20} @{item.requester_username or '-':<15} {item.acct:<32} "
            f"{item.state:<9} {_when(item.created_at)}  {item.reason}"
        )
    return EXIT_OK
