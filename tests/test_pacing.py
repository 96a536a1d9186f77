"""The worker gives way to the front door while the cores are contended, but never holds
work back longer than ``worker_yield_seconds`` (support/clock/pacing.py)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from support.clock import pacing, worker
from support.data.models import DeliveryStatus, Document, Notification
from support.documents.filing import sanitise_pending
from support.notify import delivery
from support.notify.backends import build_email
from support.notify.outbox import applicant_messages
from support.notify.render import EmailContent
from tests.conftest import jpeg_bytes
from tests.factories import make_application
from tests.test_hostile_documents import store_directly

MS = 1_000_000  # nanoseconds


class Schedstat:
    """A stand-in for /proc/thread-self/schedstat that the test moves forward."""

    def __init__(self, path: Path) -> None:
        self.path, self.ran, self.waited = path, 10_000 * MS, 0
        self._write()

    def _write(self) -> None:
        self.path.write_text(f"{self.ran} {self.waited} 100\n")

    def advance(self, ran_ms: int, waited_ms: int) -> None:
        self.ran += ran_ms * MS
        self.waited += waited_ms * MS
        self._write()


class Always:
    """A contention reading fixed by the test."""

    def __init__(self, contended: bool) -> None:
        self.value = contended

    def contended(self) -> bool:
        return self.value


def test_contention_is_the_share_of_running_time_spent_waiting_for_a_cpu(tmp_path):
    stat = Schedstat(tmp_path / "schedstat")
    contention = pacing.Contention(stat.path)
    assert not contention.contended()  # nothing has run since
    stat.advance(ran_ms=20, waited_ms=30)
    assert contention.contended()  # half again of its running time spent waiting
    stat.advance(ran_ms=20, waited_ms=1)
    assert not contention.contended()
    stat.advance(ran_ms=20, waited_ms=13)
    # alone on a quiet 2-core machine, its own PostgreSQL backend and file threads made
    # the worker wait up to 65% of its running time: that is not others wanting the cores
    assert not contention.contended()
    stat.advance(ran_ms=1, waited_ms=30)
    assert not contention.contended()  # too little run to judge: the verdict stands
    stat.advance(ran_ms=10, waited_ms=0)
    assert contention.contended()  # judged over the 11 ms run since: 30 ms waited


def test_without_schedstat_the_worker_never_gives_way(tmp_path):
    contention = pacing.Contention(tmp_path / "missing")
    assert not contention.contended()


def test_the_real_schedstat_is_read():
    """On this Linux the kernel keeps the statistics: a busy loop is running time."""
    contention = pacing.Contention()
    assert contention._last is not None
    before = contention._last[0]
    until = time.thread_time() + 0.030  # 30 ms of this thread's own CPU, however busy the machine
    while time.thread_time() < until:
        pass
    contention.contended()
    assert contention._last is not None
    assert contention._last[0] - before >= 20 * MS  # the busy loop counted as running time


async def _queue(count: int, since: datetime | None = None, *, urgent: bool = False) -> None:
    """``count`` messages, half by email and half by SMS: codes (urgent) or the bulk
    "received" message."""
    application = await make_application()
    rows = []
    for number in range(count // 2):
        if urgent:
            rows += applicant_messages(application, "verification_code",
                                       {"code": f"{number:06d}", "minutes": 10})
        else:
            rows += applicant_messages(application, "received",
                                       {"status_url": f"http://127.0.0.1/s/{number}"})
    for row in rows:
        row.application = application
        if since is not None:
            row.next_attempt_at = since
    await Notification.bulk_create(rows)


async def test_contended_cores_leave_fresh_messages_to_the_next_tick(settings, app):
    await _queue(4)
    assert await pacing.give_way(settings, Always(True))
    assert not await pacing.give_way(settings, Always(False))
    assert not await pacing.give_way(settings.with_(worker_yield_seconds=0), Always(True))


async def test_a_message_that_has_waited_the_limit_is_never_held_back(settings, app):
    await _queue(2, since=datetime.now(UTC) - timedelta(seconds=31))
    await _queue(2)
    assert not await pacing.give_way(settings.with_(worker_yield_seconds=30), Always(True))
    assert await pacing.give_way(settings.with_(worker_yield_seconds=60), Always(True))


async def _sent_in_first_tick(settings, monkeypatch, contended: bool) -> int:
    """How many the loop sends before its first sleep (a tick of 5 s: whatever is sent
    within 3 s was sent in the first)."""
    monkeypatch.setattr(pacing, "Contention", lambda: Always(contended))
    stop = asyncio.Event()
    slow = settings.with_(worker_interval=5.0)
    task = asyncio.create_task(worker.run(slow, delivery.Backends.from_settings(slow), stop))
    try:
        sent, settled = 0, 0
        for _ in range(60):
            await asyncio.sleep(0.05)
            now = await Notification.filter(status=DeliveryStatus.SENT).count()
            settled = settled + 1 if now == sent and now > 0 else 0
            sent = now
            if settled == 10:  # unchanged for half a second: the loop sleeps
                break
        return sent
    finally:
        stop.set()
        await task


async def test_under_contention_the_worker_sends_one_batch_a_tick(settings, app, monkeypatch):
    """120 fresh messages, the cores contended: a batch of 50, then the rest waits for the
    next tick. With the cores free, all 120 go in the first."""
    await _queue(120)
    assert await _sent_in_first_tick(settings, monkeypatch, contended=True) == 50
    await Notification.all().delete()
    await _queue(120)
    assert await _sent_in_first_tick(settings, monkeypatch, contended=False) == 120


def _pacing(settings, contended: bool):
    """The clock's pacing as the worker hands it to the documents' filing."""
    return lambda since: pacing.may_wait(settings, Always(contended), since)


async def test_codes_go_first_and_are_never_held_back(settings, app, monkeypatch):
    """A burst: 120 older bulk messages, then 30 codes. Contended, the first tick sends
    every code and one batch of the rest; the codes went before any bulk message."""
    await _queue(120, since=datetime.now(UTC) - timedelta(seconds=5))
    await _queue(30, urgent=True)
    assert await _sent_in_first_tick(settings, monkeypatch, contended=True) == 30 + 50
    sent = await Notification.filter(status=DeliveryStatus.SENT).order_by("sent_at", "id")
    assert all(row.urgent for row in sent[:30])
    assert await Notification.filter(urgent=True).exclude(status=DeliveryStatus.SENT).count() == 0
    assert await Notification.filter(urgent=False, status=DeliveryStatus.PENDING).count() == 70


async def test_photos_wait_one_a_tick_under_contention_but_not_past_the_limit(settings, app):
    application = await make_application()
    for width in (64, 65, 66):
        await store_directly(settings, application, jpeg_bytes((width, 48)), "image/jpeg",
                             "photo.jpg")
    assert await sanitise_pending(settings, may_wait=_pacing(settings, True)) == 1
    assert await sanitise_pending(settings, may_wait=_pacing(settings, False)) == 2

    for width in (67, 68, 69):
        await store_directly(settings, application, jpeg_bytes((width, 48)), "image/jpeg",
                             "photo.jpg")
    await Document.filter(sanitised_at=None).update(
        created_at=datetime.now(UTC) - timedelta(minutes=5))
    assert await sanitise_pending(settings, may_wait=_pacing(settings, True)) == 3


async def test_sent_messages_are_marked_in_groups_with_their_secrets_wiped(settings, app,
                                                                           outbox):
    """Marked ten at a time, one statement each; every one ends sent, counted once, with
    its code gone from the row."""
    await _queue(46, urgent=True)
    assert await outbox.deliver() == 46
    rows = await Notification.all()
    assert len(rows) == 46
    assert all(row.status is DeliveryStatus.SENT and row.attempts == 1 for row in rows)
    assert all(row.sent_at is not None and row.context["code"] == "[sent]" for row in rows)
    assert len(outbox.emails()) == 23 and len(outbox.sms()) == 23


def test_an_email_reads_back_as_written_in_any_language():
    content = EmailContent(subject="आवेदन UL-ABCD-EFGH के लिए आपका कोड",
                           text="आपका पुष्टि कोड 123456 है।\n", html="<p>कोड <b>123456</b></p>")
    message = build_email(sender="सहायता डेस्क <support@example.org>", to="a@example.org",
                          content=content, key="k" * 32, domain="example.org")
    raw = bytes(message)
    assert raw.isascii()  # safe through any relay, 8BITMIME or not
    assert raw.count(b"MIME-Version:") == 1
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == content.subject
    assert parsed["From"].addresses[0].display_name == "सहायता डेस्क"
    assert parsed["From"].addresses[0].addr_spec == "support@example.org"
    assert parsed["Message-ID"] == f"<{'k' * 32}@example.org>"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed.get_body(("plain",)).get_content() == content.text
    assert parsed.get_body(("html",)).get_content().strip() == content.html


async def test_a_code_arriving_during_a_bulk_backlog_goes_before_the_rest(settings, app,
                                                                         monkeypatch):
    """300 bulk messages are being sent on a quiet machine when a code arrives: it goes
    out with the next batch, not after the backlog."""
    monkeypatch.setattr(pacing, "Contention", lambda: Always(False))  # quiet, whatever CI runs
    await _queue(300)
    backends = delivery.Backends.from_settings(settings)
    arrived: list[bool] = []
    send_many = backends.sms.send_many

    async def code_arrives_during_the_first_batch(messages):
        if not arrived:
            arrived.append(True)
            await _queue(2, urgent=True)
        return await send_many(messages)

    backends.sms.send_many = code_arrives_during_the_first_batch
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(settings.with_(worker_interval=5.0), backends, stop))
    try:
        for _ in range(200):
            await asyncio.sleep(0.05)
            if not await Notification.filter(status=DeliveryStatus.PENDING).exists():
                break
    finally:
        stop.set()
        await task
    codes = await Notification.filter(urgent=True).order_by("sent_at")
    assert codes and all(code.status is DeliveryStatus.SENT for code in codes)
    later = await Notification.filter(urgent=False, sent_at__gt=codes[-1].sent_at).count()
    assert later >= 200  # sent in the second batch at the latest: most of the backlog after
