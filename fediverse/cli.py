"""The `fediverse` command: serve, worker, migrate, accounts. The composition root for commands."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fediverse import accounts as account_domain
from fediverse import announcements, federation_cli, invites
from fediverse.config import Settings, load_settings
from fediverse.errors import DomainError
from fediverse.runtime import DatabaseHandle, generate_password, open_database
from fediverse.storage import accounts as account_store
from fediverse.storage import migrations
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls

SERVE_POOL_SIZE = 32


def _make_keypair() -> tuple[str, str]:
    from federation.keys import generate_keypair  # composition root: lazy by design

    return generate_keypair()


async def _with_database(url: str, work: Callable[[Database], Awaitable[int]]) -> int:
    database = Database(url, min_size=1, max_size=2)
    await database.connect()
    try:
        return await work(database)
    finally:
        await database.close()


async def ensure_first_admin(database: Database, settings: Settings) -> tuple[str, str] | None:
    """On first start, make an admin account and return its login to print once."""
    async with database.transaction() as conn:
        await conn.execute("SELECT pg_advisory_xact_lock(727001)")
        if await account_store.count_local_users(conn) > 0:
            return None
        password = generate_password()
        host = settings.domain.split(":")[0]
        email = f"admin@{host if '.' in host else host + '.local'}"
        await account_domain.create_local_account(
            conn,
            urls=LocalUrls(settings),
            username="admin",
            email=email,
            password=password,
            role="admin",
            make_keypair=_make_keypair,
        )
        return email, password


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _freeze_startup_objects() -> None:
    """Keep what start-up made (modules, the app) out of the garbage collector's scans: its
    full collections then walk only what requests made. In bench/inbox.py this took the
    collector's time in `serve` from 162 to 67 ms per 5,000 activities."""
    gc.collect()
    gc.freeze()


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from web.app import create_app
    from web.background import start_background

    if args.no_workers:
        settings = settings.with_overrides(run_workers=False)
    handle = open_database(settings)
    try:
        migrations.upgrade(handle.url)
        login = asyncio.run(_with_admin(handle, settings))
        if login:
            print("=" * 72)
            print("First start: an admin account was created. This is shown only once.")
            print(f"  username: admin\n  email:    {login[0]}\n  password: {login[1]}")
            print("=" * 72, flush=True)
        # The queue workers hold one LISTEN connection each (4) and the inbox worker applies up
        # to 8 activities at once; with asyncpg's default of 10, HTTP requests queued for a
        # connection (inbox p50 70 ms at 16 concurrent deliveries, bench/inbox.py).
        database = Database(handle.url, max_size=SERVE_POOL_SIZE)
        app = create_app(settings, database, start_background=start_background)
        print(f"Serving {settings.base_url} on http://{args.host}:{args.port}", flush=True)
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it; exit normally instead so
        # the `finally` below still stops the embedded PostgreSQL.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        _freeze_startup_objects()
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            loop="uvloop",
            http="httptools",
            log_level=args.log_level,
            proxy_headers=True,
            forwarded_allow_ips=settings.trusted_proxies,
            # Per-message compression doubles streaming's CPU and memory per connection.
            ws_per_message_deflate=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        handle.close()
    return 0


async def _with_admin(handle: DatabaseHandle, settings: Settings) -> tuple[str, str] | None:
    async def work(database: Database) -> Any:
        return await ensure_first_admin(database, settings)

    return await _with_database(handle.url, work)  # type: ignore[return-value]


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import uvloop

    from web.background import run_worker_forever

    handle = open_database(settings)
    try:
        migrations.upgrade(handle.url)
        # uvloop, as `serve` has through uvicorn: asyncio's own socket writes were the largest
        # single cost of a worker applying inbox activities (bench/inbox.py --separate-worker).
        _freeze_startup_objects()
        uvloop.run(run_worker_forever(settings, handle.url))
    except KeyboardInterrupt:
        pass
    finally:
        handle.close()
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    handle = open_database(settings)
    try:
        if args.downgrade:
            migrations.downgrade(handle.url, args.downgrade)
        else:
            migrations.upgrade(handle.url)
        print(
            "Database is up to date." if not args.downgrade else f"Downgraded to {args.downgrade}."
        )
    finally:
        handle.close()
    return 0


def _accounts(args: argparse.Namespace, settings: Settings) -> int:
    handle = open_database(settings)
    try:
        return asyncio.run(
            _with_database(handle.url, lambda db: _accounts_async(args, settings, db))
        )
    finally:
        handle.close()


async def _accounts_async(args: argparse.Namespace, settings: Settings, database: Database) -> int:
    try:
        async with database.transaction() as conn:
            if args.action == "create":
                account, user = await account_domain.create_local_account(
                    conn,
                    urls=LocalUrls(settings),
                    username=args.username,
                    email=args.email,
                    password=args.password,
                    role="admin" if args.admin else "user",
                    make_keypair=_make_keypair,
                )
                print(
                    f"Created @{account.username} ({user.email}), role {user.role}, id {account.id}"
                )
            elif args.action == "list":
                rows = await account_store.list_local_accounts(conn)
                print(f"{'username':<24} {'email':<32} {'role':<10} state")
                for account, user in rows:
                    state = "suspended" if account.suspended_at else "active"
                    print(f"{account.username:<24} {user.email:<32} {user.role:<10} {state}")
            elif args.action == "invite":
                hours = args.expires_in
                invite = await invites.create_invite(
                    conn,
                    created_by_user_id=None,
                    max_uses=args.max_uses,
                    expires_in=None if hours is None else timedelta(hours=hours),
                    now=datetime.now(UTC),
                )
                print(invites.invite_url(LocalUrls(settings), invite.code))
            else:
                account, user = await account_domain.local_account_by_username(conn, args.username)
                if args.action == "suspend":
                    await account_domain.set_suspended(conn, account, True)
                    print(f"Suspended @{account.username}")
                elif args.action == "unsuspend":
                    await account_domain.set_suspended(conn, account, False)
                    print(f"Unsuspended @{account.username}")
                elif args.action == "reset-password":
                    password = args.password or generate_password()
                    await account_domain.reset_password(conn, user, password)
                    print(f"New password for @{account.username}: {password}")
                elif args.action == "approve":
                    await invites.approve(conn, user=user)
                    print(f"Approved @{account.username}")
                elif args.action == "make-admin":
                    await account_domain.set_role(conn, user, "admin")
                    print(f"@{account.username} is now an admin")
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _federation(args: argparse.Namespace, settings: Settings) -> int:
    """`fediverse federation ...` against the server's database (FEDIVERSE_DATABASE_URL or
    the embedded one in the data directory)."""
    handle = open_database(settings)
    try:
        return asyncio.run(_with_database(handle.url, lambda db: federation_cli.run(args, db)))
    finally:
        handle.close()


def _announce(args: argparse.Namespace, settings: Settings) -> int:
    """`fediverse announce TEXT`: an announcement every staff app shows (with reactions)."""
    handle = open_database(settings)

    async def work(database: Database) -> int:
        try:
            async with database.transaction() as conn:
                made = await announcements.create_announcement(conn, text=args.text)
        except DomainError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        print(f"Published announcement {made.id}")
        return 0

    try:
        return asyncio.run(_with_database(handle.url, work))
    finally:
        handle.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fediverse", description="A federated microblogging server for organizations."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web server (and background workers)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-workers", action="store_true", help="do not run background workers")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", help="run background workers only (deliveries, ...)")
    worker.set_defaults(handler=_worker)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--downgrade", metavar="REVISION", help="downgrade to REVISION instead")
    migrate.set_defaults(handler=_migrate)

    accounts = commands.add_parser("accounts", help="manage local accounts")
    actions = accounts.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a local account")
    create.add_argument("username")
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--admin", action="store_true", help="give the account the admin role")
    actions.add_parser("list", help="list local accounts")
    for name, text in (
        ("suspend", "suspend an account (its tokens stop working)"),
        ("unsuspend", "lift a suspension"),
        ("make-admin", "give an account the admin role"),
        ("approve", "let an account that signed up in approval mode sign in"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("username")
    invite = actions.add_parser("invite", help="make an invite link (prints its URL)")
    invite.add_argument("--max-uses", type=int, help="how many accounts it may create")
    invite.add_argument("--expires-in", type=float, metavar="HOURS", help="valid for HOURS")
    reset = actions.add_parser("reset-password", help="set a new password (random if not given)")
    reset.add_argument("username")
    reset.add_argument("--password")
    accounts.set_defaults(handler=_accounts)
    federation_cli.add_parser(commands)
    commands.choices["federation"].set_defaults(handler=_federation)
    announce = commands.add_parser("announce", help="publish an announcement to all staff")
    announce.add_argument("text", help="the announcement (plain text)")
    announce.set_defaults(handler=_announce)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every request at INFO; the delivery worker already logs one line per delivery,
    # and the duplicate cost ~7% of the server's CPU during fan-out (bench/fanout.py).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return int(args.handler(args, settings))


if __name__ == "__main__":
    sys.exit(main())
