"""``support mail-fetch``: the desk reads its own mailbox over IMAP (TLS or STARTTLS).

Which mail is new is kept in the mailbox itself, as the keyword ``$SupportTaken`` the desk
sets once a message is taken. Not ``\\Seen``: a person reading the mailbox with a client
must not hide mail from the desk. The order is take (which records the receipt key), then
flag: a crash between the two leaves a message the taker already knows, which the next
round only flags, so nothing is ever taken twice and nothing is lost.

Messages are fetched one at a time (only their sizes together): a 25 MB message is never
held next to others. Logs say UIDs and counts, never addresses, subjects or bodies.

aioimaplib (2.0.3) has no STARTTLS command: ``_starttls`` sends it and upgrades the
connection with asyncio's ``loop.start_tls``. It also leaves a command waiting when its
connection closes, so every command here also watches the connection (``_call``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Coroutine, Sequence
from typing import Any, TypeVar

import aioimaplib

from support.config import Settings
from support.mailin.taking import Taker

log = logging.getLogger("support.mail")
# aioimaplib logs every byte it sends and receives at DEBUG (bodies, addresses) and stray
# server lines at INFO: none of that belongs in the desk's logs.
logging.getLogger("aioimaplib").setLevel(logging.WARNING)

KEYWORD = "$SupportTaken"
# Seconds to wait for an answer; for a big FETCH, between two pieces of it.
TIMEOUT = 30.0
# RFC 2177: a client re-issues IDLE at least every 29 minutes, or the server may drop it.
IDLE_LIMIT = 28 * 60.0
FIRST_DELAY = 1.0
LONGEST_DELAY = 60.0
# A stop lets a command in progress (a take) finish this long before cancelling it.
STOP_GRACE = 0.5
# NO answers that mean "not now" (RFC 5530), not "never": tried again.
TRANSIENT_CODES = ("[UNAVAILABLE]", "[SERVERBUG]", "[INUSE]", "[LIMIT]")

T = TypeVar("T")


class ImapError(Exception):
    """What the mailbox refused, said plainly for a person to fix (a sign-in refused, a
    mailbox missing, a certificate not trusted, a setting missing); trying again would
    not help. From ``fetch_once`` also a mailbox that could not be reached."""


class _Lost(ConnectionError):
    """The connection closed while a command waited for its answer."""


class _Refused(Exception):
    """The server said NO or BAD where it should not (its own trouble): tried again."""


# Network and server trouble, worth a new connection. OSError: refused, reset, unreachable,
# timeouts (TimeoutError is one), TLS failures other than an untrusted certificate.
RETRIED: tuple[type[BaseException], ...] = (OSError, aioimaplib.AioImapException, _Refused)


def receipt_key(settings: Settings, uidvalidity: int, uid: int) -> str:
    """A message's key: a UID names one message only together with the mailbox's
    UIDVALIDITY (RFC 3501 2.3.1.1)."""
    return (f"imap:{settings.imap_username}@{settings.imap_host}/{settings.imap_mailbox}"
            f"/{uidvalidity}/{uid}")


async def fetch_once(settings: Settings, taker: Taker) -> int:
    """Connect, take every new message, sign out; how many were taken. A take that fails
    ends the round early (logged); the messages left are taken next time."""
    _check(settings)
    try:
        async with _opened(settings) as mailbox:
            taken, _ = await mailbox.take_new(taker, asyncio.Event())
            return taken
    except RETRIED as exc:
        raise ImapError(f"could not read mail from {_where(settings)}: {_describe(exc)}") \
            from exc


async def run(settings: Settings, taker: Taker, stop: asyncio.Event) -> None:
    """Take new mail until ``stop`` is set, waiting in IDLE where the server offers it
    (else polling every ``imap_poll_seconds``). Network and server trouble: a new
    connection after 1 s, doubling to 60 s, one log line each. An ``ImapError`` (a
    refused sign-in above all: retrying it could lock the account) ends the loop."""
    _check(settings)
    delay = FIRST_DELAY
    while not stop.is_set():
        mailbox = _Mailbox(settings)
        try:
            await _until_stopped(_session(mailbox, taker, stop), stop)
        except RETRIED as exc:
            if mailbox.rounds:
                delay = FIRST_DELAY  # it worked for a while: a fresh start
            log.warning("mail-fetch: %s: %s; connecting again in %.0f s",
                        _where(settings), _describe(exc), delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, LONGEST_DELAY)


async def _session(mailbox: _Mailbox, taker: Taker, stop: asyncio.Event) -> None:
    """One connection: a round, a wait, a round... until ``stop``."""
    settings = mailbox.settings
    try:
        await mailbox.open()
        log.info("mail-fetch: reading %s (%s)", _where(settings),
                 "IDLE" if mailbox.idles else f"every {settings.imap_poll_seconds} s")
        retry = FIRST_DELAY
        while not stop.is_set():
            _, complete = await mailbox.take_new(taker, stop)
            mailbox.rounds += 1
            if stop.is_set():
                return
            # After a failed take, try again sooner than the next poll, backing off.
            wait = IDLE_LIMIT if complete else retry
            retry = FIRST_DELAY if complete else min(retry * 2, LONGEST_DELAY)
            await mailbox.wait_for_mail(stop, min(float(settings.imap_poll_seconds), wait))
    finally:
        await mailbox.close()


async def _until_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    """Run ``work`` until it ends or ``stop`` is set: it ends itself at its next wait; one
    stuck in a connection attempt or a command is cancelled after ``STOP_GRACE``."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await asyncio.wait({task}, timeout=STOP_GRACE)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if not task.cancelled():
        task.result()  # its exception, if any


@contextlib.asynccontextmanager
async def _opened(settings: Settings) -> AsyncIterator[_Mailbox]:
    mailbox = _Mailbox(settings)
    try:
        await mailbox.open()
        yield mailbox
    finally:
        await mailbox.close()


class _Mailbox:
    """One connection to the mailbox, signed in and with the mailbox selected."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lost = asyncio.Event()
        self.client: Any = None  # aioimaplib.IMAP4 (untyped)
        self.uidvalidity = 0
        self.rounds = 0

    @property
    def idles(self) -> bool:
        return self.client is not None and bool(self.client.has_capability("IDLE"))

    async def open(self) -> None:
        settings = self.settings
        context = _tls_context(settings)
        implicit = settings.imap_security == "tls"
        self.client = aioimaplib.IMAP4(
            host=settings.imap_host, port=settings.imap_port, timeout=TIMEOUT,
            conn_lost_cb=self._on_lost, ssl_context=context if implicit else None)
        try:
            await self._call(self.client.wait_hello_from_server())
            if not implicit:
                await self._starttls(context)
        except ssl.SSLCertVerificationError as exc:
            raise ImapError(
                f"the certificate of {_where(settings)} is not trusted "
                f"({exc.verify_message}); if it comes from a private CA, set "
                "SUPPORT_IMAP_CA_FILE to that CA's certificate") from exc
        await self._login()
        await self._select()

    def _on_lost(self, exc: Exception | None) -> None:
        self.lost.set()

    async def _call(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``'s result, or ``_Lost`` as soon as the connection closes."""
        task = asyncio.ensure_future(awaitable)
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            lost.cancel()
        if task.done():
            return task.result()
        task.cancel()
        raise _Lost("the server closed the connection")

    async def _starttls(self, context: ssl.SSLContext) -> None:
        protocol = self.client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError(f"{_where(self.settings)} does not offer STARTTLS: the desk "
                            "never signs in without TLS (SUPPORT_IMAP_SECURITY=tls and the "
                            "server's TLS port, usually 993, if it has one)")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        answer = await self._call(asyncio.wait_for(protocol.execute(command), TIMEOUT))
        if answer.result != "OK":
            raise _Refused(f"STARTTLS: {_text(answer)}")
        # Bytes after the OK were sent in the clear: never read as if they came over TLS.
        protocol.incomplete_line = b""
        loop = asyncio.get_running_loop()
        protocol.transport = await self._call(loop.start_tls(
            protocol.transport, protocol, context, server_hostname=self.settings.imap_host,
            ssl_handshake_timeout=TIMEOUT))
        # RFC 3501 6.2.1: what the server said before TLS is forgotten; ask again.
        await self._call(asyncio.wait_for(protocol.capability(), TIMEOUT))

    async def _login(self) -> None:
        settings = self.settings
        # aioimaplib quotes the password but sends the user name as it is.
        answer = await self._call(self.client.login(_quoted(settings.imap_username),
                                                    settings.imap_password))
        if answer.result == "OK":
            return
        text = _text(answer)
        if any(code in text for code in TRANSIENT_CODES):
            raise _Refused(f"sign-in: {text}")
        raise ImapError(f"{_where(settings)} refused the sign-in ({text}): check "
                        "SUPPORT_IMAP_USERNAME and SUPPORT_IMAP_PASSWORD")

    async def _select(self) -> None:
        name = self.settings.imap_mailbox
        answer = await self._call(self.client.select(_quoted(_mailbox_name(name))))
        text = _text(answer)
        if answer.result != "OK":
            if any(code in text for code in TRANSIENT_CODES):
                raise _Refused(f"SELECT: {text}")
            raise ImapError(f"the mailbox {name!r} cannot be opened on "
                            f"{_where(self.settings)} ({text}): check SUPPORT_IMAP_MAILBOX")
        said = b"\n".join(bytes(line) for line in answer.lines)
        validity = re.search(rb"\[UIDVALIDITY (\d+)\]", said)
        if validity is None:
            raise _Refused("SELECT gave no UIDVALIDITY")
        self.uidvalidity = int(validity.group(1))
        if b"[READ-ONLY]" in said:
            raise ImapError(f"the mailbox {name!r} is read-only for this account: the desk "
                            f"marks what it has taken with the keyword {KEYWORD}")
        kept = re.search(rb"\[PERMANENTFLAGS \(([^)]*)\)\]", said)
        if kept is not None and not {b"\\*", KEYWORD.encode()} & set(kept.group(1).split()):
            raise ImapError(f"the mailbox {name!r} keeps no keywords of its own: the desk "
                            f"marks what it has taken with the keyword {KEYWORD}")

    async def take_new(self, taker: Taker, stop: asyncio.Event) -> tuple[int, bool]:
        """One round: (messages taken, whether the round went through to the end)."""
        uids = await self._search_new()
        if not uids:
            return 0, True
        keys = {uid: receipt_key(self.settings, self.uidvalidity, uid) for uid in uids}
        try:
            known = await taker.known(list(keys.values()))
        except Exception:  # noqa: BLE001 - the database is away: the next round tries again
            log.exception("mail-fetch: could not look up %d new message(s); trying later",
                          len(uids))
            return 0, False
        done = [uid for uid in uids if keys[uid] in known]
        if done:
            # Taken before a crash kept them from being marked: marked now, not taken again.
            await self._mark(done)
            log.info("mail-fetch: marked %d message(s) already taken", len(done))
        todo = [uid for uid in uids if keys[uid] not in known]
        sizes = await self._sizes(todo) if todo else {}
        taken = 0
        for uid in todo:
            if stop.is_set():
                return taken, False
            if uid not in sizes:
                continue  # expunged by someone else since the search
            try:
                took = await self._take(taker, uid, keys[uid], sizes[uid])
            except Exception:  # noqa: BLE001 - not marked: the next round tries it again
                log.exception("mail-fetch: message uid %d could not be taken; the rest wait "
                              "for the next round", uid)
                return taken, False
            if took:
                await self._mark([uid])
                taken += 1
        if taken:
            log.info("mail-fetch: took %d message(s)", taken)
        return taken, True

    async def _take(self, taker: Taker, uid: int, key: str, size: int) -> bool:
        """Fetch one message and hand it over; False when the server has it no more."""
        if size > self.settings.mail_max_bytes:
            header = await self._fetch_part(uid, "BODY.PEEK[HEADER]")
            if header is None:
                return False
            log.info("mail-fetch: message uid %d is %d bytes, over the limit: header only",
                     uid, size)
            await taker.take_oversize(key, header, size)
            return True
        raw = await self._fetch_part(uid, "BODY.PEEK[]")
        if raw is None:
            return False
        await taker.take(raw, key)
        return True

    async def _search_new(self) -> list[int]:
        # A server may show a session mail that arrived since its last command only after
        # the next one (Dovecot does): NOOP first, the poll RFC 3501 6.1.2 describes.
        _ensure_ok(await self._call(self.client.noop()), "NOOP")
        answer = await self._call(self.client.uid_search("UNKEYWORD", KEYWORD, charset=None))
        _ensure_ok(answer, "SEARCH")
        # The last line is the tagged answer's text; before it, the "* SEARCH" numbers.
        return sorted({int(word) for line in answer.lines[:-1]
                       for word in bytes(line).split() if word.isdigit()})

    async def _sizes(self, uids: Sequence[int]) -> dict[int, int]:
        answer = await self._call(self.client.uid("FETCH", _uid_set(uids), "(RFC822.SIZE)"))
        _ensure_ok(answer, "FETCH")
        sizes = {}
        for line in answer.lines:
            uid = re.search(rb"\bUID (\d+)", line)
            size = re.search(rb"\bRFC822\.SIZE (\d+)", line)
            if FETCH_LINE.match(line) and uid and size:
                sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    async def _fetch_part(self, uid: int, part: str) -> bytes | None:
        answer = await self._call(self.client.uid("FETCH", str(uid), f"({part})"))
        _ensure_ok(answer, "FETCH")
        return _literal(answer.lines, uid)

    async def _mark(self, uids: Sequence[int]) -> None:
        answer = await self._call(asyncio.wait_for(
            self.client.uid("STORE", _uid_set(uids), "+FLAGS.SILENT", f"({KEYWORD})"),
            TIMEOUT))
        _ensure_ok(answer, "STORE")

    async def wait_for_mail(self, stop: asyncio.Event, seconds: float) -> None:
        """Until the server says something (new mail), ``seconds`` pass or ``stop``."""
        if not self.idles:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)
            return
        # aioimaplib's own timer for ending IDLE is set past ours: ours ends it first.
        idle = await self._call(self.client.idle_start(timeout=seconds + TIMEOUT))
        waits = [asyncio.ensure_future(self.client.wait_server_push(timeout=seconds + TIMEOUT)),
                 asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.lost.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        if self.lost.is_set():
            raise _Lost("the server closed the connection")
        self.client.idle_done()
        await self._call(asyncio.wait_for(idle, TIMEOUT))

    async def close(self) -> None:
        """Sign out if the connection still stands; close it in any case."""
        if self.client is None:
            return
        protocol = self.client.protocol
        if (not self.lost.is_set() and protocol.transport is not None
                and not self.client.has_pending_idle()):
            with contextlib.suppress(*RETRIED):
                await self._call(asyncio.wait_for(protocol.logout(), 2.0))
        if protocol.transport is not None and not protocol.transport.is_closing():
            protocol.transport.close()


FETCH_LINE = re.compile(rb"\d+ FETCH \(")


def _literal(lines: Sequence[Any], uid: int) -> bytes | None:
    """The literal (aioimaplib gives it as a bytearray) of the FETCH response for ``uid``:
    an answer can also carry FETCH responses for other messages (flags a client changed
    meanwhile), and the UID item may come before or after the literal."""
    found: bytes | None = None
    text = b""
    literal: bytearray | None = None
    for line in [*lines, b"0 FETCH ("]:  # a sentinel closes the last response
        if isinstance(line, bytearray):
            literal = line
        elif FETCH_LINE.match(line):
            owner = re.search(rb"\bUID (\d+)", text)
            if literal is not None and owner and int(owner.group(1)) == uid:
                found = bytes(literal)
            text, literal = line, None
        else:
            text += b" " + line
    return found


def _uid_set(uids: Sequence[int]) -> str:
    """``1:3,7,9:10``: short commands even for thousands of messages."""
    ordered = sorted(set(uids))
    ranges: list[tuple[int, int]] = []
    for uid in ordered:
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], uid)
        else:
            ranges.append((uid, uid))
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in ranges)


def _mailbox_name(name: str) -> str:
    """RFC 3501 5.1.3: a mailbox name beyond printable ASCII in modified UTF-7."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode()
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tls_context(settings: Settings) -> ssl.SSLContext:
    """Certificates checked against the system's CAs, or only the one CA configured."""
    try:
        return ssl.create_default_context(cafile=settings.imap_ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ImapError(f"SUPPORT_IMAP_CA_FILE ({settings.imap_ca_file}) cannot be read as "
                        f"a CA certificate: {exc}") from exc


def _check(settings: Settings) -> None:
    if not settings.imap_host or not settings.imap_username:
        raise ImapError("SUPPORT_IMAP_HOST and SUPPORT_IMAP_USERNAME say which mailbox to "
                        "read: set both")
    for name in ("imap_username", "imap_password", "imap_mailbox"):
        if re.search(r"[\r\n\x00]", getattr(settings, name)):
            raise ImapError(f"SUPPORT_{name.upper()} contains a line break or a NUL")


def _ensure_ok(answer: Any, command: str) -> None:
    if answer.result != "OK":
        raise _Refused(f"{command}: {answer.result} {_text(answer)}")


def _text(answer: Any) -> str:
    """The text of a tagged answer (its last line), for a person to read."""
    last = answer.lines[-1] if answer.lines else b""
    return bytes(last).decode("utf-8", "replace").strip()


def _where(settings: Settings) -> str:
    return f"the mail server {settings.imap_host}:{settings.imap_port}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer in {TIMEOUT:.0f} s"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionError) and exc.errno:
        return os.strerror(exc.errno)  # asyncio's text is "Connect call failed (...)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
