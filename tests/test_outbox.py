"""The outbox and its worker: messages written with the change, delivered, retried."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from support.clock import worker
from support.data.models import DeliveryStatus, Event, Notification
from support.notify import delivery
from support.notify.backends import DeliveryError
from tests.conftest import UNLOCK


class FailingEmail:
    def __init__(self, permanent: bool = False) -> None:
        self.permanent = permanent
        self.calls = 0

    async def send(self, message):
        self.calls += 1
        raise DeliveryError("550 mailbox unavailable" if self.permanent else "connection refused",
                            permanent=self.permanent)


async def _submit(applicant):
    response = await applicant.submit("unlock", UNLOCK)
    assert response.status_code == 303


async def test_messages_are_written_in_the_same_transaction_and_sent_once(applicant, outbox):
    await _submit(applicant)
    rows = await Notification.all()
    assert {row.channel.value for row in rows} == {"email", "sms"}
    assert all(row.status is DeliveryStatus.PENDING for row in rows)
    assert await outbox.deliver() == 2
    assert await outbox.deliver() == 0  # nothing is sent twice
    assert len(outbox.sms()) == 1 and len(outbox.emails()) == 1
    [mail] = outbox.emails()
    email_row = await Notification.get(channel="email")
    assert mail["Message-ID"] == f"<{email_row.idempotency_key}@testserver>"
    assert email_row.status is DeliveryStatus.SENT and email_row.sent_at is not None


async def test_a_transient_failure_is_retried_later_and_sms_still_goes(applicant, outbox,
                                                                        settings):
    await _submit(applicant)
    backends = delivery.Backends.from_settings(settings)
    backends.email = FailingEmail()
    before = datetime.now(UTC)
    assert await delivery.deliver_due(settings, backends) == 1  # the SMS
    row = await Notification.get(channel="email")
    assert row.status is DeliveryStatus.PENDING
    assert row.attempts == 1
    assert "connection refused" in row.last_error
    delay = row.next_attempt_at - before
    assert timedelta(seconds=50) < delay < timedelta(seconds=70)
    # Not due yet: a second pass leaves it alone.
    assert await delivery.deliver_due(settings, backends) == 0
    assert backends.email.calls == 1
    # Once due, a working backend delivers it.
    await Notification.filter(id=row.id).update(next_attempt_at=datetime.now(UTC))
    assert await outbox.deliver() == 1
    assert (await Notification.get(id=row.id)).status is DeliveryStatus.SENT


async def test_backoff_grows_and_the_last_failure_is_dead_and_on_the_timeline(applicant,
                                                                              settings):
    await _submit(applicant)
    backends = delivery.Backends.from_settings(settings)
    backends.email = FailingEmail()
    delays = []
    for _ in range(len(delivery.BACKOFF) + 1):
        await Notification.filter(channel="email").update(next_attempt_at=datetime.now(UTC))
        start = datetime.now(UTC)
        await delivery.deliver_due(settings, backends)
        row = await Notification.get(channel="email")
        delays.append(row.next_attempt_at - start)
    assert row.status is DeliveryStatus.DEAD
    assert row.attempts == len(delivery.BACKOFF) + 1
    assert delays[0] < delays[1] < delays[2] < delays[3] < delays[4]
    event = await Event.get(type="delivery_failed")
    assert event.internal and "email" in event.message


async def test_a_permanent_failure_is_dead_at_once(applicant, settings):
    await _submit(applicant)
    backends = delivery.Backends.from_settings(settings)
    backends.email = FailingEmail(permanent=True)
    await delivery.deliver_due(settings, backends)
    row = await Notification.get(channel="email")
    assert row.status is DeliveryStatus.DEAD and row.attempts == 1
    assert "550" in row.last_error


async def test_the_worker_loop_delivers_by_itself_and_stops_on_request(applicant, outbox,
                                                                       settings):
    stop = asyncio.Event()
    task = asyncio.create_task(
        worker.run(settings.with_(worker_interval=0.05), delivery.Backends.from_settings(settings),
                   stop)
    )
    await _submit(applicant)
    for _ in range(100):
        if len(outbox.sms()) == 1:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert len(outbox.sms()) == 1
    assert await Notification.filter(status=DeliveryStatus.SENT).count() == 2


async def test_while_the_database_is_down_the_loop_logs_one_line_and_backs_off(
        settings, caplog, monkeypatch):
    """It logged a 4 KB traceback every second per loop for as long as PostgreSQL was
    away (issue 19). Now: one line a try, no traceback, the waits doubling to a cap, one
    line when it answers again; any other failure is still a bug with its traceback."""
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    outcomes: list[BaseException | None] = [refused] * 8 + [None, ValueError("a bug"), None]
    waits: list[float] = []
    stop = asyncio.Event()

    async def tick() -> None:
        outcome = outcomes.pop(0)
        if not outcomes:
            stop.set()
        if outcome is not None:
            try:
                raise OSError("from the pool") from outcome
            except OSError as wrapped:
                raise RuntimeError("the tick failed") from wrapped

    async def pause(stop_: asyncio.Event, seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(worker, "_pause", pause)
    with caplog.at_level("INFO", logger="support.worker"):
        await worker._every_tick(settings.with_(worker_interval=0.1), stop, "messages", tick)
    lines = [r for r in caplog.records if r.name == "support.worker"]
    outage = [r for r in lines if "unavailable" in r.getMessage()]
    assert len(outage) == 8
    assert all(r.exc_info is None and len(r.getMessage()) < 200 for r in outage)
    assert "ConnectionRefusedError" in outage[0].getMessage()
    assert "5432" not in outage[0].getMessage()  # class names only
    assert waits[:6] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert waits[8:] == [0.1, 0.1, 0.1]  # back to the usual tick at once
    assert [r.getMessage() for r in lines if "again" in r.getMessage() and "answers" in
            r.getMessage()] == ["worker messages: the database answers again"]
    bugs = [r for r in lines if r.exc_info is not None]
    assert len(bugs) == 1
    assert isinstance(bugs[0].exc_info[1].__cause__.__cause__, ValueError)  # type: ignore[index,union-attr]
