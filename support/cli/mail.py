"""``support mail-in`` (an LMTP listener) and ``support mail-fetch`` (a mailbox reader):
the two ways mail reaches the desk (docs/deploy.md, "Mail coming in")."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from support.config import Settings
from support.data import db
from support.documents.store import close_clients
from support.mailin import imap, lmtp
from support.mailin.desk import DeskTaker


def add_parsers(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    mail_in = command(
        commands, "mail-in", "take the desk's mail over LMTP from a mail server",
        "Listen for LMTP (RFC 2033) deliveries from the desk's own mail server (Postfix, "
        "Dovecot) and take each message in: a reply to a request for information answers "
        "it, a bounce marks its email undelivered, anything else is recorded and its "
        "sender told where to apply. Reads the same settings and data directory as "
        "`support serve`. A message the desk cannot take now is answered 451, so the mail "
        "server keeps it and tries again.",
        ["support mail-in                          # 127.0.0.1:2424, or SUPPORT_LMTP_HOST/PORT",
         "support mail-in --host 127.0.0.1 --port 24"],
    )
    mail_in.add_argument("--host", help="address to listen on (default SUPPORT_LMTP_HOST, "
                         "127.0.0.1)")
    mail_in.add_argument("--port", type=int, help="port to listen on (default "
                         "SUPPORT_LMTP_PORT, 2424)")
    mail_in.set_defaults(func=cmd_mail_in)
    fetch = command(
        commands, "mail-fetch", "take the desk's mail from an IMAP mailbox",
        "Read the mailbox named by SUPPORT_IMAP_* (IMAP over TLS or STARTTLS) and take each "
        "new message in, as `support mail-in` does. Waits for new mail with IDLE where "
        "the server offers it, else looks every SUPPORT_IMAP_POLL_SECONDS. Messages are "
        "left in the mailbox, marked with the keyword $SupportTaken.",
        ["support mail-fetch           # keep reading until stopped",
         "support mail-fetch --once    # take what is there now, then stop (cron)"],
    )
    fetch.add_argument("--once", action="store_true",
                       help="take what is in the mailbox now and stop")
    fetch.set_defaults(func=cmd_mail_fetch)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _mail_in(settings: Settings, host: str, port: int) -> None:
    await db.init(settings.database_url)
    try:
        ready = asyncio.Event()
        stop = _stop_on_signals()
        task = asyncio.create_task(lmtp.serve(settings, DeskTaker(settings), host, port,
                                              stop, ready))
        await asyncio.wait([task, asyncio.create_task(ready.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
        if ready.is_set():
            print(f"Taking mail over LMTP on {host}:{port}. Stop with Ctrl+C.", flush=True)
        await task
    finally:
        await db.close()
        await close_clients()


def _warn_without_base_url(settings: Settings) -> None:
    """The answers this process writes link to the desk: without SUPPORT_BASE_URL it can
    only guess the address from PORT, which is the web process's, not its own."""
    if not os.environ.get("SUPPORT_BASE_URL"):
        print(f"Note: links in answers point to {settings.base_url}; set SUPPORT_BASE_URL "
              "to the desk's address, as for support serve.", file=sys.stderr)


def cmd_mail_in(settings: Settings, args: argparse.Namespace) -> int:
    _warn_without_base_url(settings)
    host = args.host or settings.lmtp_host
    port = settings.lmtp_port if args.port is None else args.port
    try:
        asyncio.run(_mail_in(settings, host, port))
    except OSError as error:
        print(f"support mail-in: cannot listen on {host}:{port} ({error.strerror or error})",
              file=sys.stderr)
        return 1
    return 0


async def _mail_fetch(settings: Settings, once: bool) -> int:
    await db.init(settings.database_url)
    try:
        taker = DeskTaker(settings)
        if once:
            taken = await imap.fetch_once(settings, taker)
            print(f"{taken} messages taken.")
            return 0
        print(f"Reading {settings.imap_mailbox} at {settings.imap_host}. Stop with Ctrl+C.",
              flush=True)
        await imap.run(settings, taker, _stop_on_signals())
        return 0
    finally:
        await db.close()
        await close_clients()


def cmd_mail_fetch(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.imap_host or not settings.imap_username:
        print("support mail-fetch: set SUPPORT_IMAP_HOST, SUPPORT_IMAP_USERNAME and "
              "SUPPORT_IMAP_PASSWORD (README.md, Configuration)", file=sys.stderr)
        return 2
    _warn_without_base_url(settings)
    try:
        return asyncio.run(_mail_fetch(settings, args.once))
    except imap.ImapError as error:
        print(f"support mail-fetch: {error}", file=sys.stderr)
        return 1
