"""The retention policy: documents go 90 days after an application closes, personal data
365 days after; decisions and statistics stay. Run through the workflow, the worker's
daily job and `support purge` as an operator types it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from support import workflow
from support.clock import jobs
from support.config import ConfigError, Settings
from support.data.models import (
    AccessToken,
    Application,
    Channel,
    DeliveryStatus,
    Document,
    Event,
    Notification,
    RiskFlag,
    Status,
    Verification,
)
from support.platform.formatting import format_when
from support.workflow import purging, retention, risk
from tests.conftest import UNLOCK, jpeg_bytes
from tests.factories import make_application, page_version
from tests.kept import KeptFile, kept, store_env

DAY = timedelta(days=1)


def _now() -> datetime:
    return datetime.now(UTC)


async def _document(settings: Settings, application: Application,
                    name: str = "Asha-Sharma-receipt.jpg") -> KeptFile:
    """A real file in the store and its row, as submit leaves them."""
    data = jpeg_bytes()
    key = secrets.token_urlsafe(24)
    path = kept(settings, key)
    path.write_bytes(data)
    await Document.create(application=application, purpose="receipt", content_type="image/jpeg",
                          size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                          storage_key=key, original_name=name,
                          sanitised_at=datetime.now(UTC))  # filed, as the worker leaves it
    return path


async def _decided(days_ago: float, status: Status = Status.APPROVED, **values) -> Application:
    return await make_application(status=status, decided_at=_now() - days_ago * DAY,
                                  decision_text="Decided.", **values)


@pytest.fixture
def daily():
    """The worker's memory of its last purge, forgotten around each test that uses it."""
    purging.DAILY.last_run = None
    yield purging.DAILY
    purging.DAILY.last_run = None


async def test_documents_go_90_days_after_the_decision_and_younger_ones_stay(app, settings):
    old = await _decided(91)
    young = await _decided(89, Status.REJECTED, decision_code="reason_insufficient")
    old_file, young_file = await _document(settings, old), await _document(settings, young)

    report = await workflow.purge(settings)

    assert (report.documents, report.files) == (1, 1)
    assert not old_file.exists()
    assert young_file.exists()
    assert not await Document.filter(application=old).exists()
    assert await Document.filter(application=young).exists()
    old = await Application.get(id=old.id)
    assert old.documents_purged_at is not None
    assert old.redacted_at is None and old.phone.startswith("+91")  # data outlives files
    event = await Event.get(application=old, type="documents_purged")
    assert event.internal and event.actor == "system"
    assert event.message == "Documents deleted under the retention policy (1 file)."
    assert (await Application.get(id=young.id)).documents_purged_at is None


async def test_the_reviewer_page_says_when_documents_were_deleted(app, settings, desk):
    application = await _decided(91)
    await _document(settings, application)
    document = await Document.get(application=application)
    lead = await desk.reviewer("Lena", role="lead")
    before = await lead.get(f"/review/applications/{application.reference}")
    assert f"/review/documents/{document.id}" in before.text

    await workflow.purge(settings)

    purged = await Application.get(id=application.id)
    page = await lead.get(f"/review/applications/{application.reference}")
    assert page.status_code == 200
    assert (f"Documents deleted on {format_when(purged.documents_purged_at)} under the "
            "retention policy.") in page.text
    assert "/review/documents/" not in page.text
    assert (await lead.get(f"/review/documents/{document.id}")).status_code == 404


async def test_withdrawn_and_expired_count_from_when_they_ended(app, settings):
    withdrawn = await make_application()
    expired = await make_application(status=Status.NEEDS_INFO,
                                     info_requested_at=_now() - 15 * DAY)
    still_open = await make_application(created_at=_now() - 400 * DAY)
    files = [await _document(settings, a) for a in (withdrawn, expired, still_open)]
    await workflow.withdraw(withdrawn)
    assert await workflow.expire_unanswered() == 1

    assert (await workflow.purge(settings, now=_now() + 89 * DAY)).documents == 0
    assert all(path.exists() for path in files)
    report = await workflow.purge(settings, now=_now() + 91 * DAY)

    assert report.documents == 2
    assert [path.exists() for path in files] == [False, False, True]  # open: never touched


async def test_the_periods_come_from_the_settings(app, settings):
    env = {"SUPPORT_DATA_DIR": str(settings.data_dir), "SUPPORT_SECRET_KEY": "k" * 40,
           "SUPPORT_DOCUMENT_RETENTION_DAYS": "30", "SUPPORT_PII_RETENTION_DAYS": "60"}
    configured = Settings.from_env(env)
    assert (configured.document_retention_days, configured.pii_retention_days) == (30, 60)
    with pytest.raises(ConfigError, match="SUPPORT_PII_RETENTION_DAYS"):
        Settings.from_env({**env, "SUPPORT_PII_RETENTION_DAYS": "0"})

    application = await _decided(45)
    path = await _document(settings, application)
    report = await workflow.purge(settings.with_(document_retention_days=30,
                                                 pii_retention_days=60))
    assert (report.documents, report.redacted) == (1, 0)
    assert not path.exists()
    report = await workflow.purge(settings.with_(pii_retention_days=30))
    assert report.redacted == 1


async def _dump() -> str:
    """Every row the purge deals with, as text: what a leaked backup would show."""
    rows = []
    for model in (Application, Event, Notification, Document, AccessToken, Verification,
                  RiskFlag):
        rows += await model.all().values()
    return repr(rows)


async def test_personal_data_is_redacted_after_a_year_and_the_decision_kept(
    applicant, outbox, client, desk, settings
):
    """The whole life over HTTP: apply with a receipt, a reviewer opens it, asks for more,
    the applicant answers in their own words, approval; a year later nothing of theirs
    is left, and the decision still counts."""
    status_path = await applicant.apply_and_verify(outbox)
    application = await Application.get()
    ann = await desk.reviewer("Ann")
    await ann.post("/review/next")
    document = await Document.get(application=application)
    assert (await ann.get(f"/review/documents/{document.id}")).status_code == 200
    await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "request_info", "items": ["receipt"], "message": "Please send a sharper photo.",
        "seen": await page_version(application.reference),
    })
    reply = "My cousin Ravi Kumar bought it for me, his number is 98111 22233."
    answered = await applicant.post_form(status_path + "/reply", {"message": reply})
    assert answered.status_code == 303
    await ann.post("/review/next")
    await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "approve", "message": "Approved: use the unlock tool within 14 days.",
        "seen": await page_version(application.reference),
    })
    await outbox.deliver()
    before = await Application.get(id=application.id)
    traces = ("6123456789", "+919876543210", "asha@example.com", UNLOCK["reason"], reply,
              "receipt.jpg", "98111")
    dump = await _dump()
    assert all(trace in dump for trace in traces)  # so the check below can fail

    assert (await workflow.purge(settings, now=_now() + 364 * DAY)).redacted == 0
    assert (await Application.get(id=application.id)).phone == "+919876543210"
    report = await workflow.purge(settings, now=_now() + 366 * DAY)
    assert report.redacted == 1

    after = await Application.get(id=application.id)
    placeholder = f"redacted-{after.id}"
    assert (after.account_id, after.phone, after.email, after.imei, after.reason) == (
        placeholder, placeholder, placeholder, None, "")
    assert after.redacted_at is not None
    kept = ("reference", "kind", "status", "country", "model", "firmware", "firmware_channel",
            "locale", "decided_at", "decided_by_id", "decision_text", "decision_code",
            "permission_expires_at", "created_at", "verified_at")
    assert {k: getattr(after, k) for k in kept} == {k: getattr(before, k) for k in kept}
    assert await Application.filter(kind="unlock", status=Status.APPROVED).count() == 1
    dump = await _dump()
    assert not [trace for trace in traces if trace in dump]
    assert not await Verification.exists()
    assert set(await Notification.all().values_list("recipient", flat=True)) == {""}
    redacted = await Event.get(application=after, type="redacted")
    assert redacted.internal and redacted.message == (
        "Personal data redacted under the retention policy.")
    assert await Event.filter(application=after, type="approve",
                              message__contains="unlock tool").exists()

    # The reviewer sees what happened instead of blanks or broken links.
    page = await ann.get(f"/review/applications/{application.reference}")
    assert page.status_code == 200
    assert "Redacted on" in page.text and "under the retention policy" in page.text
    assert re.search(r"Documents deleted on [^<]+ under the retention policy\.", page.text)
    assert "/review/documents/" not in page.text
    assert (await ann.get(f"/review/documents/{document.id}")).status_code == 404

    # The link says so for 30 days, then it is gone like everything else.
    erased = await client.get(status_path)
    assert erased.status_code == 200
    assert "Your personal data was erased" in erased.text
    assert "as our retention policy says" in erased.text
    assert (await workflow.purge(settings, now=_now() + 366 * DAY)).links == 0
    assert (await workflow.purge(settings, now=_now() + 397 * DAY)).links == 1
    assert not await AccessToken.exists()
    gone = await client.get(status_path)
    assert gone.status_code == 404 and "This link does not work" in gone.text


async def test_a_purge_run_twice_changes_nothing_the_second_time(app, settings, caplog):
    for days in (100, 400):
        application = await _decided(days)
        await _document(settings, application)
        await Notification.create(application=application, channel=Channel.EMAIL,
                                  recipient=application.email, template="approved",
                                  context={"reference": application.reference},
                                  status=DeliveryStatus.SENT, next_attempt_at=_now(),
                                  idempotency_key=secrets.token_hex(8))
    caplog.set_level(logging.INFO, logger="support.retention")

    first = await workflow.purge(settings)
    events = await Event.all().count()
    second = await workflow.purge(settings)

    # Both are past 90 days: both receipts go; only the year-old one loses its data.
    assert (first.documents, first.files, first.redacted, first.notifications) == (2, 2, 1, 1)
    assert second == retention.PurgeReport()
    assert await Event.all().count() == events
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("purge")]
    assert lines == [
        "purge: 0 erased on request, documents of 2 applications (2 files), 1 redacted, "
        "1 notifications redacted, 0 status links deleted",
        "purge: 0 erased on request, documents of 0 applications (0 files), 0 redacted, "
        "0 notifications redacted, 0 status links deleted",
    ]


async def test_two_workers_purging_at_once_do_each_thing_once(app, settings):
    files = []
    for _ in range(6):
        application = await _decided(100)
        files.append(await _document(settings, application))

    reports = await asyncio.gather(workflow.purge(settings, size=2),
                                   workflow.purge(settings, size=2))

    assert sum(report.documents for report in reports) == 6
    assert await Event.filter(type="documents_purged").count() == 6
    assert not any(path.exists() for path in files)


async def test_redacted_rows_match_nothing_and_never_block_the_next_application(
    applicant, client, settings
):
    """Placeholders are distinct per row and never a real value: no twin, no risk signal
    joins a redacted row to another, and the same owner can apply again."""
    now = _now()
    shared = {"phone": "+919876543210", "imei": "490154203237518"}
    # Four accounts on one phone, one of them approved for an unlock a week ago: enough to
    # raise "same IMEI", "shared phone" and "recent unlock" for a new application.
    old = [await make_application(account_id=f"612345678{n}", status=Status.APPROVED,
                                  decided_at=now - 7 * DAY, **shared) for n in range(4)]
    probe = await make_application(account_id="6123456780", **shared)
    assert {s.code for s in await risk.compute(probe)} == {"same_imei", "recent_unlock",
                                                           "shared_phone"}
    await probe.delete()
    await workflow.purge(settings.with_(pii_retention_days=1))

    redacted = await Application.filter(id__in=[a.id for a in old])
    assert len({(a.account_id, a.phone, a.email) for a in redacted}) == 4
    for row in redacted:
        assert [s.code for s in await risk.compute(row)] == []
    response = await applicant.submit("unlock", {**UNLOCK, "account_id": "6123456780"})
    assert response.status_code == 303, response.text
    new = await Application.get(account_id="6123456780")
    assert await risk.compute(new) == []


async def test_sent_messages_lose_their_recipient_but_pending_ones_keep_it(app, settings):
    application = await _decided(400)
    sent, pending = [
        await Notification.create(application=application, channel=Channel.SMS,
                                  recipient=application.phone, template="approved",
                                  context={"reference": application.reference,
                                           "message": "Decided."},
                                  status=status, next_attempt_at=_now(),
                                  idempotency_key=secrets.token_hex(8))
        for status in (DeliveryStatus.SENT, DeliveryStatus.PENDING)
    ]
    await workflow.purge(settings)
    await sent.refresh_from_db()
    await pending.refresh_from_db()
    assert (sent.recipient, sent.context) == ("", {})
    assert pending.recipient == application.phone and pending.context["message"] == "Decided."

    await Notification.filter(id=pending.id).update(status=DeliveryStatus.SENT)
    assert (await workflow.purge(settings)).notifications == 1
    await pending.refresh_from_db()
    assert pending.recipient == ""


async def test_the_worker_purges_once_a_day(app, settings, daily):
    first = await _decided(100)
    first_file = await _document(settings, first)
    await jobs.run_all(settings)  # the worker's one-minute housekeeping
    assert not first_file.exists()

    second = await _decided(100)
    second_file = await _document(settings, second)
    await jobs.run_all(settings)
    assert await workflow.run_daily(settings, now=_now() + timedelta(hours=23)) is None
    assert second_file.exists()

    report = await workflow.run_daily(settings, now=_now() + DAY + timedelta(minutes=1))
    assert report is not None and report.documents == 1
    assert not second_file.exists()


@pytest.fixture
def cli(app, database_url: str, settings: Settings):
    """`support purge ...` in a subprocess on the test database and data dir."""
    env = {**os.environ, "SUPPORT_DATABASE_URL": database_url,
           "SUPPORT_DATA_DIR": str(settings.data_dir), "SUPPORT_LOG_FORMAT": "text",
           **store_env(settings)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "support", "purge", *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    return run


def test_purge_help_explains_every_option(cli):
    result = cli("--help")
    assert result.returncode == 0
    for text in ("--dry-run", "change nothing", "--batch-size N", "per transaction",
                 "--quiet", "only the totals", "SUPPORT_DOCUMENT_RETENTION_DAYS",
                 "SUPPORT_PII_RETENTION_DAYS", "(default 90)", "(default 365)", "examples:"):
        assert text in result.stdout, text


async def test_purge_dry_run_says_what_it_would_do_and_does_nothing(cli, settings):
    files = [await _document(settings, await _decided(100)) for _ in range(3)]
    await _decided(400)

    result = cli("--dry-run")

    assert result.returncode == 0, result.stderr
    assert "Dry run: nothing is changed." in result.stdout
    assert "documents of 3 applications would be deleted" in result.stdout
    assert "personal data of 1 applications would be redacted" in result.stdout
    assert result.stdout.rstrip().endswith("Dry run: nothing was changed.")
    assert all(path.exists() for path in files)
    assert await Document.all().count() == 3
    assert not await Application.filter(redacted_at__isnull=False).exists()


async def test_purge_prints_counts_batch_by_batch_and_never_personal_data(cli, settings):
    applications = [await _decided(100) for _ in range(5)]
    files = [await _document(settings, a) for a in applications]

    result = cli("--batch-size", "2")

    assert result.returncode == 0, result.stderr
    progress = [line.strip() for line in result.stdout.splitlines()
                if line.startswith("  documents:")]
    assert progress == ["documents: 2 checked, 2 done so far",
                        "documents: 4 checked, 4 done so far",
                        "documents: 5 checked, 5 done so far"]
    assert "documents of 5 applications deleted under the retention policy (5 files in all)" \
        in result.stdout
    assert not any(path.exists() for path in files)
    output = result.stdout + result.stderr
    assert not [a for a in applications if a.phone in output or a.email in output]

    quiet = cli("--quiet")
    assert quiet.returncode == 0
    assert "so far" not in quiet.stdout and "documents of 0 applications" in quiet.stdout
