"""An unused unlock permission is reminded of once, by email and SMS, two days before it
ends: in the applicant's language, on their clock, with what to do before then. Never for
a used, ended, refused, withdrawn or erased one, and never twice, even with two workers
at once (workflow/housekeeping.py, run by the clock's jobs)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tortoise import connections

from support.clock import jobs
from support.data.db import statements_sent
from support.data.models import Application, Event, Notification, Permission, Status
from support.notify import segments
from support.notify.render import render_email, render_sms
from support.reads import wording
from support.rules.kinds import KINDS
from support.workflow import housekeeping, presence, purging
from tests.conftest import DB_KIND
from tests.factories import make_application, page_version

DAY = timedelta(days=1)
TEMPLATE = "permission_reminder"


def _now() -> datetime:
    return datetime.now(UTC)


async def _approved(lapses_in: timedelta, **overrides: Any) -> Application:
    """An application approved 14 days before its permission lapses, ``lapses_in`` from now."""
    expires = _now() + lapses_in
    values: dict[str, Any] = {"status": Status.APPROVED, "decided_at": expires - 14 * DAY,
                              "decision_text": "Approved.", "permission_expires_at": expires}
    return await make_application(**{**values, **overrides})


async def _reminders(application: Application) -> dict[str, Notification]:
    rows = await Notification.filter(application_id=application.id, template=TEMPLATE)
    by_channel = {str(getattr(row.channel, "value", row.channel)): row for row in rows}
    assert len(by_channel) == len(rows), "two reminders on one channel"
    return by_channel


@pytest.fixture(autouse=True)
def _daily():
    """run_all purges once a day per process: each test starts with a fresh memory."""
    purging.DAILY.last_run = None
    yield
    purging.DAILY.last_run = None


async def test_one_reminder_by_email_and_sms_with_a_link_that_opens_the_page(
    app, settings, outbox, client,
):
    application = await _approved(timedelta(hours=47), time_zone="Asia/Kolkata",
                                  account_id="6123456789", model="Redmi Note 10 Pro")
    assert await housekeeping.remind_unused_permissions(settings) == 1
    assert await housekeeping.remind_unused_permissions(settings) == 0  # the next minute
    rows = await _reminders(application)
    assert set(rows) == {"email", "sms"}
    fresh = await Application.get(id=application.id)
    assert fresh.permission_reminded_at is not None
    assert fresh.status is Status.APPROVED  # a reminder changes nothing else
    history = await Event.filter(application_id=application.id, type="permission_reminded")
    assert len(history) == 1 and history[0].internal and history[0].actor == "system"

    await outbox.deliver()
    [mail] = [m for m in outbox.emails() if application.reference in str(m["Subject"])]
    assert mail["To"] == application.email
    body = mail.get_body(("plain",))
    assert body is not None
    text = " ".join(body.get_content().split())
    local = fresh.permission_expires_at.astimezone(ZoneInfo("Asia/Kolkata"))
    assert (f"Your unlock permission for account 6123456789 on the Redmi Note 10 Pro ends on "
            f"{local.strftime('%-d %B %Y, %H:%M')} IST. You have not used it yet.") in text
    assert "sign in to the unlock tool on the phone with this account before then" in text
    assert "you would have to apply again" in text
    [sms] = [m for m in outbox.sms() if application.reference in m["text"]]
    assert sms["to"] == application.phone
    assert f"until {local.strftime('%-d %b, %H:%M')} IST is unused" in sms["text"]
    assert "Sign in to the unlock tool" in sms["text"]

    # The email's private link opens the applicant's status page.
    [path] = outbox.links()
    page = await client.get(path)
    assert page.status_code == 200 and application.reference in page.text
    # Once delivered, the link is no longer kept in the clear on the outbox row.
    sent = await Notification.get(id=rows["email"].id)
    assert sent.context["status_url"] == "[sent]"


@pytest.mark.parametrize("both_read_first", [False, True])
async def test_two_workers_at_once_send_one_reminder(app, settings, monkeypatch,
                                                     both_read_first):
    if both_read_first:
        # Every worker has read the same rows before any claims one (on SQLite the
        # statements do not interleave by themselves).
        real = housekeeping.in_transaction

        @contextlib.asynccontextmanager
        async def after_the_others_read(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            await asyncio.sleep(0.02)
            async with real(*args, **kwargs) as tx:
                yield tx

        monkeypatch.setattr(housekeeping, "in_transaction", after_the_others_read)
    application = await _approved(DAY)
    other = await _approved(DAY + timedelta(hours=3))
    sent = await asyncio.gather(*(housekeeping.remind_unused_permissions(settings)
                                  for _ in range(4)))
    assert sum(sent) == 2
    for one in (application, other):
        assert set(await _reminders(one)) == {"email", "sms"}
        assert await Event.filter(application_id=one.id, type="permission_reminded").count() == 1
    assert await Notification.filter(template=TEMPLATE).count() == 4
    # and again, after the race: nothing more
    assert sum(await asyncio.gather(*(housekeeping.remind_unused_permissions(settings)
                                      for _ in range(2)))) == 0
    assert await Notification.filter(template=TEMPLATE).count() == 4


async def test_sent_within_two_days_of_the_end_not_three(app, settings):
    application = await _approved(3 * DAY)
    assert await housekeeping.remind_unused_permissions(settings) == 0
    assert await _reminders(application) == {}
    # A day later (and a minute), the permission lapses within two days: reminded.
    later = _now() + DAY + timedelta(minutes=1)
    assert await housekeeping.remind_unused_permissions(settings, now=later) == 1
    assert set(await _reminders(application)) == {"email", "sms"}
    assert (await Application.get(id=application.id)).permission_reminded_at == later


async def test_the_edges_of_the_two_days(app, settings):
    now = _now().replace(microsecond=0)
    at_two_days = await _approved(timedelta(0), permission_expires_at=now + 2 * DAY)
    just_after = await _approved(timedelta(0), permission_expires_at=now + 2 * DAY
                                 + timedelta(seconds=1))
    ending_now = await _approved(timedelta(0), permission_expires_at=now)
    assert await housekeeping.remind_unused_permissions(settings, now=now) == 1
    assert set(await _reminders(at_two_days)) == {"email", "sms"}
    assert await _reminders(just_after) == {}
    assert await _reminders(ending_now) == {}  # it has ended: nothing to remind of


async def test_a_permission_approved_on_the_desk_is_reminded_of_two_days_before_its_end(
    desk, settings,
):
    application = await make_application()
    ann = await desk.reviewer("Ann")
    assert (await ann.post("/review/next")).status_code == 303
    decided = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "approve", "message": "Approved: sign in to the unlock tool.",
        "reason_code": "", "seen": await page_version(application.reference)})
    assert decided.status_code == 303, decided.text
    approved = await Application.get(id=application.id)
    assert approved.status is Status.APPROVED and approved.permission_expires_at is not None
    permission = KINDS["unlock"].permission
    assert permission is not None and approved.decided_at is not None
    assert approved.permission_expires_at - approved.decided_at == permission.days * DAY
    early = approved.permission_expires_at - 2 * DAY - timedelta(minutes=1)
    assert await housekeeping.remind_unused_permissions(settings, now=early) == 0
    assert await housekeeping.remind_unused_permissions(
        settings, now=early + timedelta(minutes=2)) == 1
    assert set(await _reminders(approved)) == {"email", "sms"}


@pytest.mark.parametrize("case", [
    "used", "expired", "refused", "withdrawn", "redacted", "erasure_requested",
    "no_permission_kind", "already_reminded",
])
async def test_never_for_one_that_cannot_or_need_not_be_used(app, settings, case):
    now = _now()
    overrides: dict[str, Any] = {
        "used": {"permission_used_at": now - DAY},
        "expired": {"permission_expires_at": now - timedelta(minutes=1)},
        "refused": {"status": Status.REJECTED, "decision_code": "reason_insufficient"},
        "withdrawn": {"status": Status.WITHDRAWN},
        "redacted": {"redacted_at": now - timedelta(hours=1)},
        "erasure_requested": {"erasure_requested_at": now - timedelta(hours=1)},
        "no_permission_kind": {"kind": "recovery"},
        "already_reminded": {"permission_reminded_at": now - DAY},
    }[case]
    application = await _approved(DAY, **overrides)
    control = await _approved(DAY)  # the same run does remind an unused one
    assert await housekeeping.remind_unused_permissions(settings) == 1
    assert await _reminders(application) == {}
    assert set(await _reminders(control)) == {"email", "sms"}
    assert not await Event.filter(application_id=application.id, type="permission_reminded")
    fresh = await Application.get(id=application.id)
    assert fresh.permission_reminded_at == overrides.get("permission_reminded_at")


async def test_a_russian_applicant_in_novosibirsk_reads_russian_on_their_clock(app, settings):
    application = await _approved(DAY, country="RU", time_zone="Asia/Novosibirsk",
                                  phone="+79123456789", locale="ru", model="POCO F5")
    await housekeeping.remind_unused_permissions(settings)
    rows = await _reminders(application)
    assert rows["email"].locale == "ru" == rows["sms"].locale
    expires = (await Application.get(id=application.id)).permission_expires_at
    local = expires.astimezone(ZoneInfo("Asia/Novosibirsk"))
    clock = f"{local:%H:%M} МСК+4"

    mail = render_email(TEMPLATE, rows["email"].context, rows["email"].locale)
    assert application.reference in mail.subject and "разблокировку" in mail.subject
    text = " ".join(mail.text.split())
    assert "Ваше разрешение на разблокировку для аккаунта " + application.account_id in text
    assert "POCO F5" in text and clock in text and "Вы ещё не воспользовались им" in text
    assert "подать заявку заново" in text
    assert re.search(r"/status/[A-Za-z0-9_-]+", text)
    assert clock in " ".join(mail.html.split()) and "разблокировку" in mail.html
    assert "UTC" not in text and "unlock" not in text.lower()

    sms = render_sms(TEMPLATE, rows["sms"].context, rows["sms"].locale)
    assert application.reference in sms and clock in sms and "не использовано" in sms
    assert "/status/" not in sms  # the link goes by email
    assert segments.count(sms) <= 2, sms


async def test_a_hindi_applicant_reads_hindi_in_ist(app, settings):
    application = await _approved(DAY, time_zone="Asia/Kolkata", locale="hi")
    await housekeeping.remind_unused_permissions(settings)
    rows = await _reminders(application)
    expires = (await Application.get(id=application.id)).permission_expires_at
    clock = f"{expires.astimezone(ZoneInfo('Asia/Kolkata')):%H:%M} IST"
    mail = render_email(TEMPLATE, rows["email"].context, "hi")
    text = " ".join(mail.text.split())
    assert "आपकी अनलॉक अनुमति" in text and clock in text and application.account_id in text
    assert "आपने अभी तक इसका उपयोग नहीं किया है" in text
    sms = render_sms(TEMPLATE, rows["sms"].context, "hi")
    assert application.reference in sms and clock in sms and "उपयोग नहीं हुआ" in sms
    assert segments.count(sms) <= 2, sms


@pytest.mark.parametrize("lang", ["en", "hi", "mr", "ru"])
@pytest.mark.parametrize("zone", ["Asia/Novosibirsk", "Asia/Kolkata", "America/St_Johns",
                                  "Asia/Kathmandu", "Pacific/Chatham"])
def test_the_sms_fits_in_two_segments_on_any_clock(lang, zone):
    """The longest reference and the longest dates (a zone said as an offset with minutes,
    a minus sign that makes even English UCS-2)."""
    for expires in ("2026-09-30T23:59:00+00:00", "2027-02-28T05:00:00+00:00",
                    "2026-12-31T23:59:00+00:00"):
        context = {"reference": "UL-WWWW-WWWW", "kind": "unlock", "zone": zone,
                   "expires_at": expires, "account": "9" * 20, "model": "M" * 64}
        sms = render_sms(TEMPLATE, context, lang)
        assert "UL-WWWW-WWWW" in sms and segments.count(sms) <= 2, (lang, zone, sms)


async def test_the_clocks_minute_sends_it_and_a_failure_stops_no_other_job(
    app, settings, monkeypatch, caplog,
):
    application = await _approved(DAY)
    await jobs.run_all(settings)
    assert set(await _reminders(application)) == {"email", "sms"}
    await jobs.run_all(settings)
    assert len(await _reminders(application)) == 2

    async def database_away(settings, now=None):
        raise ConnectionError("the database is not answering")

    pruned: list[bool] = []

    async def prune() -> int:
        pruned.append(True)
        return 0

    monkeypatch.setattr(housekeeping, "remind_unused_permissions", database_away)
    monkeypatch.setattr(presence, "prune", prune)
    with caplog.at_level(logging.ERROR, logger="support.workflow"):
        await jobs.run_all(settings)
    assert "reminding of unused permissions failed" in caplog.text
    assert pruned, "the jobs after the reminders did not run"


async def test_the_reviewer_sees_the_reminder_in_words(desk, settings):
    lead = await desk.reviewer("Lee", role="lead")
    application = await _approved(DAY)
    await housekeeping.remind_unused_permissions(settings)
    page = await lead.get(f"/review/applications/{application.reference}")
    assert page.status_code == 200
    text = " ".join(re.sub(r"<[^>]+>", " ", page.text).split())
    assert wording.EVENT_WORDS["permission_reminded"][0] in text
    assert "permission_reminded" not in text
    deliveries = await lead.get("/review/admin/deliveries")
    assert deliveries.status_code == 200
    assert wording.MESSAGE_WORDS[TEMPLATE] in deliveries.text
    assert TEMPLATE not in " ".join(re.sub(r"<[^>]+>", " ", deliveries.text).split())


async def _plan(sql: str, values: list[Any]) -> str:
    connection = connections.get("default")
    if DB_KIND == "postgres":
        # A few rows are read whole by choice; forbidden that, the plan shows the index.
        async with connection._in_transaction() as tx:
            await tx.execute_script("SET LOCAL enable_seqscan = off")
            rows = await tx.execute_query_dict("EXPLAIN " + sql, values)
        return "\n".join(str(next(iter(row.values()))) for row in rows)
    rows = await connection.execute_query_dict("EXPLAIN QUERY PLAN " + sql, values)
    return "\n".join(str(row["detail"]) for row in rows)


async def test_the_worker_reads_a_range_of_the_expiry_index(app, settings):
    """Every minute: the few permissions that end within two days, from the index on
    ``permission_expires_at``, never every approved row; each claim by its id."""
    for n in range(5):
        await _approved((n + 1) * DAY)
    for status in (Status.APPROVED, Status.REJECTED, Status.QUEUED):
        await make_application(status=status)
    with statements_sent() as seen:
        assert await housekeeping.remind_unused_permissions(settings) == 2
    reads = [(sql, values) for sql, values in seen  # the range, not a row by its id
             if sql.lstrip().upper().startswith("SELECT")
             and '"permission_used_at" IS NULL' in sql]
    claims = [(sql, values) for sql, values in seen
              if sql.lstrip().upper().startswith("UPDATE") and "permission_reminded_at" in sql]
    assert len(reads) == 1 and len(claims) == 2, seen
    read_plan = await _plan(*reads[0])
    assert "application_permission_expiry_idx" in read_plan, read_plan
    for sql, values in claims:
        plan = await _plan(sql, values)
        if DB_KIND == "postgres":
            assert "Seq Scan" not in plan, plan
        else:
            assert "SCAN application" not in plan, plan
    if DB_KIND == "postgres":
        assert "Seq Scan" not in read_plan, read_plan
    else:
        assert "SCAN application" not in read_plan, read_plan


async def test_a_revoked_permission_gets_no_reminder(app, settings):
    application = await _approved(DAY)
    await Permission.create(application=application, account_id=application.account_id,
                            model=application.model, granted_at=datetime.now(UTC),
                            expires_at=application.permission_expires_at,
                            revoked_at=datetime.now(UTC), revoked_by="reviewer:1",
                            revoked_reason="The receipt was forged.")
    assert await housekeeping.remind_unused_permissions(settings) == 0
    assert await Notification.filter(application=application,
                                     template=TEMPLATE).count() == 0
