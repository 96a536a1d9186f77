"""Admins change a reviewer's role and queues in the page (issue 20): the queue follows at
once, each change is in the account audit, refusals keep the form, an admin cannot change
their own role, and a raised reviewer sets up sign-in codes before anything else."""

from __future__ import annotations

import asyncio
import re

import pytest

from support.accounts import auth
from support.data.models import AccountEvent, Application, Event, Reviewer, Status
from support.reads.wording import role_word
from support.web.auth import ENROL_PATH
from support.workflow import reviewers
from tests.factories import make_application


def queue_references(html: str) -> set[str]:
    return set(re.findall(r"\b(?:UL|AR|AP|[A-Z]{2})-[0-9A-Z]{4}-[0-9A-Z]{4}\b", html))


async def account_events(reviewer: Reviewer) -> list[tuple[str, str]]:
    return [(e.type, e.message) for e in
            await AccountEvent.filter(reviewer_id=reviewer.id).order_by("id")]


async def test_an_admin_widens_a_reviewers_queues_and_their_queue_shows_it(desk):
    admin = await desk.reviewer("Ada", role="admin")
    bo = await desk.reviewer("Bo", kinds=["unlock"])
    recovery = await make_application(kind="recovery", country="IN")
    unlock = await make_application(kind="unlock", country="IN")
    before = queue_references((await bo.get("/review/queue")).text)
    assert unlock.reference in before and recovery.reference not in before

    listing = await admin.get("/review/admin/reviewers")
    assert f'href="/review/admin/reviewers/{bo.reviewer.id}"' in listing.text
    assert "Bootloader unlock permission" in listing.text  # queues in words, not "unlock"
    page = await admin.get(f"/review/admin/reviewers/{bo.reviewer.id}")
    assert page.status_code == 200
    assert "Role and queues of Bo" in page.text
    options = re.findall(r'<option value="(\w+)"[^>]*>([^<]+)</option>', page.text)
    assert options == [(role, role_word(role)) for role in ("reviewer", "lead", "admin")]
    assert re.search(r'value="unlock" checked', page.text)
    assert not re.search(r'value="recovery" checked', page.text)

    saved = await admin.post(f"/review/admin/reviewers/{bo.reviewer.id}", {
        "role": "reviewer", "kinds": ["unlock", "recovery"], "countries": "in",
    })
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/review/admin/reviewers/{bo.reviewer.id}?notice=saved"
    shown = await admin.get(saved.headers["location"])
    assert "Saved. Bo is now reviewer, working Bootloader unlock permission, Account " \
           "recovery in India (IN)." in shown.text
    row = await Reviewer.get(id=bo.reviewer.id)
    assert (row.role, row.kinds, row.countries) == ("reviewer", ["unlock", "recovery"], ["IN"])
    after = queue_references((await bo.get("/review/queue")).text)
    assert {unlock.reference, recovery.reference} <= after

    assert await account_events(row) == [(
        "queues_changed", "From Bootloader unlock permission in every country to Bootloader "
        "unlock permission, Account recovery in India (IN).")]
    audit = await admin.get("/review/admin/audit")
    assert "Queues changed" in audit.text and "India (IN)" in audit.text

    # Narrowed to another country: the Indian applications leave the queue.
    await admin.post(f"/review/admin/reviewers/{bo.reviewer.id}", {
        "role": "reviewer", "kinds": ["unlock", "recovery"], "countries": "NP, RU"})
    assert not queue_references((await bo.get("/review/queue")).text) & {
        unlock.reference, recovery.reference}
    assert (await bo.get(f"/review/applications/{unlock.reference}")).status_code == 404

    # Sending the same again changes nothing and records nothing.
    same = await admin.post(f"/review/admin/reviewers/{bo.reviewer.id}", {
        "role": "reviewer", "kinds": ["unlock", "recovery"], "countries": "ru,np"})
    assert same.headers["location"].endswith("?notice=unchanged")
    assert len(await account_events(row)) == 2


async def test_raised_to_lead_they_set_up_codes_at_their_next_page(desk):
    admin = await desk.reviewer("Ada", role="admin")
    bo = await desk.reviewer("Bo", kinds=["unlock"], enrolled=False)
    page = await admin.get(f"/review/admin/reviewers/{bo.reviewer.id}")
    assert "The last two must use sign-in codes: Bo has none yet" in page.text
    assert (await bo.get("/review/queue")).status_code == 200

    saved = await admin.post(f"/review/admin/reviewers/{bo.reviewer.id}", {
        "role": "lead", "kinds": ["unlock"], "countries": ""})
    assert saved.status_code == 303
    shown = await admin.get(saved.headers["location"])
    assert f"Saved. Bo is now {role_word('lead').lower()}." in shown.text
    assert "must use sign-in codes and has not set them up yet" in shown.text
    assert await account_events(bo.reviewer) == [("role_changed", "From Reviewer to Lead reviewer.")]
    listing = await admin.get("/review/admin/reviewers")
    assert "<strong>required</strong>, not set up yet" in listing.text

    # Their session stays, but nothing opens until the codes are set up.
    sent = await bo.get("/review/queue")
    assert sent.status_code == 303 and sent.headers["location"].startswith(ENROL_PATH)
    assert (await bo.get("/review/reports")).headers["location"].startswith(ENROL_PATH)

    # Lowered again: the desk opens to them as a reviewer, without the lead's pages.
    await admin.post(f"/review/admin/reviewers/{bo.reviewer.id}", {
        "role": "reviewer", "kinds": ["unlock"], "countries": ""})
    assert (await bo.get("/review/queue")).status_code == 200
    assert (await bo.get("/review/reports")).status_code == 403


async def test_unknown_codes_are_refused_with_the_form_kept(desk):
    admin = await desk.reviewer("Ada", role="admin")
    bo = await desk.reviewer("Bo", kinds=["unlock"])
    path = f"/review/admin/reviewers/{bo.reviewer.id}"
    cases = [
        ({"role": "reviewer", "kinds": ["unlock", "nonsense"], "countries": "IN"},
         "Unknown queue nonsense"),
        ({"role": "reviewer", "kinds": ["recovery"], "countries": "IN, XX, zz"},
         "Unknown country code XX, ZZ"),
        ({"role": "superuser", "kinds": ["recovery"], "countries": "IN"},
         "Unknown role &#39;superuser&#39;"),
    ]
    for form, message in cases:
        refused = await admin.post(path, form)
        assert refused.status_code == 422, form
        assert message in refused.text
        assert 'role="alert"' in refused.text
        assert f'value="{form["countries"]}"' in refused.text  # the form as typed
        assert re.search(r'value="recovery" checked', refused.text) or "unlock" in form["kinds"]
    row = await Reviewer.get(id=bo.reviewer.id)
    assert (row.role, row.kinds, row.countries) == ("reviewer", ["unlock"], [])
    assert await account_events(row) == []


async def test_an_admin_cannot_change_their_own_role(desk):
    admin = await desk.reviewer("Ada", role="admin", kinds=["unlock"])
    path = f"/review/admin/reviewers/{admin.reviewer.id}"
    page = await admin.get(path)
    assert "You cannot change your own role" in page.text
    assert 'name="role"' not in page.text
    refused = await admin.post(path, {"role": "reviewer", "kinds": ["unlock"], "countries": ""})
    assert refused.status_code == 409
    assert "You cannot change your own role: ask another admin." in refused.text
    assert (await Reviewer.get(id=admin.reviewer.id)).role == "admin"
    # Their own queues are theirs to change (they matter if another admin lowers them).
    saved = await admin.post(path, {"kinds": ["unlock", "appeal"], "countries": ""})
    assert saved.status_code == 303
    row = await Reviewer.get(id=admin.reviewer.id)
    assert (row.role, row.kinds) == ("admin", ["unlock", "appeal"])


async def test_two_admins_lowering_each_other_at_once_leave_one_admin(desk):
    ada = await desk.reviewer("Ada", role="admin")
    cy = await desk.reviewer("Cy", role="admin")
    results = await asyncio.gather(
        reviewers.change_access(ada.reviewer, cy.reviewer.id, role="reviewer",
                                kinds=["unlock"], countries=[]),
        reviewers.change_access(cy.reviewer, ada.reviewer.id, role="reviewer",
                                kinds=["unlock"], countries=[]),
        return_exceptions=True)
    refused = [r for r in results if isinstance(r, reviewers.AccessRefused)]
    assert len(refused) == 1, results
    assert await Reviewer.filter(role="admin").count() == 1
    # The one lowered is refused by the page from their next request.
    lowered = ada if (await Reviewer.get(id=ada.reviewer.id)).role == "reviewer" else cy
    assert (await lowered.get("/review/admin/reviewers")).status_code == 403


async def test_applications_held_outside_the_new_queues_go_back(desk):
    admin = await desk.reviewer("Ada", role="admin")
    bo = await desk.reviewer("Bo", kinds=["unlock", "recovery"])
    held_recovery = await make_application(kind="recovery", status=Status.IN_REVIEW,
                                           assignee_id=bo.reviewer.id)
    held_unlock = await make_application(kind="unlock", status=Status.IN_REVIEW,
                                         assignee_id=bo.reviewer.id)
    saved = await admin.post(f"/review/admin/reviewers/{bo.reviewer.id}", {
        "role": "reviewer", "kinds": ["unlock"], "countries": ""})
    assert saved.headers["location"].endswith("?notice=saved-released")
    shown = await admin.get(saved.headers["location"])
    assert "went back to the queue" in shown.text
    released = await Application.get(id=held_recovery.id)
    assert (released.status, released.assignee_id) == (Status.QUEUED, None)  # type: ignore[attr-defined]
    event = await Event.filter(application_id=held_recovery.id).order_by("-id").first()
    assert event is not None and event.type == "release" and event.internal
    assert event.actor == f"reviewer:{admin.reviewer.id}"
    assert "Bo no longer works it" in event.message
    kept = await Application.get(id=held_unlock.id)
    assert (kept.status, kept.assignee_id) == (Status.IN_REVIEW, bo.reviewer.id)  # type: ignore[attr-defined]


async def test_who_may_edit_and_what_others_get(desk, client):
    admin = await desk.reviewer("Ada", role="admin")
    bo = await desk.reviewer("Bo", kinds=["unlock"])
    path = f"/review/admin/reviewers/{bo.reviewer.id}"
    for role in ("reviewer", "lead"):
        other = await desk.reviewer(role=role)
        assert (await other.get(path)).status_code == 403
        posted = await other.post(path, {"role": "admin", "kinds": ["unlock"]})
        assert posted.status_code == 403
    assert (await client.get(path)).status_code == 303  # signed out: to the sign-in page
    assert (await Reviewer.get(id=bo.reviewer.id)).role == "reviewer"
    for missing in ("/review/admin/reviewers/999999", "/review/admin/reviewers/"
                    "99999999999999999999999999"):
        assert (await admin.get(missing)).status_code == 404
        assert (await admin.post(missing, {"role": "lead"})).status_code == 404
    # Without the CSRF field the change is refused, not made.
    raw = await admin.client.post(path, data={"role": "admin", "kinds": ["unlock"]})
    assert raw.status_code == 403
    assert (await Reviewer.get(id=bo.reviewer.id)).role == "reviewer"


async def test_the_function_refuses_a_deactivated_admin(desk):
    ada = await desk.reviewer("Ada", role="admin")
    bo = await desk.reviewer("Bo")
    await Reviewer.filter(id=ada.reviewer.id).update(active=False)
    with pytest.raises(auth.AuthError, match="Only an admin"):
        await reviewers.change_access(ada.reviewer, bo.reviewer.id, role="admin",
                                      kinds=["unlock"], countries=[])
    assert (await Reviewer.get(id=bo.reviewer.id)).role == "reviewer"


async def test_odd_input_gets_a_clear_answer_never_a_5xx(desk):
    admin = await desk.reviewer("Ada", role="admin")
    bo = await desk.reviewer("Bo", kinds=["unlock"])
    path = f"/review/admin/reviewers/{bo.reviewer.id}"
    odd = ["", "\x00", "I" * 300, "in,,ru", " , ", "Ｉｎ", "१२", "<b>IN</b>", "r" * 5000]
    for n, value in enumerate(odd):
        form = {"role": [value, "reviewer", "lead\x00"][n % 3], "kinds": [value, "unlock"],
                "countries": value}
        answer = await admin.post(path, form)
        assert answer.status_code in {303, 409, 422}, (value, answer.status_code)
        if answer.status_code == 422:
            assert 'role="alert"' in answer.text and "<b>IN</b>" not in answer.text
    row = await Reviewer.get(id=bo.reviewer.id)
    assert row.role in {"reviewer", "lead"} and set(row.kinds) <= {"unlock"}
