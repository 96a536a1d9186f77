"""The desk's journeys end to end over HTTP: a reviewer takes the next application, looks
at the receipt, asks for more, the applicant answers with a document, the reviewer
approves; and a refusal, an appeal, and the appeal decided by someone else."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from support.data.models import Application, Document, Event, Notification, Status
from tests.conftest import RECOVERY, UNLOCK, png_bytes
from tests.factories import page_version


async def _queued(applicant, outbox) -> tuple[str, Application]:
    status_path = await applicant.apply_and_verify(outbox)
    application = await Application.get()
    return status_path, application


async def test_take_view_request_info_reply_and_approve(applicant, outbox, client, desk):
    status_path, application = await _queued(applicant, outbox)
    ann = await desk.reviewer("Ann")

    queue = await ann.get("/review/queue")
    assert queue.status_code == 200
    assert application.reference in queue.text
    assert queue.headers["cache-control"] == "no-store"

    taken = await ann.post("/review/next")
    assert taken.status_code == 303
    assert taken.headers["location"] == f"/review/applications/{application.reference}"
    page = await ann.get(taken.headers["location"])
    assert page.status_code == 200
    for fact in ("6123456789", "+919876543210", "asha@example.com", "Redmi Note 10 Pro",
                 "21.3.17"):
        assert fact in page.text
    document = await Document.get(application=application)
    assert f"/review/documents/{document.id}" in page.text

    receipt = await ann.get(f"/review/documents/{document.id}")
    assert receipt.status_code == 200
    assert receipt.headers["content-type"] == "image/jpeg"
    assert receipt.headers["x-content-type-options"] == "nosniff"
    assert "private" in receipt.headers["cache-control"]
    assert receipt.headers["content-disposition"].startswith("inline")
    assert await Event.filter(type="document_viewed").count() == 1

    asked = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "request_info", "items": ["receipt"],
        "message": "The receipt is blurred: please send a sharp photo of it.",
        "seen": await page_version(application.reference),
    })
    assert asked.status_code == 303
    await application.refresh_from_db()
    assert application.status is Status.NEEDS_INFO
    rows = await Notification.filter(template="info_requested")
    assert {row.channel.value for row in rows} == {"email", "sms"}

    # The applicant sees the request and answers with a document.
    status = await client.get(status_path)
    assert "We need more information" in status.text
    assert "The receipt is blurred" in status.text
    assert 'name="receipt"' in status.text
    answer = await client.post(
        status_path + "/reply",
        data={"csrf_token": client.cookies["support_csrf"],
              "message": "Here is a sharper photo of the receipt."},
        files={"receipt": ("sharp.png", png_bytes(), "image/png")},
    )
    assert answer.status_code == 303, answer.text
    await application.refresh_from_db()
    assert application.status is Status.QUEUED
    assert application.held_for_id == ann.reviewer.id
    assert await Document.filter(application=application).count() == 2

    # Held for Ann: Bob cannot take it for now, Ann gets it back.
    bob = await desk.reviewer("Bob")
    assert (await bob.post("/review/next")).headers["location"] == "/review/queue?notice=empty"
    again = await ann.post("/review/next")
    assert again.headers["location"].endswith(application.reference)

    approved = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "approve", "message": "Approved: use the unlock tool within 14 days.",
        "seen": await page_version(application.reference),
    })
    assert approved.status_code == 303
    await application.refresh_from_db()
    assert application.status is Status.APPROVED
    assert application.decided_by_id == ann.reviewer.id
    assert (application.permission_expires_at - application.decided_at).days == 14

    status = await client.get(status_path)
    assert "Approved" in status.text
    assert "Your unlock permission is valid until" in status.text
    local = application.permission_expires_at.astimezone(ZoneInfo("Asia/Kolkata"))
    assert f"{local.day}\u00a0" in status.text  # on the applicant's clock, held together
    await outbox.deliver()
    approvals = [m for m in outbox.sms() if "approved" in m["text"]]
    assert approvals and "Unlock allowed until" in approvals[-1]["text"]
    assert any("approved" in str(m["Subject"]) for m in outbox.emails())


async def test_reject_then_appeal_decided_by_another_reviewer(applicant, outbox, client, desk):
    status_path, application = await _queued(applicant, outbox)
    ann = await desk.reviewer("Ann")
    bob = await desk.reviewer("Bob")
    await ann.post("/review/next")
    refused = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "reject", "reason_code": "reason_insufficient",
        "message": "Your reason does not say why you need to unlock.",
        "seen": await page_version(application.reference),
    })
    assert refused.status_code == 303
    await application.refresh_from_db()
    assert application.status is Status.REJECTED
    assert application.decision_code == "reason_insufficient"

    status = await client.get(status_path)
    assert "Not approved" in status.text
    assert "Your reason does not say why" in status.text
    form = await client.get(status_path + "/appeal")
    assert form.status_code == 200
    for fact in ("6123456789", "a•••@example.com", "Redmi Note 10 Pro", "21.3.17"):
        assert fact in form.text  # the account and contacts shown, the rest pre-filled
    assert 'name="account_id"' not in form.text  # an appeal keeps the original's
    appealed = await client.post(status_path + "/appeal", data={
        "csrf_token": client.cookies["support_csrf"], **UNLOCK,
        "reason": "I maintain the LineageOS port for this phone and test nightly builds.",
    })
    assert appealed.status_code == 303, appealed.text
    appeal = await Application.get(appeal_of_id=application.id)
    assert appeal.reference.startswith("AP-")
    assert appeal.status is Status.QUEUED and appeal.priority > 0
    appeal_page = await client.get(appealed.headers["location"])
    assert appeal.reference in appeal_page.text

    # One appeal per rejection.
    status = await client.get(status_path)
    assert "Appeal this decision" not in status.text
    second = await client.post(status_path + "/appeal", data={
        "csrf_token": client.cookies["support_csrf"], **UNLOCK,
    })
    assert second.status_code == 409

    # Ann refused the original: the appeal is not hers to take or decide.
    assert (await ann.post("/review/next")).headers["location"] == "/review/queue?notice=own_appeals"
    barred = await ann.post(f"/review/applications/{appeal.reference}/claim")
    assert barred.status_code == 409
    assert "another reviewer" in barred.text
    taken = await bob.post("/review/next")
    assert taken.headers["location"].endswith(appeal.reference)
    page = await bob.get(taken.headers["location"])
    assert application.reference in page.text  # a link to the original
    decided = await bob.post(f"/review/applications/{appeal.reference}/decide", {
        "action": "approve", "message": "On appeal: approved.",
        "seen": await page_version(appeal.reference),
    })
    assert decided.status_code == 303
    await appeal.refresh_from_db()
    assert appeal.status is Status.APPROVED and appeal.permission_expires_at is not None


async def test_a_second_open_application_for_the_same_account_is_refused(applicant, outbox):
    await applicant.apply_and_verify(outbox)
    again = await applicant.submit("unlock", UNLOCK)
    assert again.status_code == 422
    assert "already has an application of this kind" in again.text
    assert 'id="account_id-error"' in again.text
    # Another kind for the same account is fine.

    other = await applicant.submit("recovery", RECOVERY)
    assert other.status_code == 303


async def test_notes_are_internal_and_on_the_timeline(applicant, outbox, client, desk):
    status_path, application = await _queued(applicant, outbox)
    ann = await desk.reviewer("Ann")
    await ann.post("/review/next")
    noted = await ann.post(f"/review/applications/{application.reference}/notes",
                           {"note": "Receipt date matches the sale region."})
    assert noted.status_code == 303
    page = await ann.get(f"/review/applications/{application.reference}")
    assert "Receipt date matches the sale region." in page.text
    assert "Receipt date matches" not in (await client.get(status_path)).text


async def test_risk_signals_show_with_links(applicant, outbox, desk):
    await applicant.apply_and_verify(outbox)
    first = await Application.get()
    await Application.filter(id=first.id).update(status=Status.WITHDRAWN)
    same_receipt = await applicant.submit("unlock", {**UNLOCK, "account_id": "7123456789"})
    assert same_receipt.status_code == 303
    second = await Application.exclude(id=first.id).get()
    lead = await desk.reviewer("Lee", role="lead")
    page = await lead.get(f"/review/applications/{second.reference}")
    assert "Same receipt file" in page.text
    assert f'href="/review/applications/{first.reference}"' in page.text
    queue = await lead.get("/review/queue?tab=submitted&flag=same_receipt")
    assert queue.status_code == 200


async def test_withdrawal_asks_for_confirmation(applicant, outbox, client):
    status_path, application = await _queued(applicant, outbox)
    confirm = await client.get(status_path + "/withdraw")
    assert confirm.status_code == 200
    assert "Yes, withdraw it" in confirm.text and "No, keep it" in confirm.text
    await application.refresh_from_db()
    assert application.status is Status.QUEUED  # nothing happened yet
    done = await applicant.post_form(status_path + "/withdraw", {})
    assert done.status_code == 303
    await application.refresh_from_db()
    assert application.status is Status.WITHDRAWN


async def test_reply_errors_keep_the_text(applicant, outbox, client, desk):
    status_path, application = await _queued(applicant, outbox)
    ann = await desk.reviewer("Ann")
    await ann.post("/review/next")
    await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "request_info", "items": ["receipt", "imei"], "message": "Please add both.",
        "seen": await page_version(application.reference),
    })
    bad = await client.post(
        status_path + "/reply",
        data={"csrf_token": client.cookies["support_csrf"], "message": "ok"},
        files={"receipt": ("r.jpg", b"not an image", "image/jpeg")},
    )
    assert bad.status_code == 422
    assert re.search(r'id="message-error"', bad.text)
    assert re.search(r'id="receipt-error"', bad.text)
    await application.refresh_from_db()
    assert application.status is Status.NEEDS_INFO


async def test_a_receipt_sent_in_a_reply_is_checked_against_other_applications(
        applicant, outbox, client, desk):
    status_path, application = await _queued(applicant, outbox)
    other = await applicant.submit("recovery", {**RECOVERY,
                                                "account_id": "7123456789"},
                                   files={"receipt": ("r.png", png_bytes(), "image/png")})
    assert other.status_code == 303
    ann = await desk.reviewer("Ann")
    await ann.post(f"/review/applications/{application.reference}/claim")
    await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "request_info", "items": ["receipt"], "message": "Please resend it.",
        "seen": await page_version(application.reference),
    })
    answer = await client.post(
        status_path + "/reply",
        data={"csrf_token": client.cookies["support_csrf"], "message": "Here it is again."},
        files={"receipt": ("r.png", png_bytes(), "image/png")},  # the same file as the other
    )
    assert answer.status_code == 303
    from support.data.models import RiskFlag

    assert await RiskFlag.filter(application=application, code="same_receipt").exists()


async def test_a_barred_lead_is_not_offered_the_decision_on_an_appeal(desk):
    from tests.factories import make_application

    lead = await desk.reviewer("Lee", role="lead")
    original = await make_application(status=Status.REJECTED, decided_by=lead.reviewer)
    appeal = await make_application(kind="appeal", appeal_of=original, status=Status.IN_REVIEW,
                                    assignee=lead.reviewer)
    page = await lead.get(f"/review/applications/{appeal.reference}")
    assert "another reviewer must decide this appeal" in page.text
    assert "Approve and notify" not in page.text
    assert "Claim this application" not in page.text
