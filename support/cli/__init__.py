"""`support <command>`: serve, worker, migrate, bootstrap, reviewer accounts
(create-reviewer, list-reviewers, deactivate-reviewer, set-reviewer-password,
reset-second-factor), purge and export (``export``).

The top of the desk: may import every package. ``database`` connects a command to the
database for one action; ``export`` is ``support export``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import socket
import sys
import textwrap
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette

from support.accounts import auth, history, second_factor
from support.accounts.auth import AuthError
from support.accounts.passwords import generate_password
from support.accounts.roles import ROLES
from support.cli import api as api_commands
from support.cli import backups as backup_commands
from support.cli import export as export_command
from support.cli import mail as mail_commands
from support.cli.database import with_db
from support.cli.storage import storage_ready
from support.clock import worker
from support.config import ConfigError, Settings
from support.data import db
from support.data.models import Reviewer
from support.documents.store import DocumentStore, close_clients
from support.notify import delivery
from support.platform import logs, memory, metrics_dir
from support.platform.formatting import format_when
from support.rules.kinds import queues
from support.workflow import purging
from support.workflow.retention import ERASED_LINK_DAYS


async def _bootstrap(settings: Settings, email: str) -> tuple[str, str] | None:
    """Create the first admin when there is none; return (email, password) once."""
    await db.init(settings.database_url)
    try:
        if await Reviewer.filter(role="admin").exists():
            return None
        password = generate_password()
        admin = await auth.create_reviewer(email, "Administrator", "admin", password,
                                           actor=history.CLI)
        return admin.email, password
    finally:
        await db.close()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    if args.undo:
        return backup_commands.undo_migrate(settings)
    result = backup_commands.migrate_safely(
        settings, lambda: asyncio.run(db.migrate(settings.database_url)))
    if result == 0:
        print("Database is up to date.")
    return result


def cmd_bootstrap(settings: Settings, args: argparse.Namespace) -> int:
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
        print("At the first sign-in the desk asks to set up sign-in codes (an authenticator "
              "app); then add the other reviewers from the Admin page: each gets a link to "
              "choose their own password.")
    return 0


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
    password = _read_new_password()
    if password is None:
        return 1
    try:
        reviewer = asyncio.run(with_db(settings, lambda: auth.create_reviewer(
            args.email, args.name, args.role, password,
            kinds=_split(args.kinds), countries=_split(args.countries), actor=history.CLI,
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
    async def everyone() -> list[Reviewer]:
        return await Reviewer.all().order_by("email")

    reviewers = asyncio.run(with_db(settings, everyone))
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
    try:
        ended = asyncio.run(with_db(settings, lambda: auth.deactivate(args.email,
                                                                      actor=history.CLI)))
    except auth.AuthError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    sessions = "1 session" if ended == 1 else f"{ended} sessions"
    print(f"Reviewer {args.email.strip()} deactivated: they can no longer sign in; "
          f"{sessions} ended.")
    return 0


def cmd_set_reviewer_password(settings: Settings, args: argparse.Namespace) -> int:
    password = _read_new_password()
    if password is None:
        return 1
    try:
        reviewer = asyncio.run(with_db(settings, lambda: auth.set_password(
            args.email, password, actor=history.CLI)))
    except auth.AuthError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"New password set for {reviewer.email}; any lock is lifted and their sessions "
          "have ended.")
    return 0


async def _reset_second_factor(email: str) -> tuple[Reviewer, int]:
    reviewer = await auth.reviewer_by_email(email)
    return reviewer, await second_factor.reset(reviewer, actor=history.CLI)


def cmd_reset_second_factor(settings: Settings, args: argparse.Namespace) -> int:
    try:
        reviewer, ended = asyncio.run(with_db(settings, lambda: _reset_second_factor(args.email)))
    except auth.AuthError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    sessions = "1 session" if ended == 1 else f"{ended} sessions"
    print(f"Sign-in codes and recovery codes of {reviewer.email} removed; {sessions} ended. "
          "They sign in with their password and set up new codes at once"
          + (" (their role needs them)." if second_factor.must_have(
              reviewer, settings.require_2fa) else ", or later from their account page."))
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    # Here, not at the top: the app imports prometheus-client, which picks its mode
    # (one process or many) on import; ``main`` has run ``metrics_dir.prepare`` by now.
    from support.app import to_serve

    if not storage_ready(settings, "serve"):
        return 1
    DocumentStore.of(settings).prepare()  # 0.5 s the first time, then 30 ms
    port = args.port or int(os.environ.get("PORT") or 8000)
    print(f"Support desk: http://{args.host}:{port}/  (Ctrl+C to stop)", flush=True)
    trusted: str | None = args.proxy_from or None
    forked = args.workers > 1  # each forked process builds its app from the environment
    app: Starlette | str = "support.app:from_env" if forked else to_serve(settings)
    uvicorn.run(app, factory=forked,
                workers=args.workers, host=args.host, port=port, log_level="info",
                log_config=None, proxy_headers=bool(trusted), forwarded_allow_ips=trusted)
    return 0


async def _worker(settings: Settings) -> None:
    await db.init(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await worker.run(settings, delivery.Backends.from_settings(settings), stop)
    finally:
        await db.close()
        await close_clients()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    if not storage_ready(settings, "worker"):
        return 1
    asyncio.run(_worker(settings))
    return 0



def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    """The retention policy by hand (the worker runs it daily). Counts only are printed:
    a run's output may end up in a ticket or a cron mail."""
    if args.batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    would = "would be " if args.dry_run else ""
    print(("Dry run: nothing is changed. " if args.dry_run else "")
          + f"Documents go {settings.document_retention_days} days after an application "
          f"closes, personal data {settings.pii_retention_days} days after; erasures asked "
          "for are carried out once the application is closed.", flush=True)

    def progress(step: str, checked: int, done: int) -> None:
        if not args.quiet:
            print(f"  {step}: {checked} checked, {done} {would}done so far", flush=True)

    report = asyncio.run(with_db(settings, lambda: purging.purge(
        settings, dry_run=args.dry_run, size=args.batch_size, progress=progress,
    )))
    print(f"{report.erased} applications {would}erased at the applicant's request")
    print(f"documents of {report.documents} applications {would}deleted "
          f"under the retention policy ({report.files} files in all)")
    print(f"personal data of {report.redacted} applications {would}redacted")
    print(f"{report.notifications} sent notifications {would}redacted")
    print(f"{report.links} status links of erased applications {would}deleted")
    print(f"{report.mail} emails no application was found for {would}redacted")
    print("Dry run: nothing was changed." if args.dry_run else "Done.")
    return 0


EXAMPLES_HEADING = "examples:\n"


def _command(commands: Any, name: str, summary: str, description: str,
             examples: list[str]) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does and shows how it is typed."""
    return commands.add_parser(  # type: ignore[no-any-return]
        name, help=summary, description=textwrap.fill(description, 88),
        epilog=EXAMPLES_HEADING + "\n".join(f"  {line}" for line in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="support",
        description=textwrap.fill(
            "The support desk. Settings come from SUPPORT_* environment variables (README.md; "
            "deploying: docs/deploy.md). `support COMMAND --help` explains a command.", 88),
        epilog=EXAMPLES_HEADING + "  support migrate && support bootstrap && support serve\n"
        "  SUPPORT_LOG_FORMAT=text support worker",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = _command(
        commands, "serve", "run the web app (with the delivery worker inside)",
        "Serve the desk over HTTP with uvicorn. The delivery worker runs inside the process "
        "unless SUPPORT_INPROCESS_WORKER=0. Logs go to standard error, as JSON lines unless "
        "it is a terminal (SUPPORT_LOG_FORMAT=json|text to choose); /metrics answers "
        "Prometheus from this machine, or anywhere with SUPPORT_METRICS_TOKEN.",
        ["support serve                               # http://127.0.0.1:8000/",
         "support serve --host 0.0.0.0 --port 8080",
         "SUPPORT_INPROCESS_WORKER=0 support serve --workers 2 --proxy-from 127.0.0.1",
         "    # behind nginx, with `support worker` running beside it (docs/deploy.md)"],
    )
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only; "
                       "0.0.0.0 for every interface)")
    serve.add_argument("--port", type=int, default=0,
                       help="port to listen on (default: $PORT, or 8000)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="web processes sharing the port (default 1); with more than one, "
                       "set SUPPORT_INPROCESS_WORKER=0 and run `support worker` (docs/deploy.md)")
    serve.add_argument("--proxy-from", metavar="ADDRESSES", default="",
                       help="trust X-Forwarded-For/-Proto from these proxy addresses "
                       "(e.g. 127.0.0.1 for nginx on the same machine); default: trust none")
    serve.set_defaults(func=cmd_serve)
    migrate = _command(
        commands, "migrate", "apply pending database migrations",
        "Bring the database (SUPPORT_DATABASE_URL) up to the code's schema. Safe to run "
        "again: applied migrations are skipped. Run it once, before new code serves. On "
        "SQLite, a database with migrations to apply is backed up first into "
        "<data dir>/backups (the last three kept); --undo puts the newest back.",
        ["support migrate",
         "support migrate --undo                      # the upgrade went wrong: as before",
         "SUPPORT_DATABASE_URL=postgres://support@127.0.0.1/support support migrate"],
    )
    migrate.add_argument("--undo", action="store_true",
                         help="put back the database as it was before the last upgrade "
                         "(SQLite; stop the desk first)")
    migrate.set_defaults(func=cmd_migrate)
    boot = _command(
        commands, "bootstrap", "create the first admin reviewer if none exists",
        "Create the first admin reviewer and print their generated password, once. Does "
        "nothing when an admin exists, so it is safe in a start-up script.",
        ["support bootstrap", "support bootstrap --email it@maker.example"],
    )
    boot.add_argument("--email", default="admin@example.com",
                      help="the admin's sign-in email (default admin@example.com)")
    boot.set_defaults(func=cmd_bootstrap)

    stdin_note = (
        "The password is read from the first line of standard input when it is not a "
        "terminal (for scripts: echo \"$PW\" | support ...), otherwise asked for twice."
    )
    create = _command(
        commands, "create-reviewer",
        "create a reviewer account (the password is read from stdin or asked for)",
        "Create a reviewer account. " + stdin_note,
        ["support create-reviewer asha@maker.example --name 'Asha R' --role reviewer "
         "--kinds unlock,appeal",
         "echo \"$PW\" | support create-reviewer lead@maker.example --name Lead --role lead "
         "--countries IN,BD"],
    )
    create.add_argument("email", metavar="EMAIL", help="the reviewer's sign-in email")
    create.add_argument("--name", required=True, help="the name colleagues see (required)")
    create.add_argument("--role", required=True, choices=ROLES,
                        help="(required) reviewer decides applications; lead also manages "
                        "the queues; admin also manages reviewers")
    create.add_argument("--kinds", metavar="LIST",
                        help=f"comma-separated queues to work (default: all, {','.join(queues())})")
    create.add_argument("--countries", metavar="LIST",
                        help="comma-separated ISO country codes, e.g. IN,RU (default: all)")
    create.set_defaults(func=cmd_create_reviewer)
    _command(
        commands, "list-reviewers",
        "show every reviewer: email, name, role, active, queues, last login",
        "Print one line per reviewer account, active or not, sorted by email.",
        ["support list-reviewers"],
    ).set_defaults(func=cmd_list_reviewers)
    deactivate = _command(
        commands, "deactivate-reviewer",
        "stop a reviewer from signing in and end their sessions now",
        "Deactivate a reviewer account: sign-in is refused and open sessions end at once. "
        "Their decisions and notes stay on the applications' timelines.",
        ["support deactivate-reviewer asha@maker.example"],
    )
    deactivate.add_argument("email", metavar="EMAIL", help="the reviewer's sign-in email")
    deactivate.set_defaults(func=cmd_deactivate_reviewer)
    reset = _command(
        commands, "set-reviewer-password",
        "give a reviewer a new password, lift a lock-out and end their sessions",
        "Set a reviewer's password. " + stdin_note,
        ["support set-reviewer-password asha@maker.example",
         "echo \"$PW\" | support set-reviewer-password asha@maker.example"],
    )
    reset.add_argument("email", metavar="EMAIL", help="the reviewer's sign-in email")
    reset.set_defaults(func=cmd_set_reviewer_password)
    factor = _command(
        commands, "reset-second-factor",
        "remove a reviewer's sign-in codes (a lost phone) and end their sessions",
        "Remove a reviewer's second factor (their authenticator app's secret and their "
        "recovery codes) and end every session of theirs, for a reviewer who lost their "
        "phone and their recovery codes, or an admin locked out of the desk. They set up "
        "new codes at their next sign-in. Check who is asking by another channel first: "
        "whoever has the password sets them up.",
        ["support reset-second-factor asha@maker.example"],
    )
    factor.add_argument("email", metavar="EMAIL", help="the reviewer's sign-in email")
    factor.set_defaults(func=cmd_reset_second_factor)
    _command(
        commands, "worker", "run the delivery worker as its own process",
        "Send the outbox (email, SMS) and run the housekeeping jobs until SIGTERM or "
        "Ctrl+C, which finish the message in hand and hand the rest back. Any number may "
        "run on PostgreSQL. Logs are JSON lines unless standard error is a terminal; each "
        "sent message's line carries the request id of the request that queued it. "
        "SUPPORT_WORKER_INTERVAL_MS sets the pause between passes (default 1000).",
        ["support worker", "SUPPORT_LOG_FORMAT=json support worker 2>>/var/log/support-worker.log"],
    ).set_defaults(func=cmd_worker)
    purge = _command(
        commands, "purge", "apply the retention policy now (the worker does it daily)",
        "Delete what the retention policy says we no longer keep: documents "
        "SUPPORT_DOCUMENT_RETENTION_DAYS (default 90) after an application is decided, "
        "withdrawn or expired; account ID, phone, email, IMEI, reason, replies, "
        "notification recipients and verification codes SUPPORT_PII_RETENTION_DAYS "
        "(default 365) after. Erasures applicants asked for are carried out once their "
        "application is closed, and status links of erased applications are deleted "
        f"{ERASED_LINK_DAYS} days after the erasure. Decisions, reason codes, kind, "
        "country, model, firmware, dates and statuses are kept for statistics. Safe to "
        "run again and beside running workers: what is done is not done twice. Prints "
        "counts, never personal data.",
        ["support purge --dry-run          # what would go, without changing anything",
         "support purge                    # do it, printing counts after each batch",
         "support purge --quiet --batch-size 2000   # from cron: totals only"],
    )
    purge.add_argument("--dry-run", action="store_true",
                       help="count what would be deleted or redacted and change nothing")
    purge.add_argument("--batch-size", type=int, default=500, metavar="N",
                       help="rows read and changed per transaction (default 500); larger is "
                       "faster, smaller holds locks for less time")
    purge.add_argument("--quiet", action="store_true",
                       help="print only the totals at the end, not the counts after each batch")
    purge.set_defaults(func=cmd_purge)
    export_command.add_parser(commands, _command)
    api_commands.add_parsers(commands, _command)
    mail_commands.add_parsers(commands, _command)
    backup_commands.add_parsers(commands, _command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # A restore needs its data dir as it found it, a backup copies what is there.
        settings = Settings.from_env(make_secret=args.command not in {"restore", "backup"})
    except ConfigError as error:  # one line saying which setting, not a traceback
        print(f"support {args.command}: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format)
    if args.command in {"serve", "worker", "mail-in", "mail-fetch"}:
        # Before anything imports prometheus-client: it picks its mode on import.
        metrics_dir.prepare(settings.metrics_path)
        memory.keep_large_blocks_apart()
    try:
        result: int = args.func(settings, args)
    except Exception as exc:
        if not _unreachable(exc):
            raise
        # One line, not a traceback: nothing in the code is wrong (issue 19).
        print(f"support {args.command}: cannot reach the database at "
              f"{_where(settings.database_url)} ({_names(exc)}). Is it running, and is "
              "SUPPORT_DATABASE_URL right?", file=sys.stderr)
        return 1
    return result


def _unreachable(error: BaseException) -> bool:
    """The database is down or refuses us (``db.unavailable``), or its host has no address."""
    cause: BaseException | None = error
    for _ in range(8):  # a chain, not a cycle
        if cause is None:
            break
        if isinstance(cause, socket.gaierror):
            return True
        cause = cause.__cause__ or cause.__context__
    return db.unavailable(error)


def _names(error: BaseException) -> str:
    """The error's class and the one it came from: messages may quote the URL."""
    chain = [type(error).__name__]
    cause = error.__cause__ or error.__context__
    if cause is not None:
        chain.append(type(cause).__name__)
    return " from ".join(chain)


def _where(database_url: str) -> str:
    """The database's address without its user or password."""
    parts = urlsplit(database_url)
    if not parts.netloc:
        return database_url
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


if __name__ == "__main__":
    sys.exit(main())
