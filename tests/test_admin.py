"""Admins manage reviewers and canned responses from the web."""

from __future__ import annotations

import re

from support.data.models import AccountEvent, CannedResponse, Reviewer, ReviewerSession


async def test_admin_adds_a_reviewer_who_chooses_their_password_and_is_deactivated(
        desk, client, outbox):
    admin = await desk.reviewer("Ada", role="admin")
    page = await admin.get("/review/admin/reviewers")
    assert page.status_code == 200 and "Add a reviewer" in page.text
    assert 'type="password"' not in page.text  # no password is handed over

    refused = await admin.post("/review/admin/reviewers", {
        "email": "bo at example", "name": "Bo", "role": "reviewer", "kinds": ["unlock"],
    })
    assert refused.status_code == 422
    assert "not a valid email" in refused.text and 'value="bo at example"' in refused.text

    created = await admin.post("/review/admin/reviewers", {
        "email": "bo@example.com", "name": "Bo", "role": "reviewer", "kinds": ["unlock"],
        "countries": "in, np",
    })
    assert created.status_code == 303
    assert created.headers["location"] == "/review/admin/reviewers?notice=invited"
    bo = await Reviewer.get(email="bo@example.com")
    assert bo.kinds == ["unlock"] and bo.countries == ["IN", "NP"]
    await outbox.deliver()
    [mail] = outbox.emails()
    assert mail["To"] == "bo@example.com"
    link = re.search(r"http://testserver(/review/invitation/[\w-]+)",
                     mail.get_body(("plain",)).get_content()).group(1)
    await client.get(link)
    chosen = await client.post(link, data={
        "csrf_token": client.cookies["support_csrf"], "password": "a long enough password",
        "password_again": "a long enough password",
    })
    assert chosen.status_code == 303
    assert await ReviewerSession.filter(reviewer=bo).count() == 1

    gone = await admin.post(f"/review/admin/reviewers/{bo.id}/deactivate")
    assert gone.status_code == 303
    await bo.refresh_from_db()
    assert not bo.active
    assert await ReviewerSession.filter(reviewer=bo).count() == 0
    assert await AccountEvent.filter(reviewer=bo).order_by("id").values_list("type", flat=True) \
        == ["invited", "password_set", "deactivated"]
    invited = await AccountEvent.get(reviewer=bo, type="invited")
    assert invited.message == ("As reviewer, working Bootloader unlock permission in "
                               "India (IN), Nepal (NP).")  # queues in words, not "unlock"


async def test_admins_edit_canned_responses_and_reviewers_start_from_them(
        desk, applicant, outbox):
    admin = await desk.reviewer("Ada", role="admin")
    page = await admin.get("/review/admin/responses")
    assert page.status_code == 200
    assert "Stable firmware" in page.text  # defaults are seeded
    added = await admin.post("/review/admin/responses", {
        "kind": "unlock", "action": "approve", "title": "Fast track",
        "body": "Approved on the fast track.", "active": "1",
    })
    assert added.status_code == 303
    row = await CannedResponse.get(title="Fast track")
    bad = await admin.post(f"/review/admin/responses/{row.id}", {
        "kind": "unlock", "action": "reject", "title": "Fast track", "body": "x", "active": "1",
    })
    assert bad.status_code == 422 and "A refusal needs a reason." in bad.text
    await admin.post(f"/review/admin/responses/{row.id}", {
        "kind": "unlock", "action": "approve", "title": "Fast track",
        "body": "Approved on the fast track, edited.", "active": "0",
    })
    await row.refresh_from_db()
    assert row.body.endswith("edited.") and not row.active

    await applicant.apply_and_verify(outbox)
    await admin.post("/review/next")
    from support.data.models import Application

    application = await Application.get()
    detail = await admin.get(f"/review/applications/{application.reference}")
    assert "Unlock permitted" in detail.text  # the seeded approval text is offered
    assert "fast track, edited" not in detail.text  # inactive responses are not


async def test_only_admins_reach_admin_pages(desk):
    lead = await desk.reviewer("Lee", role="lead")
    assert (await lead.get("/review/admin/reviewers")).status_code == 403
    assert (await lead.post("/review/admin/responses", {})).status_code == 403
