"""A decision says one thing, in the applicant's language: the reason and its text go
together, the text starts in the applicant's language, a changed application is never
decided blind, and the form never stands empty without saying why."""

from __future__ import annotations

import html
import re

from support import workflow
from support.data.models import Application, CannedResponse, Event, Notification, Status
from support.notify.render import render_email, render_sms
from support.rules.responses import DEFAULTS
from support.workflow import responses
from tests.factories import make_application, page_version


def _default(kind: str, action: str, reason: str | None = None) -> dict:
    return next(d for d in DEFAULTS if (d["kind"], d["action"]) == (kind, action)
                and (reason is None or d["reason_code"] == reason))


def _textarea(page: str, action: str) -> str:
    found = re.search(rf'<textarea id="message-{action}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, f"no message box for {action}"
    return html.unescape(found.group(1)).strip()


def _selected_reason(page: str) -> str:
    select = re.search(r'<select id="reason-reject".*?</select>', page, re.S)
    assert select
    chosen = re.search(r'<option value="([a-z_]+)" selected>', select.group(0))
    assert chosen
    return chosen.group(1)


async def _claimed(desk, **fields):
    application = await make_application(**fields)
    ann = await desk.reviewer("Ann")
    claimed = await ann.post(f"/review/applications/{application.reference}/claim")
    assert claimed.status_code == 303
    return ann, application


async def test_the_forms_start_in_the_applicants_language_with_english_beside(desk):
    ann, application = await _claimed(desk, locale="hi")
    page = (await ann.get(f"/review/applications/{application.reference}")).text
    reason = _selected_reason(page)
    refusal = _default("unlock", "reject", reason)
    assert _textarea(page, "reject") == refusal["translations"]["hi"]
    assert html.escape(refusal["body"], quote=False) in page  # the English, for the reviewer
    assert _textarea(page, "approve") == _default("unlock", "approve")["translations"]["hi"]
    assert "The applicant reads <strong>Hindi</strong>" in page
    assert 'lang="hi"' in page
    # No internal code shows as the reason's label: the options are words.
    assert ">account_too_new" not in page and "account_too_new:" not in page


async def test_an_english_applicant_gets_english_and_no_translation_note(desk):
    ann, application = await _claimed(desk, locale="en")
    page = (await ann.get(f"/review/applications/{application.reference}")).text
    reason = _selected_reason(page)
    assert _textarea(page, "reject") == _default("unlock", "reject", reason)["body"]
    assert "The applicant reads" not in page


async def test_another_reasons_untouched_text_is_sent_back_with_the_reasons_own(desk, outbox):
    """The bug the issue names: reason "stable_firmware" sent with the text of
    "account_too_new" would put one heading over another body."""
    ann, application = await _claimed(desk, locale="hi")
    too_new = _default("unlock", "reject", "account_too_new")
    stable = _default("unlock", "reject", "stable_firmware")
    answer = await ann.post(f"/review/applications/{application.reference}/decide", {
        "seen": await page_version(application.reference),
        "action": "reject", "reason_code": "stable_firmware",
        "message": too_new["translations"]["hi"] + "\r\n",
    })
    assert answer.status_code == 422
    assert "canned text written for another reason" in answer.text
    assert "Account too new" in answer.text  # which text it was
    assert _selected_reason(answer.text) == "stable_firmware"  # the reviewer's choice kept
    assert _textarea(answer.text, "reject") == stable["translations"]["hi"]
    assert 'id="decide-reject" open' in answer.text
    await application.refresh_from_db()
    assert application.status is Status.IN_REVIEW
    assert not await Notification.filter(template="rejected").exists()

    # The English version of another reason's text is caught the same way.
    english = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "reject", "reason_code": "stable_firmware", "message": too_new["body"],
        "seen": await page_version(application.reference)})
    assert english.status_code == 422

    # Edited words are the reviewer's own: sent as written.
    sent = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "reject", "reason_code": "stable_firmware",
        "message": stable["translations"]["hi"], "seen": await page_version(application.reference)})
    assert sent.status_code == 303
    assert sent.headers["location"].endswith("?notice=refused")
    await application.refresh_from_db()
    assert (application.status, application.decision_code) == (Status.REJECTED,
                                                                "stable_firmware")


async def test_a_hindi_refusal_is_hindi_from_heading_to_body(desk, outbox):
    ann, application = await _claimed(desk, locale="hi")
    text = _default("unlock", "reject", "stable_firmware")["translations"]["hi"]
    sent = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "reject", "reason_code": "stable_firmware", "message": text,
        "seen": await page_version(application.reference)})
    assert sent.status_code == 303
    email = await Notification.get(template="rejected", channel="email")
    sms = await Notification.get(template="rejected", channel="sms")
    assert email.locale == sms.locale == "hi"
    content = render_email(email.template, email.context, email.locale)
    assert text in content.text
    latin = re.findall(r"[A-Za-z]{4,}", content.subject + content.text.replace(text, ""))
    # Only the reference, the link and proper names may be Latin in a Hindi email.
    assert not [word for word in latin if word.lower() not in {
        "http", "https", "example", "status", "localhost", "test", "support"}
        and not word.isupper()], latin
    assert re.search(r"[\u0900-\u097F]", render_sms(sms.template, sms.context, sms.locale))


async def test_reasons_without_a_canned_text_start_empty_and_say_so_in_the_menu(desk):
    ann, application = await _claimed(desk)
    page = (await ann.get(f"/review/applications/{application.reference}")).text
    assert '<optgroup label="Write the message yourself">' in page
    answer = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "reject", "reason_code": "other", "seen": await page_version(application.reference),
        "message": _default("unlock", "reject", "stable_firmware")["body"]})
    assert answer.status_code == 422
    assert _textarea(answer.text, "reject") == ""


async def test_a_missing_language_version_is_shown_before_sending(desk):
    await responses.ensure_defaults()
    approve = await CannedResponse.get(kind="unlock", action="approve")
    approve.translations = {k: v for k, v in approve.translations.items() if k != "mr"}
    await approve.save()
    ann, application = await _claimed(desk, locale="mr")
    page = (await ann.get(f"/review/applications/{application.reference}")).text
    assert _textarea(page, "approve") == ""
    missing = re.search(r'<p class="notice warning missing-language" id="missing-approve"[^>]*>',
                        page)
    assert missing and "hidden" not in missing.group(0)
    assert "has no Marathi version yet" in page


async def test_a_canned_text_is_picked_without_javascript(desk):
    ann, application = await _claimed(desk, locale="ru")
    await responses.ensure_defaults()
    stable = await CannedResponse.get(kind="unlock", reason_code="stable_firmware")
    page = await ann.get(f"/review/applications/{application.reference}?use={stable.id}")
    assert _selected_reason(page.text) == "stable_firmware"
    assert _textarea(page.text, "reject") == stable.translations["ru"]
    assert 'id="decide-reject" open' in page.text
    # Each other text of the kind has its link; a nonsense id is just the plain page.
    assert f"?use={stable.id}#decide-reject" in (
        await ann.get(f"/review/applications/{application.reference}")).text
    assert (await ann.get(f"/review/applications/{application.reference}?use=x9")).status_code \
        == 200


async def test_a_decision_on_a_changed_application_is_refused_with_what_changed(desk):
    ann, application = await _claimed(desk)
    page = (await ann.get(f"/review/applications/{application.reference}")).text
    seen = re.search(r'name="seen" value="(\d+)"', page).group(1)
    lead = await desk.reviewer("Lena", role="lead")
    noted = await lead.post(f"/review/applications/{application.reference}/notes",
                            {"note": "The receipt's shop is closed since 2019: check it."})
    assert noted.status_code == 303
    # Ann's own note in another tab is no change to her.
    await ann.post(f"/review/applications/{application.reference}/notes", {"note": "Mine."})
    text = "Approved after checking the receipt."
    answer = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "approve", "message": text, "seen": seen})
    assert answer.status_code == 409
    assert "changed after you opened it" in answer.text
    changes = re.search(r'<ul class="changes">(.*?)</ul>', answer.text, re.S).group(1)
    assert "Lena" in changes and "closed since 2019" in changes
    assert "Mine." not in changes
    assert _textarea(answer.text, "approve") == text  # nothing lost
    await application.refresh_from_db()
    assert application.status is Status.IN_REVIEW
    fresh = re.search(r'name="seen" value="(\d+)"', answer.text).group(1)
    assert int(fresh) > int(seen)
    again = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "approve", "message": text, "seen": fresh})
    assert again.status_code == 303


async def test_a_decision_without_the_version_it_was_written_at_is_refused(desk):
    ann, application = await _claimed(desk)
    await ann.get(f"/review/applications/{application.reference}")
    lead = await desk.reviewer("Lena", role="lead")
    assert (await lead.post(f"/review/applications/{application.reference}/notes",
                            {"note": "The receipt's shop is closed since 2019."})).status_code \
        == 303
    text = "Approved after checking the receipt."
    for seen in [None, "", "x9", "-1", "99999999999"]:
        form = {"action": "approve", "message": text}
        if seen is not None:
            form["seen"] = seen
        answer = await ann.post(f"/review/applications/{application.reference}/decide", form)
        assert answer.status_code == 409, seen
        assert "did not say which version of the application" in answer.text
        assert _textarea(answer.text, "approve") == text  # nothing lost
        await application.refresh_from_db()
        assert application.status is Status.IN_REVIEW
        assert application.decided_at is None
    # The page it answers with carries the version: sent from it, the decision goes.
    fresh = re.search(r'name="seen" value="(\d+)"', answer.text).group(1)
    again = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "approve", "message": text, "seen": fresh})
    assert again.status_code == 303
    await application.refresh_from_db()
    assert application.status is Status.APPROVED


async def test_asking_says_until_when_and_remembers_who_asked(desk):
    ann, application = await _claimed(desk)
    asked = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "request_info", "items": ["receipt", "box_photo"], "message": "Please.",
        "seen": await page_version(application.reference)})
    assert asked.headers["location"].endswith("?notice=asked")
    await application.refresh_from_db()
    assert application.asked_by_id == ann.reviewer.id
    page = (await ann.get(asked.headers["location"])).text
    assert "Decision sent" not in page
    assert "Request sent. Waiting for the applicant until" in page
    assert "you asked for a readable purchase receipt; a photo of the phone" in page


async def test_the_actions_area_always_says_where_the_application_stands(desk):
    cases = {
        Status.SUBMITTED: "Waiting for the applicant to confirm",
        Status.QUEUED: "Waiting for a reviewer. Claim it to decide.",
        Status.WITHDRAWN: "Withdrawn by the applicant",
        Status.EXPIRED: "Expired: the applicant did not answer",
    }
    ann = await desk.reviewer("Ann")
    for status, words in cases.items():
        application = await make_application(status=status)
        page = (await ann.get(f"/review/applications/{application.reference}")).text
        standing = re.search(r'<p class="standing" id="standing">(.*?)</p>', page, re.S)
        assert standing and words in standing.group(1), (status, standing)
    bob = await desk.reviewer("Bob")
    taken = await make_application()
    await bob.post(f"/review/applications/{taken.reference}/claim")
    page = (await ann.get(f"/review/applications/{taken.reference}")).text
    assert "Bob is reviewing this application since" in page
    assert 'id="take-next"' in page  # there is always a way on


async def test_admins_edit_every_language_side_by_side(desk):
    admin = await desk.reviewer("Ada", role="admin")
    await responses.ensure_defaults()
    row = await CannedResponse.get(kind="unlock", action="approve")
    page = (await admin.get("/review/admin/responses")).text
    for label in ("English", "Hindi", "Marathi", "Russian"):
        assert f"r{row.id}-body-" in page and label in page
    saved = await admin.post(f"/review/admin/responses/{row.id}", {
        "kind": "unlock", "action": "approve", "reason_code": "", "title": row.title,
        "active": "1", "body": "Approved.", "body_hi": "स्वीकृत।", "body_mr": "",
        "body_ru": "Одобрено."})
    assert saved.status_code == 303
    await row.refresh_from_db()
    assert row.body == "Approved."
    assert row.translations == {"hi": "स्वीकृत।", "ru": "Одобрено."}
    listing = (await admin.get("/review/admin/responses")).text
    assert "no Marathi version" in listing
    # English is the one a reviewer can always read: it may not be left out.
    refused = await admin.post(f"/review/admin/responses/{row.id}", {
        "kind": "unlock", "action": "approve", "title": row.title, "active": "1",
        "body": "", "body_hi": "स्वीकृत।"})
    assert refused.status_code == 422
    assert "स्वीकृत।" in refused.text  # what was typed is kept


async def test_every_seeded_text_ships_in_every_language():
    for default in DEFAULTS:
        assert set(default["translations"]) == {"hi", "mr", "ru"}, default["title"]
        assert all(text.strip() for text in default["translations"].values())


async def test_a_desk_seeded_before_translations_gets_them_where_it_never_edited(tmp_path):
    from tortoise import Tortoise, connections
    from tortoise.migrations.api.migrate import migrate as migrate_api

    from support.data.db import tortoise_config
    from tests.conftest import empty_database

    old_appeal = ("We looked again and cannot permit unlocking this phone. The reason is "
                  "explained below.")
    seeded = _default("unlock", "approve")
    async with empty_database("canned", tmp_path) as url:
        config = tortoise_config(url)
        try:
            await migrate_api(config=config, target="models.0012_busy_desk")
            db = connections.get("default")
            for kind, action, reason, body in [
                ("unlock", "approve", None, seeded["body"]),
                ("unlock", "reject", "stable_firmware", "Our own words, edited by an admin."),
                ("appeal", "reject", "reason_insufficient", old_appeal),
            ]:
                code = f"'{reason}'" if reason else "NULL"
                await db.execute_query(
                    "INSERT INTO canned_response (kind, action, reason_code, title, body, "
                    f"active, created_at) VALUES ('{kind}', '{action}', {code}, 'T', '{body}', "
                    "TRUE, CURRENT_TIMESTAMP)")
            await migrate_api(config=config)
            rows = {(r["kind"], r["action"]): r for r in await db.execute_query_dict(
                "SELECT kind, action, body, translations FROM canned_response")}
        finally:
            await Tortoise.close_connections()
    import json

    def translations(row):
        value = row["translations"]
        return json.loads(value) if isinstance(value, str) else value

    assert translations(rows[("unlock", "approve")]) == seeded["translations"]
    assert translations(rows[("unlock", "reject")]) == {}
    assert rows[("unlock", "reject")]["body"] == "Our own words, edited by an admin."
    appeal = _default("appeal", "reject")
    assert rows[("appeal", "reject")]["body"] == appeal["body"]
    assert translations(rows[("appeal", "reject")]) == appeal["translations"]


async def test_seen_is_checked_only_when_sent(desk):
    """Callers without a page (scripts, the tests' own set-ups) decide through the workflow
    without a version; the desk's form never does (the test above)."""
    ann, application = await _claimed(desk)
    await Event.create(application=application, actor="system", type="note", message="x",
                       internal=True)
    await workflow.decide(await Application.get(id=application.id),
                          workflow.reviewer_actor(ann.reviewer),
                          workflow.Decision(action="approve", text="Approved."))
    assert (await Application.get(id=application.id)).status is Status.APPROVED


async def test_held_for_another_reviewer_offers_no_claim_that_would_fail(desk):
    from datetime import UTC, datetime, timedelta

    ann, bob = await desk.reviewer("Ann"), await desk.reviewer("Bob")
    application = await make_application(held_for_id=ann.reviewer.id,
                                         held_until=datetime.now(UTC) + timedelta(hours=20))
    page = (await bob.get(f"/review/applications/{application.reference}")).text
    assert "held for them until" in page and "Ann" in page
    assert 'id="claim-form"' not in page
    mine = (await ann.get(f"/review/applications/{application.reference}")).text
    assert 'id="claim-form"' in mine and "it is held for you" in mine
