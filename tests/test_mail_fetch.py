"""`support mail-fetch`'s mailbox reader (support/mailin/imap.py) against a real, private
Dovecot (tests/servers/dovecot.py) over TLS and STARTTLS.

The taker here records what it is handed (the desk's real one is tested end to end
elsewhere); the mailbox's side is read back with imaplib, a client of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

from support.config import Settings
from support.mailin import imap
from support.mailin.imap import KEYWORD, ImapError, fetch_once
from tests.servers.dovecot import Dovecot, dovecot, free_port, running  # noqa: F401 - the session's server


@dataclass
class Recorder:
    """A Taker that keeps what it is given. ``broken``: every take fails before recording
    (the database is away); ``crash_after_recording``: the take records its key and then
    fails, as a process killed between the database's commit and the flag would."""

    taken: dict[str, bytes] = field(default_factory=dict)
    oversize: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    broken: bool = False
    crash_after_recording: bool = False

    async def known(self, keys: Sequence[str]) -> set[str]:
        return {key for key in keys if key in self.taken or key in self.oversize}

    async def take(self, raw: bytes, key: str, recipients: Sequence[str] = ()) -> None:
        self.calls.append(key)
        if self.broken:
            raise RuntimeError("the database is away")
        assert key not in self.taken, f"{key} taken twice"
        self.taken[key] = raw
        if self.crash_after_recording:
            raise RuntimeError("killed after the commit")

    async def take_oversize(self, key: str, header: bytes, size: int) -> None:
        self.calls.append(key)
        assert key not in self.oversize, f"{key} taken twice"
        self.oversize[key] = (header, size)


def message(subject: str, sender: str = "asha.rao@example.net", body: str = "Hello") -> bytes:
    return (f"From: Asha Rao <{sender}>\r\nTo: desk@example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <{time.monotonic_ns()}@example.net>\r\n\r\n{body}\r\n").encode()


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Iterator[Dovecot]:  # noqa: F811
    """The session's Dovecot with an empty INBOX (running again if a test stopped it)."""
    if dovecot.process is None:
        dovecot.start()
    dovecot.clear()
    yield dovecot
    if dovecot.process is None:
        dovecot.start()


@pytest.fixture
def imap_settings(settings: Settings, mailbox: Dovecot) -> Settings:
    return dataclasses.replace(
        settings, imap_host=mailbox.host, imap_port=mailbox.tls_port, imap_security="tls",
        imap_username=mailbox.username, imap_password=mailbox.password,
        imap_ca_file=mailbox.ca_file, imap_poll_seconds=60)


def starttls(settings: Settings, mailbox: Dovecot) -> Settings:
    return dataclasses.replace(settings, imap_port=mailbox.starttls_port,
                               imap_security="starttls")


def key(mailbox: Dovecot, uid: int, uidvalidity: int) -> str:
    return f"imap:{mailbox.username}@{mailbox.host}/INBOX/{uidvalidity}/{uid}"


def uidvalidity(mailbox: Dovecot) -> int:
    with mailbox.client() as client:
        return int(client.response("UIDVALIDITY")[1][0])


async def eventually(check: Callable[[], bool], seconds: float) -> float:
    """How long ``check`` took to hold; fails after ``seconds``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_new_mail_is_taken_over_tls_and_starttls(
        imap_settings: Settings, mailbox: Dovecot, security: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = starttls(imap_settings, mailbox) if security == "starttls" else imap_settings
    first, second = message("Unlock for my phone"), message("Second thoughts")
    mailbox.append(first)
    mailbox.append(second)
    taker = Recorder()

    assert await fetch_once(settings, taker) == 2

    validity = uidvalidity(mailbox)
    (uid1, flags1), (uid2, flags2) = mailbox.messages()
    assert taker.taken == {key(mailbox, uid1, validity): first,
                           key(mailbox, uid2, validity): second}
    assert KEYWORD in flags1 and KEYWORD in flags2
    assert "\\Seen" not in flags1 | flags2  # BODY.PEEK: the mailbox's people still see it new
    # Counts and UIDs in the logs, never who wrote or what about.
    assert "took 2 message(s)" in caplog.text
    for private in ("asha.rao@example.net", "Unlock for my phone", "Hello"):
        assert private not in caplog.text


async def test_a_wrong_password_is_said_plainly(imap_settings: Settings) -> None:
    settings = dataclasses.replace(imap_settings, imap_password="not-the-password")
    with pytest.raises(ImapError) as refused:
        await fetch_once(settings, Recorder())
    said = str(refused.value)
    assert "refused the sign-in" in said and "AUTHENTICATIONFAILED" in said
    assert "SUPPORT_IMAP_PASSWORD" in said and "not-the-password" not in said


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_a_certificate_from_another_ca_is_refused(
        imap_settings: Settings, mailbox: Dovecot, security: str, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    settings = starttls(imap_settings, mailbox) if security == "starttls" else imap_settings
    mailbox.append(message("Hello"))
    taker = Recorder()

    for ca_file in (str(other), ""):  # another CA; the system's CAs
        with pytest.raises(ImapError, match="certificate .* is not trusted"):
            await fetch_once(dataclasses.replace(settings, imap_ca_file=ca_file), taker)

    assert taker.calls == []
    assert [flags for _, flags in mailbox.messages()] == [set()]


async def test_a_missing_mailbox_is_said_plainly(imap_settings: Settings) -> None:
    settings = dataclasses.replace(imap_settings, imap_mailbox="Desk/Nowhere")
    with pytest.raises(ImapError, match="'Desk/Nowhere' cannot be opened"):
        await fetch_once(settings, Recorder())


async def test_a_server_that_cannot_be_reached_is_said_plainly(
        imap_settings: Settings) -> None:
    settings = dataclasses.replace(imap_settings, imap_port=free_port())
    with pytest.raises(ImapError, match="could not read mail from .*Connection refused"):
        await fetch_once(settings, Recorder())


async def test_each_message_is_taken_once(imap_settings: Settings, mailbox: Dovecot) -> None:
    mailbox.append(message("One"))
    mailbox.append(message("Two"))
    taker = Recorder()

    assert await fetch_once(imap_settings, taker) == 2
    assert await fetch_once(imap_settings, taker) == 0
    mailbox.append(message("Three"))
    assert await fetch_once(imap_settings, taker) == 1

    assert len(taker.calls) == 3 == len(set(taker.calls))


async def test_a_person_reading_the_mailbox_hides_nothing(
        imap_settings: Settings, mailbox: Dovecot) -> None:
    mailbox.append(message("Read by a colleague first"))
    [(uid, _)] = mailbox.messages()
    mailbox.flag(uid, "\\Seen")
    taker = Recorder()

    assert await fetch_once(imap_settings, taker) == 1
    assert list(taker.taken) == [key(mailbox, uid, uidvalidity(mailbox))]


async def test_a_crash_between_recording_and_flagging_takes_nothing_twice(
        imap_settings: Settings, mailbox: Dovecot) -> None:
    mailbox.append(message("First"))
    mailbox.append(message("Second"))
    taker = Recorder(crash_after_recording=True)

    # The first take records its key and fails: not flagged, and the round stops there.
    assert await fetch_once(imap_settings, taker) == 0
    (uid1, flags1), (uid2, flags2) = mailbox.messages()
    assert KEYWORD not in flags1 | flags2
    assert len(taker.calls) == 1

    taker.crash_after_recording = False
    assert await fetch_once(imap_settings, taker) == 1  # the second; the first only flagged
    validity = uidvalidity(mailbox)
    assert taker.calls == [key(mailbox, uid1, validity), key(mailbox, uid2, validity)]
    assert all(KEYWORD in flags for _, flags in mailbox.messages())
    assert await fetch_once(imap_settings, taker) == 0


async def test_a_take_that_fails_leaves_the_message_for_the_next_round(
        imap_settings: Settings, mailbox: Dovecot) -> None:
    mailbox.append(message("While the database is away"))
    taker = Recorder(broken=True)

    assert await fetch_once(imap_settings, taker) == 0
    assert [flags for _, flags in mailbox.messages()] == [set()]

    taker.broken = False
    assert await fetch_once(imap_settings, taker) == 1
    assert len(taker.taken) == 1


async def test_an_oversize_message_is_taken_from_its_header(
        imap_settings: Settings, mailbox: Dovecot) -> None:
    raw = message("Scans of everything", body="x" * 5000)
    small = message("Just text")
    mailbox.append(raw)
    mailbox.append(small)
    taker = Recorder()
    settings = dataclasses.replace(imap_settings, mail_max_bytes=2000)

    assert await fetch_once(settings, taker) == 2

    (uid, flags), _ = mailbox.messages()
    header, size = taker.oversize[key(mailbox, uid, uidvalidity(mailbox))]
    assert size == len(raw)
    assert header == raw[:raw.index(b"\r\n\r\n") + 4]
    assert list(taker.taken.values()) == [small]
    assert KEYWORD in flags


async def test_run_takes_mail_pushed_while_it_waits_and_stops_promptly(
        imap_settings: Settings, mailbox: Dovecot) -> None:
    taker = Recorder()
    stop = asyncio.Event()
    # Polling once a minute: only IDLE can bring a message within seconds.
    task = asyncio.create_task(imap.run(imap_settings, taker, stop))
    try:
        mailbox.append(message("Before"))
        await eventually(lambda: len(taker.taken) == 1, 5)
        await asyncio.sleep(0.3)  # back in IDLE

        mailbox.append(message("While waiting"))
        assert await eventually(lambda: len(taker.taken) == 2, 3) < 3
    finally:
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 1
    assert all(KEYWORD in flags for _, flags in mailbox.messages())


async def test_run_connects_again_after_the_server_restarts(
        imap_settings: Settings, mailbox: Dovecot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="support.mail")
    taker = Recorder()
    stop = asyncio.Event()
    task = asyncio.create_task(imap.run(imap_settings, taker, stop))
    try:
        mailbox.append(message("Before the restart"))
        await eventually(lambda: len(taker.taken) == 1, 5)

        mailbox.stop()
        await asyncio.sleep(0.5)  # refused while it is down
        mailbox.start()
        mailbox.append(message("After the restart"))
        await eventually(lambda: len(taker.taken) == 2, 10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)

    assert len(taker.calls) == 2
    retries = [r.getMessage() for r in caplog.records if "connecting again" in r.getMessage()]
    assert retries and "connecting again in 1 s" in retries[0]


async def test_run_stops_at_a_refused_sign_in(
        imap_settings: Settings, mailbox: Dovecot) -> None:
    settings = dataclasses.replace(imap_settings, imap_password="not-the-password")
    failures = mailbox.log.count("auth failed")

    with pytest.raises(ImapError, match="refused the sign-in"):
        await asyncio.wait_for(imap.run(settings, Recorder(), asyncio.Event()), 5)

    # One attempt, no hammering (Dovecot writes the line when the connection closes).
    await eventually(lambda: mailbox.log.count("auth failed") > failures, 2)
    await asyncio.sleep(0.2)
    assert mailbox.log.count("auth failed") == failures + 1


async def test_a_mailbox_named_beyond_ascii(imap_settings: Settings, mailbox: Dovecot) -> None:
    # "Büro" on the wire is modified UTF-7 (RFC 3501 5.1.3): ü is U+00FC, base64 "APw".
    mailbox.clear("B&APw-ro")
    mailbox.append(message("Filed by a rule"), "B&APw-ro")
    [(uid, _)] = mailbox.messages("B&APw-ro")
    taker = Recorder()

    assert await fetch_once(dataclasses.replace(imap_settings, imap_mailbox="Büro"), taker) == 1

    with mailbox.client("B&APw-ro") as client:
        validity = int(client.response("UIDVALIDITY")[1][0])
    assert list(taker.taken) == [
        f"imap:{mailbox.username}@{mailbox.host}/Büro/{validity}/{uid}"]


@pytest.fixture
def polled_only() -> Iterator[Dovecot]:
    """A Dovecot that does not offer IDLE (its capability list without it)."""
    with running("imap_capability = IMAP4rev1 LITERAL+ UIDPLUS\n") as server:
        yield server


async def test_run_polls_a_server_without_idle(
        imap_settings: Settings, polled_only: Dovecot) -> None:
    settings = dataclasses.replace(
        imap_settings, imap_port=polled_only.tls_port, imap_ca_file=polled_only.ca_file,
        imap_poll_seconds=1)
    with polled_only.client() as client:
        assert b"IDLE" not in client.capability()[1][0]
    taker = Recorder()
    stop = asyncio.Event()
    task = asyncio.create_task(imap.run(settings, taker, stop))
    try:
        await asyncio.sleep(0.3)
        polled_only.append(message("Found by polling"))
        assert await eventually(lambda: len(taker.taken) == 1, 3) < 1.5
    finally:
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 1
