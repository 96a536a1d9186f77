"""`support <command>`: serve, worker, migrate, bootstrap, and reviewer accounts
(create-reviewer, list-reviewers, deactivate-reviewer, set-reviewer-password)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from support import db, logs
from support.config import Settings

T = TypeVar("T")


async def _bootstrap(settings: Settings, email: str) -> tuple[str, str] | None:
    """Create the first admin when there is none; return (email, password) once."""
    from support import auth
    from support.models import Reviewer
    from support.passwords import generate_password

    await db.init(settings.database_url)
    try:
        if await Reviewer.filter(role="admin").exists():
            return None
        password = generate_password()
        admin = await auth.create_reviewer(email, "Administrator", "admin", password)
        return admin.email, password
    finally:
        await db.close()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(db.migrate(settings.database_url))
    print("Database is up to date.")
    return 0


def cmd_bootstrap(settings: Settings, args: argparse.Namespace) -> int:
    from support.auth import AuthError

    try:
        created = asyncio.run(_bootstrap(settings, args.email))
    except AuthError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    if created is None:
        print("An admin reviewer already exists; nothing to do.")
    else:
        print("First admin reviewer created. Keep these, they are shown only once:")
        print(f"  email:    {created[0]}")
        print(f"  password: {created[1]}")
    return 0


async def _with_db(settings: Settings, action: Callable[[], Awaitable[T]]) -> T:
    await db.init(settings.database_url)
    try:
        return await action()
    finally:
        await db.close()


def _split(value: str | None) -> list[str] | None:
    """"unlock, recovery" -> ["unlock", "recovery"]; None stays None (the default)."""
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def _read_new_password() -> str | None:
    """From a pipe: its first line. At a terminal: asked twice, not echoed."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (at least 12 characters): ")
    second = getpass.getpass("The same password again: ")
    if first != second:
        print("error: the two passwords differ; nothing was changed.", file=sys.stderr)
        return None
    return first


def cmd_create_reviewer(settings: Settings, args: argparse.Namespace) -> int:
    from support import auth

    password = _read_new_password()
    if password is None:
        return 1
    try:
        reviewer = asyncio.run(_with_db(settings, lambda: auth.create_reviewer(
            args.email, args.name, args.role, password,
            kinds=_split(args.kinds), countries=_split(args.countries),
        )))
    except auth.AuthError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    queues = ", ".join(reviewer.kinds) or "none"
    countries = ", ".join(reviewer.countries) or "all countries"
    print(f"Reviewer {reviewer.email} created: role {reviewer.role}, queues {queues}, "
          f"{countries}.")
    return 0


def cmd_list_reviewers(settings: Settings, args: argparse.Namespace) -> int:
    from support.formatting import format_when
    from support.models import Reviewer

    async def everyone() -> list[Reviewer]:
        return await Reviewer.all().order_by("email")

    reviewers = asyncio.run(_with_db(settings, everyone))
    if not reviewers:
        print("No reviewers yet. Create one with: support create-reviewer EMAIL --name NAME "
              "--role reviewer")
        return 0
    header = ("EMAIL", "NAME", "ROLE", "ACTIVE", "QUEUES", "COUNTRIES", "LAST LOGIN")
    rows = [
        (
            r.email, r.name, r.role, "yes" if r.active else "no",
            ",".join(r.kinds) or "-", ",".join(r.countries) or "all",
            format_when(r.last_login_at) if r.last_login_at else "never",
        )
        for r in reviewers
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())
    return 0


def cmd_deactivate_reviewer(settings: Settings, args: argparse.Namespace) -> int:
    from support import auth

    try:
        ended = asyncio.run(_with_db(settings, lambda: auth.deactivate(args.email)))
    except auth.AuthError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    sessions = "1 session" if ended == 1 else f"{ended} sessions"
    print(f"Reviewer {args.email.strip()} deactivated: they can no longer sign in; "
          f"{sessions} ended.")
    return 0


def cmd_set_reviewer_password(settings: Settings, args: argparse.Namespace) -> int:
    from support import auth

    password = _read_new_password()
    if password is None:
        return 1
    try:
        reviewer = asyncio.run(_with_db(settings, lambda: auth.set_password(args.email, password)))
    except auth.AuthError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"New password set for {reviewer.email}; any lock is lifted and their sessions "
          "have ended.")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from support.app import create_app

    port = args.port or int(__import__("os").environ.get("PORT") or 8000)
    print(f"Support desk: http://{args.host}:{port}/  (Ctrl+C to stop)", flush=True)
    trusted: str | None = args.proxy_from or None
    forked = args.workers > 1  # each forked process builds its app from the environment
    uvicorn.run("support.app:from_env" if forked else create_app(settings), factory=forked,
                workers=args.workers, host=args.host, port=port, log_level="info",
                log_config=None, proxy_headers=bool(trusted), forwarded_allow_ips=trusted)
    return 0


async def _worker(settings: Settings) -> None:
    from support.notify import worker

    await db.init(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await worker.run(settings, worker.Backends.from_settings(settings), stop)
    finally:
        await db.close()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(_worker(settings))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="support",
        description="The support desk. Settings come from SUPPORT_* environment variables "
        "(see README.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the web app (with the delivery worker inside)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=0, help="port (default: $PORT or 8000)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="web processes sharing the port (default 1); with more than one, "
                       "set SUPPORT_INPROCESS_WORKER=0 and run `support worker` (docs/deploy.md)")
    serve.add_argument("--proxy-from", metavar="ADDRESSES", default="",
                       help="trust X-Forwarded-For/-Proto from these proxy addresses "
                       "(e.g. 127.0.0.1 for nginx on the same machine); default: trust none")
    serve.set_defaults(func=cmd_serve)
    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(
        func=cmd_migrate
    )
    boot = commands.add_parser("bootstrap", help="create the first admin reviewer if none exists")
    boot.add_argument("--email", default="admin@example.com", help="the admin's sign-in email")
    boot.set_defaults(func=cmd_bootstrap)

    from support.auth import KINDS, ROLES

    stdin_note = (
        "The password is read from the first line of standard input when it is not a "
        "terminal (for scripts: echo \"$PW\" | support ...), otherwise asked for twice."
    )
    create = commands.add_parser(
        "create-reviewer",
        help="create a reviewer account (the password is read from stdin or asked for)",
        description="Create a reviewer account. " + stdin_note,
    )
    create.add_argument("email", metavar="EMAIL", help="the reviewer's sign-in email")
    create.add_argument("--name", required=True, help="the name colleagues see")
    create.add_argument("--role", required=True, choices=ROLES,
                        help="reviewer decides applications; lead also manages the queues; "
                        "admin also manages reviewers")
    create.add_argument("--kinds", metavar="LIST",
                        help=f"comma-separated queues to work (default: all, {','.join(KINDS)})")
    create.add_argument("--countries", metavar="LIST",
                        help="comma-separated ISO country codes, e.g. IN,RU (default: all)")
    create.set_defaults(func=cmd_create_reviewer)
    commands.add_parser(
        "list-reviewers", help="show every reviewer: email, name, role, active, queues, last login"
    ).set_defaults(func=cmd_list_reviewers)
    deactivate = commands.add_parser(
        "deactivate-reviewer",
        help="stop a reviewer from signing in and end their sessions now",
    )
    deactivate.add_argument("email", metavar="EMAIL", help="the reviewer's sign-in email")
    deactivate.set_defaults(func=cmd_deactivate_reviewer)
    reset = commands.add_parser(
        "set-reviewer-password",
        help="give a reviewer a new password, lift a lock-out and end their sessions",
        description="Set a reviewer's password. " + stdin_note,
    )
    reset.add_argument("email", metavar="EMAIL", help="the reviewer's sign-in email")
    reset.set_defaults(func=cmd_set_reviewer_password)
    commands.add_parser("worker", help="run the delivery worker as its own process").set_defaults(
        func=cmd_worker
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure()
    settings = Settings.from_env()
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    sys.exit(main())
