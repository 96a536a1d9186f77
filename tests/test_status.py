"""The private status page, the look-up that re-sends its link, and withdrawing."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from support.data.models import AccessToken, Application, Event, Notification, Status


async def test_status_page_shows_state_next_step_and_timeline(applicant, outbox, client):
    path = await applicant.apply_and_verify(outbox)
    page = await client.get(path)
    assert page.status_code == 200
    application = await Application.get()
    assert application.reference in page.text
    assert "Bootloader unlock permission" in page.text
    assert "Waiting for a reviewer" in page.text
    assert "A reviewer will decide by" in page.text
    local = application.due_at.astimezone(ZoneInfo("Asia/Kolkata"))  # an Indian applicant
    words = " ".join(page.text.split())  # dates hold together with no-break spaces
    assert f"{local.day} " in words and "IST" in words and " UTC" not in words
    assert "Application sent." in page.text
    assert "Contact confirmed" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_internal_events_stay_off_the_status_page(applicant, outbox, client):
    path = await applicant.apply_and_verify(outbox)
    application = await Application.get()
    await Event.create(application=application, actor="reviewer:1", type="note",
                       message="Receipt looks edited", internal=True)
    page = await client.get(path)
    assert "Receipt looks edited" not in page.text


async def test_unknown_token_is_a_helpful_404(client):
    page = await client.get("/status/" + "A" * 43)
    assert page.status_code == 404
    assert "Get a new link" in page.text


async def test_lookup_sends_a_new_link_to_the_matching_contact_only(applicant, outbox, client):
    await applicant.apply_and_verify(outbox)
    application = await Application.get()
    before = await Notification.all().count()

    by_phone = await applicant.post_form(
        "/status", {"reference": application.reference.lower().replace("-", " "),
                    "contact": "+91 98765-43210"}
    )
    assert by_phone.status_code == 200
    rows = await Notification.filter(template="status_link")
    assert [row.channel.value for row in rows] == ["sms"]
    await outbox.deliver()
    link = outbox.sms()[-1]["text"].split("http://testserver")[1]
    assert (await client.get(link)).status_code == 200
    assert await AccessToken.all().count() == 2  # the first link still works too

    by_email = await applicant.post_form(
        "/status", {"reference": application.reference, "contact": "ASHA@example.com"}
    )
    assert by_email.status_code == 200
    assert await Notification.filter(template="status_link", channel="email").count() == 1
    assert await Notification.all().count() == before + 2


async def test_lookup_answers_the_same_whether_or_not_anything_matches(applicant, outbox):
    await applicant.apply_and_verify(outbox)
    application = await Application.get()
    before = await Notification.all().count()
    answers = []
    for reference, contact in [
        (application.reference, "someone@example.com"),  # real reference, wrong contact
        ("UL-2222-3333", "asha@example.com"),  # no such reference
        (application.reference, "+7 912 345-67-89"),  # wrong phone
    ]:
        response = await applicant.post_form("/status", {"reference": reference,
                                                         "contact": contact})
        assert response.status_code == 200
        answers.append(response.text.replace(reference, "").replace(contact, ""))
    assert answers[0] == answers[1] == answers[2]
    assert await Notification.all().count() == before


async def test_lookup_requires_both_fields(applicant):
    response = await applicant.post_form("/status", {"reference": "", "contact": "x@example.com"})
    assert response.status_code == 422
    assert 'id="reference-error"' in response.text
    assert 'value="x@example.com"' in response.text


async def test_withdrawing_closes_the_application_and_tells_the_applicant(
    applicant, outbox, client
):
    path = await applicant.apply_and_verify(outbox)
    page = await client.get(path)
    assert "Withdraw this application" in page.text
    response = await applicant.post_form(path + "/withdraw", {})
    assert response.status_code == 303
    application = await Application.get()
    assert application.status is Status.WITHDRAWN
    page = await client.get(path)
    assert "Withdrawn" in page.text
    assert "Withdraw this application" not in page.text
    assert await Notification.filter(template="withdrawn").count() == 2
    again = await applicant.post_form(path + "/withdraw", {})
    assert again.status_code == 409
    assert "withdrawn" in again.text


async def test_withdraw_needs_the_csrf_token(applicant, outbox, client):
    path = await applicant.apply_and_verify(outbox)
    response = await client.post(path + "/withdraw", data={})
    assert response.status_code == 403
    assert (await Application.get()).status is Status.QUEUED
