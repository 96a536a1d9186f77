"""The applicant always knows where they stand (issue 21): their own clock, the dates we
promise (and the new one when we are late), their own words and files in the history, a
confirmation after each thing they do, and an appeal linked both ways."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from support import workflow
from support.config import Settings
from support.data.models import Application, Document, Event, Notification, Status
from support.notify.render import render_email, render_sms
from support.rules.kinds import KINDS, expected_by
from tests.conftest import BASE, Applicant, jpeg_bytes
from tests.factories import make_application

HOUR = timedelta(hours=1)
NOW = datetime(2026, 12, 6, 5, 10, tzinfo=UTC)


# What a reload shows must not slide: a late desk names one new date and keeps it.
@pytest.mark.parametrize(("late_by", "periods"), [
    (timedelta(0), 1), (HOUR, 1), (timedelta(hours=71), 1), (timedelta(hours=72), 2),
    (timedelta(hours=100), 2), (timedelta(days=30), 11),
])
def test_a_late_desk_promises_the_next_whole_period_after_the_missed_date(late_by, periods):
    due = NOW - late_by
    period = timedelta(hours=72)
    assert expected_by(due, period, NOW) == due + periods * period
    assert expected_by(due, period, NOW + timedelta(minutes=5)) == due + periods * period


def test_a_date_still_ahead_is_the_promise_itself():
    assert expected_by(NOW + HOUR, timedelta(hours=72), NOW) == NOW + HOUR


async def _page(client: httpx2.AsyncClient, settings: Settings, application: Application,
                query: str = "") -> str:
    link = await workflow.new_status_link(settings, application)
    page = await client.get(link.removeprefix(BASE) + query)
    assert page.status_code == 200, page.text
    return page.text


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def test_an_indian_applicant_reads_every_time_in_ist(client, settings):
    due = datetime(2026, 12, 9, 5, 10, tzinfo=UTC)  # 10:40 in Kolkata
    application = await make_application(country="IN", time_zone="Asia/Kolkata",
                                         due_at=due)
    text = _text(await _page(client, settings, application))
    assert "A reviewer will decide by 9 December 2026, 10:40 IST" in text
    assert " UTC" not in text


async def test_a_russian_applicant_reads_their_own_zone_in_russian(client, settings):
    due = datetime(2026, 12, 9, 5, 10, tzinfo=UTC)  # 12:10 in Novosibirsk
    application = await make_application(country="RU", time_zone="Asia/Novosibirsk",
                                         phone="+79123456789", due_at=due, locale="ru")
    text = _text(await _page(client, settings, application, "?lang=ru"))
    assert "9 декабря 2026 г., 12:10 МСК+4" in text
    assert "UTC" not in text


async def test_a_row_from_before_the_zone_was_asked_uses_its_country(client, settings):
    application = await make_application(country="IN", time_zone=None,
                                         due_at=datetime(2026, 12, 9, 5, 10, tzinfo=UTC))
    assert "10:40 IST" in _text(await _page(client, settings, application))


async def test_a_late_desk_says_so_and_gives_a_new_date_not_one_in_the_past(client, settings):
    hours = KINDS["unlock"].sla_hours or 72
    missed = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    application = await make_application(time_zone="UTC", due_at=missed)
    text = _text(await _page(client, settings, application))
    assert "We are late" in text
    promised = missed.strftime("%-d %B %Y, %H:%M")
    expected = (missed + timedelta(hours=settings.sla_hours.get("unlock", hours)))
    assert f"we promised a decision by {promised} UTC" in text
    assert f"We now expect to decide by {expected.strftime('%-d %B %Y, %H:%M')} UTC" in text
    assert "A reviewer will decide by" not in text


async def test_the_received_messages_say_when_we_will_decide(applicant, outbox, client):
    await applicant.apply_and_verify(outbox)
    application = await Application.get()
    rows = await Notification.filter(template="received").order_by("channel")
    email, sms = (row for row in rows if row.channel == "email"), \
        (row for row in rows if row.channel == "sms")
    email_row, sms_row = next(email), next(sms)
    due = application.due_at.astimezone(UTC) + timedelta(hours=5, minutes=30)
    mail = render_email("received", email_row.context, "en")
    assert f"We will decide by {due.strftime('%-d %B %Y, %H:%M')} IST." in _text(mail.text)
    assert "We will decide by" in mail.html
    text = render_sms("received", sms_row.context, "en")
    assert f"Decision by {due.strftime('%-d %b, %H:%M')} IST" in text
    hindi = render_sms("received", sms_row.context, "hi")
    assert "IST" in hindi and "Decision" not in hindi


async def test_a_request_for_information_gives_a_date_to_answer_by(client, settings):
    asked = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    application = await make_application(
        status=Status.NEEDS_INFO, time_zone="Asia/Kolkata", info_requested_at=asked,
        info_request={"items": ["receipt"], "message": "The receipt is cut off."})
    text = _text(await _page(client, settings, application))
    by = KINDS["unlock"].answer_due(asked) + timedelta(hours=5, minutes=30)
    assert f"Answer by {by.strftime('%-d %B %Y, %H:%M')} IST." in text
    context = {"reference": application.reference, "kind": "unlock", "zone": "Asia/Kolkata",
               "items": ["A readable purchase receipt"], "message": "x", "reply_days": 14,
               "answer_by": KINDS["unlock"].answer_due(asked).isoformat()}
    assert f"by {by.strftime('%-d %B %Y, %H:%M')} IST" in _text(render_email(
        "info_requested", context, "en").text)
    assert f"answer by {by.strftime('%-d %b, %H:%M')} IST" in render_sms(
        "info_requested", context, "en")


async def test_the_history_shows_the_applicants_answer_and_the_names_of_their_files(
    client, settings, applicant: Applicant,
):
    application = await make_application(
        status=Status.NEEDS_INFO, info_requested_at=datetime.now(UTC),
        info_request={"items": ["receipt"], "message": "The receipt is cut off."})
    link = (await workflow.new_status_link(settings, application)).removeprefix(BASE)
    await client.get(link)
    token = client.cookies["support_csrf"]
    answer = "Here is the whole receipt, <b>scanned</b> flat this time."
    sent = await client.post(link + "/reply", data={"csrf_token": token, "message": answer},
                             files={"receipt": ("kassa-чек 2.jpg", jpeg_bytes(), "image/jpeg")})
    assert sent.status_code == 303
    assert sent.headers["location"] == link + "?done=reply"
    page = (await client.get(sent.headers["location"])).text
    assert "Your answer is sent." in page
    assert "Here is the whole receipt, &lt;b&gt;scanned&lt;/b&gt; flat this time." in page
    assert "kassa-чек 2.jpg" in page
    assert "Purchase receipt" in page
    assert await Document.filter(application=application).count() == 1


async def test_the_form_files_sit_under_the_application_sent_line(applicant, outbox, client):
    path = await applicant.apply_and_verify(outbox)
    page = (await client.get(path)).text
    sent_line = page.index("Application sent.")
    assert page.index("receipt.jpg") > sent_line
    assert page.index("Contact confirmed") > page.index("receipt.jpg")


async def test_a_withdrawal_is_confirmed_at_the_top(applicant, outbox, client):
    path = await applicant.apply_and_verify(outbox)
    done = await applicant.post_form(path + "/withdraw", {})
    assert done.headers["location"] == path + "?done=withdrawn"
    page = (await client.get(done.headers["location"])).text
    reference = (await Application.get()).reference
    assert "You withdrew application" in page and reference in page
    assert page.index('id="done"') < page.index("<h1")


async def test_an_erasure_request_is_confirmed_at_the_top(applicant, outbox, client):
    path = await applicant.apply_and_verify(outbox)
    done = await applicant.post_form(path + "/erase", {})
    assert done.headers["location"] == path + "?done=erasure"
    page = (await client.get(done.headers["location"])).text
    assert "We have your request to erase your personal data." in page


async def test_an_unknown_confirmation_says_nothing(applicant, outbox, client):
    path = await applicant.apply_and_verify(outbox)
    page = (await client.get(path + "?done=<script>")).text
    assert 'id="done"' not in page and "<script>" not in page


async def test_an_appeal_and_its_refusal_link_to_each_other(client, settings, applicant):
    original = await make_application(status=Status.REJECTED, decided_at=datetime.now(UTC),
                                      decision_code="reason_insufficient",
                                      decision_text="Explain why.")
    appeal = await make_application(appeal_of=original, kind="appeal",
                                    account_id=original.account_id)
    refusal_link = (await workflow.new_status_link(settings, original)).removeprefix(BASE)
    text = _text((await client.get(refusal_link)).text)
    assert f"Your appeal {appeal.reference}" in text
    assert "Waiting for a reviewer" in text

    to_appeal = await client.get(refusal_link + "/linked")
    assert to_appeal.status_code == 303
    appeal_page = await client.get(to_appeal.headers["location"])
    assert appeal.reference in appeal_page.text
    assert f"This is your appeal against the refusal of {original.reference}" in _text(
        appeal_page.text)
    back = await client.get(to_appeal.headers["location"] + "/linked")
    assert back.status_code == 303
    assert original.reference in (await client.get(back.headers["location"])).text

    # Decided: the refusal says the appeal's outcome, and that it replaces it.
    await Application.filter(id=appeal.id).update(status=Status.APPROVED,
                                                  decided_at=datetime.now(UTC))
    text = _text((await client.get(refusal_link)).text)
    assert "Appeal approved" in text
    assert "Your appeal was approved: its decision replaces this one." in text


async def test_an_application_without_an_appeal_has_nothing_to_link(client, settings):
    application = await make_application()
    link = (await workflow.new_status_link(settings, application)).removeprefix(BASE)
    assert (await client.get(link + "/linked")).status_code == 404
    assert (await client.get("/status/" + "A" * 43 + "/linked")).status_code == 404


async def test_a_submitted_appeal_lands_on_its_page_with_a_confirmation(
    client, settings, applicant,
):
    original = await make_application(status=Status.REJECTED, decided_at=datetime.now(UTC),
                                      decision_code="reason_insufficient")
    link = (await workflow.new_status_link(settings, original)).removeprefix(BASE)
    sent = await applicant.post_form(link + "/appeal", {
        "model": original.model, "firmware": original.firmware,
        "reason": "I maintain the LineageOS port for this phone and test every nightly."})
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"].endswith("?done=appealed")
    page = _text((await client.get(sent.headers["location"])).text)
    assert "Your appeal is sent." in page
    assert f"This is your appeal against the refusal of {original.reference}" in page


async def test_an_approved_permission_says_until_when_used_or_ended(client, settings):
    ends = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=10)
    application = await make_application(
        status=Status.APPROVED, decided_at=NOW, decision_text="Approved.",
        permission_expires_at=ends, time_zone="Asia/Kolkata")
    text = _text(await _page(client, settings, application))
    local = ends + timedelta(hours=5, minutes=30)
    assert f"valid until {local.strftime('%-d %B %Y, %H:%M')} IST" in text
    assert "We will remind you two days before it ends" in text
    await Application.filter(id=application.id).update(
        permission_used_at=datetime(2026, 12, 7, 4, 0, tzinfo=UTC))
    text = _text(await _page(client, settings, application))
    assert "You used this permission on 7 December 2026, 09:30 IST." in text
    await Application.filter(id=application.id).update(
        permission_used_at=None, permission_expires_at=datetime.now(UTC) - HOUR)
    text = _text(await _page(client, settings, application))
    assert "This permission ended on" in text and "without being used" in text


async def test_internal_notes_never_reach_the_history(client, settings):
    application = await make_application()
    await Event.create(application=application, actor="reviewer:1", type="note",
                       message="Receipt looks edited", internal=True)
    assert "Receipt looks edited" not in await _page(client, settings, application)


async def test_the_desk_keeps_utc(desk, settings):
    """The reviewer's pages keep the desk's one clock: an applicant's zone changes only
    what the applicant reads."""
    application = await make_application(time_zone="Asia/Kolkata",
                                         due_at=datetime(2026, 12, 9, 5, 10, tzinfo=UTC))
    reviewer = await desk.reviewer("Ann")
    page = await reviewer.get(f"/review/applications/{application.reference}")
    assert page.status_code == 200
    assert "UTC" in page.text
