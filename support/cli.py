"""`support <command>`: serve, worker, migrate, bootstrap."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from support import db, logs
from support.config import Settings


async def _bootstrap(settings: Settings, email: str) -> tuple[str, str] | None:
    """Create the first admin when there is none; return (email, password) once."""
    from support.models import Reviewer
    from support.passwords import generate_password, hash_password

    await db.init(settings.database_url)
    try:
        if await Reviewer.filter(role="admin").exists():
            return None
        password = generate_password()
        await Reviewer.create(email=email, name="Administrator", role="admin",
                              password_hash=hash_password(password))
        return email, password
    finally:
        await db.close()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(db.migrate(settings.database_url))
    print("Database is up to date.")
    return 0


def cmd_bootstrap(settings: Settings, args: argparse.Namespace) -> int:
    created = asyncio.run(_bootstrap(settings, args.email))
    if created is None:
        print("An admin reviewer already exists; nothing to do.")
    else:
        print("First admin reviewer created. Keep these, they are shown only once:")
        print(f"  email:    {created[0]}")
        print(f"  password: {created[1]}")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from support.app import create_app

    port = args.port or int(__import__("os").environ.get("PORT") or 8000)
    print(f"Support desk: http://{args.host}:{port}/  (Ctrl+C to stop)", flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=port, log_level="info",
                proxy_headers=False, log_config=None)
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
    serve.set_defaults(func=cmd_serve)
    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(
        func=cmd_migrate
    )
    boot = commands.add_parser("bootstrap", help="create the first admin reviewer if none exists")
    boot.add_argument("--email", default="admin@example.com", help="the admin's sign-in email")
    boot.set_defaults(func=cmd_bootstrap)
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
