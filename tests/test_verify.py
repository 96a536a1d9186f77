"""Confirming the contact with the one-time code, as an applicant does it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from support import workflow
from support.data.models import AccessToken, Application, Event, Notification, Status, Verification
from support.documents.filing import sanitise_pending
from support.platform import tokens
from tests.conftest import RECOVERY, UNLOCK
from tests.kept import kept


async def _submitted(applicant, kind="unlock"):
    response = await applicant.submit(kind, UNLOCK if kind == "unlock" else RECOVERY)
    assert response.status_code == 303, response.text
    return response.headers["location"]


async def test_code_arrives_by_sms_and_email(applicant, outbox):
    verify_path = await _submitted(applicant)
    reference = verify_path.split("/")[2]
    assert await outbox.deliver() == 2
    [sms] = outbox.sms()
    assert sms["to"] == "+919876543210"
    assert reference in sms["text"]
    code = re.search(r"\b\d{6}\b", sms["text"]).group(0)
    [mail] = outbox.emails()
    assert mail["To"] == "asha@example.com"
    assert reference in mail["Subject"]
    assert mail["Auto-Submitted"] == "auto-generated"
    assert code in mail.get_body(("plain",)).get_content()
    assert code in mail.get_body(("html",)).get_content()


async def test_code_is_stored_only_as_a_keyed_hash(applicant, outbox, settings):
    verify_path = await _submitted(applicant)
    code = await outbox.last_code()
    application = await Application.get(reference=verify_path.split("/")[2])
    verification = await Verification.get(application=application)
    assert code not in verification.code_hash
    assert verification.code_hash == tokens.code_hash(settings.secret_key, application.reference, code)
    # Once sent, the outbox no longer holds the code either.
    for row in await Notification.filter(application=application):
        assert code not in str(row.context)


async def test_verify_page_masks_the_contacts(applicant, client):
    verify_path = await _submitted(applicant)
    page = await client.get(verify_path)
    assert page.status_code == 200
    assert "asha@example.com" not in page.text
    assert "9876543210" not in page.text
    assert "a•••@example.com" in page.text
    assert 'autocomplete="one-time-code"' in page.text


async def test_right_code_queues_and_shows_the_private_link(applicant, outbox, client, settings):
    verify_path = await _submitted(applicant)
    code = await outbox.last_code()
    response = await applicant.post_form(verify_path, {"code": f" {code[:3]} {code[3:]} "})
    assert response.status_code == 303
    status_path = response.headers["location"]
    assert re.fullmatch(r"/status/[A-Za-z0-9_-]{43}\?welcome=1", status_path)
    application = await Application.get(reference=verify_path.split("/")[2])
    assert application.status is Status.QUEUED
    assert application.due_at is not None
    promised = application.due_at - application.verified_at
    assert promised == timedelta(hours=72)
    assert await Event.filter(application=application, type="verify").count() == 1
    token = status_path.split("/")[2].split("?")[0]
    assert await AccessToken.filter(token_hash=tokens.token_hash(token)).exists()
    assert not await AccessToken.filter(token_hash=token).exists()  # never in the clear

    page = await client.get(status_path)
    assert page.status_code == 200
    assert "Thank you" in page.text
    assert application.reference in page.text
    # The link also arrives by email and SMS, so it is not lost with the browser tab.
    await outbox.deliver()
    assert f"/status/{token}" in outbox.links()
    assert any(f"/status/{token}" in m["text"] for m in outbox.sms())


async def test_wrong_code_says_how_many_tries_are_left(applicant, outbox):
    verify_path = await _submitted(applicant)
    code = await outbox.last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = await applicant.post_form(verify_path, {"code": wrong})
    assert response.status_code == 422
    assert "4 tries left" in response.text
    assert 'id="code-error"' in response.text
    for _ in range(4):
        response = await applicant.post_form(verify_path, {"code": wrong})
    assert "last try" in response.text
    # Even the right code is refused now: a new one must be asked for.
    response = await applicant.post_form(verify_path, {"code": code})
    assert response.status_code == 422
    assert "Too many wrong codes" in response.text
    application = await Application.get(reference=verify_path.split("/")[2])
    assert application.status is Status.SUBMITTED


async def test_malformed_code_is_explained(applicant):
    verify_path = await _submitted(applicant)
    response = await applicant.post_form(verify_path, {"code": "12ab"})
    assert response.status_code == 422
    assert "6-digit code" in response.text


async def test_expired_code_is_refused(applicant, outbox):
    verify_path = await _submitted(applicant)
    code = await outbox.last_code()
    application = await Application.get(reference=verify_path.split("/")[2])
    await Verification.filter(application=application).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    response = await applicant.post_form(verify_path, {"code": code})
    assert response.status_code == 422
    assert "expired" in response.text


async def test_new_code_only_after_a_minute_and_at_most_five_times(applicant, outbox, settings):
    verify_path = await _submitted(applicant)
    first = await outbox.last_code()
    response = await applicant.post_form(verify_path + "/resend", {})
    assert response.status_code == 429
    assert re.search(r"wait \d+ seconds", response.text)

    application = await Application.get(reference=verify_path.split("/")[2])
    for round_ in range(settings.code_max_resends):
        await Verification.filter(application=application).update(
            last_sent_at=datetime.now(UTC) - timedelta(seconds=61)
        )
        response = await applicant.post_form(verify_path + "/resend", {})
        assert response.status_code == 200, (round_, response.text)
        assert "new code" in response.text
    newest = await outbox.last_code()
    await Verification.filter(application=application).update(
        last_sent_at=datetime.now(UTC) - timedelta(seconds=61)
    )
    response = await applicant.post_form(verify_path + "/resend", {})
    assert response.status_code == 429
    assert "too many times" in response.text
    # The old code died with the new one; the newest works.
    if first != newest:
        refused = await applicant.post_form(verify_path, {"code": first})
        assert refused.status_code == 422
    accepted = await applicant.post_form(verify_path, {"code": newest})
    assert accepted.status_code == 303


async def test_unconfirmed_applications_expire_after_a_day(applicant, outbox, settings, client):
    verify_path = await _submitted(applicant)
    fresh_path = await _submitted(applicant)
    code = await outbox.last_code()
    old = await Application.get(reference=verify_path.split("/")[2])
    await Application.filter(id=old.id).update(created_at=datetime.now(UTC) - timedelta(hours=25))
    await sanitise_pending(settings)  # the worker files both receipts
    document = await old.documents.all().first()
    stored = kept(settings, document.storage_key)
    assert stored.exists()

    assert await workflow.expire_unverified(settings) == 1
    await old.refresh_from_db()
    assert old.status is Status.EXPIRED
    assert not stored.exists()  # an abandoned application keeps no documents
    page = await client.get(verify_path)
    assert "expired" in page.text
    response = await applicant.post_form(verify_path, {"code": code})
    assert response.status_code == 409
    # The other, fresh application is untouched.
    fresh = await Application.get(reference=fresh_path.split("/")[2])
    assert fresh.status is Status.SUBMITTED


async def test_confirming_twice_is_a_clear_refusal(applicant, outbox):
    verify_path = await _submitted(applicant)
    code = await outbox.last_code()
    assert (await applicant.post_form(verify_path, {"code": code})).status_code == 303
    again = await applicant.post_form(verify_path, {"code": code})
    assert again.status_code == 409
    assert "already confirmed" in again.text


async def test_unknown_reference_is_404(client):
    page = await client.get("/applications/UL-2222-2222/verify")
    assert page.status_code == 404
    assert "Page not found" in page.text


async def test_recovery_promise_is_seven_days(applicant, outbox):
    path = await applicant.apply_and_verify(outbox, "recovery")
    assert path.startswith("/status/")
    application = await Application.get(kind="recovery")
    assert application.reference.startswith("RC-")
    assert application.due_at - application.verified_at == timedelta(days=7)


async def test_risk_flags_are_set_when_the_application_reaches_the_queue(applicant, outbox):
    """Signals are computed on confirming, off the submit path: by the time a reviewer can
    filter the queue by flag, the application's flags are there."""
    from support.data.models import RiskFlag

    first = (await _submitted(applicant, "recovery")).split("/")[2]
    second_fields = {**RECOVERY, "account_id": "6123400000", "phone": "98765 40000",
                     "email": "other@example.com"}
    response = await applicant.submit("recovery", second_fields)
    assert response.status_code == 303, response.text
    second = response.headers["location"].split("/")[2]
    application = await Application.get(reference=second)
    assert not await RiskFlag.filter(application=application).exists()  # not yet confirmed

    await workflow.verify(outbox.settings, second, await outbox.last_code())

    flags = {flag.code: flag for flag in await RiskFlag.filter(application=application)}
    assert flags["same_imei"].related == [first]


@pytest.mark.parametrize("typed", ["", "12 34", "1" * 50])
async def test_a_confirmed_application_answers_any_code_with_its_page(applicant, outbox, typed):
    """Whatever is typed after the confirmation (a code cut short, nothing at all), the
    answer says the application is confirmed, not that the code is malformed."""
    verify_path = await _submitted(applicant)
    assert (await applicant.post_form(verify_path, {"code": await outbox.last_code()})
            ).status_code == 303
    again = await applicant.post_form(verify_path, {"code": typed})
    assert again.status_code == 409
    assert "already confirmed" in again.text and 'class="error"' not in again.text
