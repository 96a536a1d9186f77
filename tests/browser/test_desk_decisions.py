"""A decision says one thing, in the applicant's language, in Chromium: the reason brings its
text, a canned text goes in with one click, and a Hindi applicant reads their refusal in
Hindi from heading to body on their status page, in their email and in their SMS. Without
JavaScript the server holds the same line. A decision on an application that changed after
the reviewer opened it is refused with what changed; a canned text missing in the
applicant's language is said before sending; a request for information says until when
the applicant may answer."""

from __future__ import annotations

import html
import re

import pytest
from playwright.async_api import expect

from support import workflow
from support.data.models import Application, CannedResponse, Reviewer, Status
from support.platform.formatting import format_when
from support.rules.kinds import KINDS
from support.workflow import responses
from tests.browser.conftest import PHONE
from tests.browser.test_journeys import DEVANAGARI, apply_for_unlock, receipt, sign_in, take_next
from tests.factories import make_application
from tests.test_decision_texts import _default

pytestmark = pytest.mark.browser
__all__ = ["receipt"]  # the fixture, used by name

LATIN_WORD = re.compile(r"\b[A-Za-z]{3,}\b")


def _text(reason: str, lang: str) -> str:
    default = _default("unlock", "reject", reason)
    return default["body"] if lang == "en" else default["translations"][lang]


async def _open_form(page, action: str):
    """The decision's form, opened (the approval's may be open already)."""
    details = page.locator(f"details#decide-{action}")
    if await details.get_attribute("open") is None:
        await details.locator("summary").click()
    await expect(details).to_have_attribute("open", "")
    return details


def _latin_words(text: str, allowed: set[str]) -> list[str]:
    """Latin words left in a text that should be Hindi: none but names and codes."""
    return [w for w in LATIN_WORD.findall(text) if w not in allowed and not w.isupper()]


async def test_a_hindi_refusal_from_heading_to_body(new_context, live, receipt, outbox,
                                                    recorder):
    applicant = await (await new_context(viewport=PHONE, is_mobile=True)).new_page()
    await applicant.goto(f"{live}/?lang=hi")
    status_url = await apply_for_unlock(applicant, live, receipt, outbox, recorder)
    ravi = await sign_in(new_context, live, recorder, "Ravi")
    reference = await take_next(ravi, recorder, "ravi")

    reject = ravi.locator("details#decide-reject")
    await reject.locator("summary").click()
    message = reject.locator("textarea[name=message]")
    first_reason = await reject.locator("select.reason-select").input_value()
    await expect(message).to_have_value(_text(first_reason, "hi"))
    await expect(ravi.locator("#language-note")).to_contain_text("Hindi")
    await recorder.step(ravi, "reject-opens-in-hindi")

    # The reason brings its own text, and the English under it follows.
    await reject.locator("select.reason-select").select_option("stable_firmware")
    await expect(message).to_have_value(_text("stable_firmware", "hi"))
    await expect(reject.locator(".english-text")).to_have_text(_text("stable_firmware", "en"))
    # The list offers the other texts, not the one now in the box.
    await expect(reject.locator("a.insert-canned", has_text="Stable firmware")).to_be_hidden()
    await expect(reject.locator("a.insert-canned", has_text="Account too new")).to_be_visible()
    await recorder.step(ravi, "reason-brings-its-text")

    # Another canned text, with one click: the reason follows it.
    await reject.locator("a.insert-canned", has_text="Reason not sufficient").click()
    await expect(message).to_have_value(_text("reason_insufficient", "hi"))
    await expect(reject.locator("select.reason-select")).to_have_value("reason_insufficient")

    # Edited words are never replaced behind the reviewer's back.
    await message.fill(_text("reason_insufficient", "hi") + " धन्यवाद।")
    await reject.locator("select.reason-select").select_option("stable_firmware")
    await expect(message).to_have_value(_text("reason_insufficient", "hi") + " धन्यवाद।")
    await expect(reject.locator(".reason-kept")).to_contain_text("your edited message was kept")
    await recorder.step(ravi, "edited-text-kept")
    await reject.locator(".reason-kept button").click()
    await expect(message).to_have_value(_text("stable_firmware", "hi"))

    await reject.locator("button.decide-submit").click()
    await ravi.wait_for_url(re.compile(r"notice=refused"))
    await expect(ravi.locator("#notice")).to_contain_text("in Hindi")
    await expect(ravi.locator("#standing")).to_contain_text("Refused by Ravi")
    await recorder.step(ravi, "refused")
    application = await Application.get(reference=reference)
    assert (application.status, application.decision_code) == (Status.REJECTED,
                                                                "stable_firmware")

    # The applicant: status page, email and SMS, Hindi from heading to body.
    await applicant.goto(status_url)
    decision = applicant.locator("section[aria-labelledby='decision-h']")
    await expect(decision).to_contain_text(_text("stable_firmware", "hi"))
    shown = await decision.inner_text()
    assert DEVANAGARI.search(shown.splitlines()[0])
    assert not _latin_words(shown, {reference}), shown
    await recorder.step(applicant, "applicant-reads-hindi")
    await outbox.deliver()
    email = outbox.emails()[-1]
    body = email.get_body(("plain",)).get_content()
    assert DEVANAGARI.search(str(email["subject"]))
    assert _text("stable_firmware", "hi") in body
    assert not _latin_words(body, {"http", "status", "testserver"} | set(
        re.findall(r"[\w-]+", status_url))), body
    # The HTML part too: its language, its title (the subject) and every paragraph.
    part = email.get_body(("html",))
    assert part is not None
    markup = part.get_content()
    assert re.search(r'<html lang="hi"', markup), markup
    title = re.search(r"<title>(.*?)</title>", markup, re.S)
    assert title and DEVANAGARI.search(title.group(1)), markup
    paragraphs = [html.unescape(re.sub(r"<[^>]+>", " ", p))
                  for p in re.findall(r"<p\b[^>]*>(.*?)</p>", markup, re.S)]
    assert paragraphs and all(DEVANAGARI.search(p) for p in paragraphs), paragraphs
    assert any(_text("stable_firmware", "hi") in p for p in paragraphs), paragraphs
    body_html = re.split(r"<body\b[^>]*>", markup, maxsplit=1)[1]
    shown_html = html.unescape(re.sub(r"<[^>]+>", " ", body_html))
    assert not _latin_words(shown_html, {"http", "status", "testserver"} | set(
        re.findall(r"[\w-]+", status_url))), shown_html
    sms = outbox.sms()[-1]["text"]
    assert DEVANAGARI.search(sms) and not _latin_words(sms, {"http", "status"} | set(
        re.findall(r"[\w-]+", live + status_url))), sms


async def test_without_javascript_a_reason_never_goes_out_over_another_reasons_text(
        new_context, live, receipt, outbox, recorder):
    applicant = await (await new_context(viewport=PHONE, is_mobile=True)).new_page()
    await apply_for_unlock(applicant, live, receipt, outbox, recorder)
    ravi = await sign_in(new_context, live, recorder, "Ravi")
    reference = await take_next(ravi, recorder, "ravi")
    cookies = await ravi.context.cookies()
    plain = await new_context(java_script_enabled=False)
    await plain.add_cookies(cookies)
    page = await plain.new_page()
    await page.goto(f"{live}/review/applications/{reference}")
    reject = page.locator("details#decide-reject")
    await reject.locator("summary").click()
    first_reason = await reject.locator("select.reason-select").input_value()
    other = "stable_firmware" if first_reason != "stable_firmware" else "account_too_new"
    await reject.locator("select.reason-select").select_option(other)
    await expect(reject.locator("textarea")).to_have_value(_text(first_reason, "en"))  # no JS
    await reject.locator("button.decide-submit").click()
    await expect(page.locator("#decision-error")).to_contain_text("another reason")
    await expect(page.locator("details#decide-reject textarea")).to_have_value(_text(other, "en"))
    await expect(page.locator("details#decide-reject select")).to_have_value(other)
    await recorder.shot(page, "sent-back-with-the-reasons-text")  # no JS: no axe here
    assert (await Application.get(reference=reference)).status is Status.IN_REVIEW
    await page.locator("details#decide-reject button.decide-submit").click()
    await page.wait_for_url(re.compile(r"notice=refused"))
    application = await Application.get(reference=reference)
    assert (application.status, application.decision_code) == (Status.REJECTED, other)


async def test_a_decision_on_an_application_that_changed_is_refused_with_what_changed(
        new_context, live, recorder):
    application = await make_application()
    ravi = await sign_in(new_context, live, recorder, "Ravi")
    assert await take_next(ravi, recorder, "ravi") == application.reference
    approve = await _open_form(ravi, "approve")
    written = "Approved: the receipt matches the account."
    await approve.locator("textarea[name=message]").fill(written)

    # Meanwhile a lead notes something Ravi has not seen.
    lena = await Reviewer.create(email="lena@maker.example", name="Lena", role="lead",
                                 password_hash="-", kinds=["unlock"], countries=[])
    await workflow.add_note(await Application.get(id=application.id), lena,
                            "The shop on this receipt closed in 2019: check the date.")

    await approve.locator("button.decide-submit").click()
    error = ravi.locator("#decision-error")
    await expect(error).to_contain_text("This application changed after you opened it")
    changes = error.locator("ul.changes")
    await expect(changes).to_contain_text("Lena")
    await expect(changes).to_contain_text("The shop on this receipt closed in 2019")
    await expect(error).to_contain_text("What you wrote is kept below")
    await expect(ravi.locator("details#decide-approve textarea[name=message]")).to_have_value(
        written)
    await recorder.step(ravi, "refused-it-changed")
    assert (await Application.get(id=application.id)).status is Status.IN_REVIEW

    # Read, then sent again from the page that shows the change: it goes.
    await ravi.locator("details#decide-approve button.decide-submit").click()
    await ravi.wait_for_url(re.compile(r"notice=approved"))
    await recorder.step(ravi, "approved-after-reading")
    decided = await Application.get(id=application.id)
    assert (decided.status, decided.decision_text) == (Status.APPROVED, written)


async def test_a_missing_language_version_is_said_before_sending(new_context, live, recorder):
    await responses.ensure_defaults()
    canned = await CannedResponse.get(kind="unlock", action="approve")
    canned.translations = {k: v for k, v in canned.translations.items() if k != "mr"}
    await canned.save()
    application = await make_application(locale="mr")
    ravi = await sign_in(new_context, live, recorder, "Ravi")
    await take_next(ravi, recorder, "ravi")
    approve = await _open_form(ravi, "approve")
    warning = approve.locator("#missing-approve")
    await expect(warning).to_be_visible()
    await expect(warning).to_contain_text("has no Marathi version yet")
    await expect(approve.locator("textarea[name=message]")).to_have_value("")
    await expect(approve.locator("label[for=message-approve]")).to_contain_text("in Marathi")
    # The other forms' texts have their Marathi versions: no warning there.
    await expect(ravi.locator("#missing-reject")).to_be_hidden()
    await recorder.step(ravi, "missing-marathi-said-before-sending")

    marathi = "तुमची विनंती मंजूर झाली आहे."
    await approve.locator("textarea[name=message]").fill(marathi)
    await approve.locator("button.decide-submit").click()
    await ravi.wait_for_url(re.compile(r"notice=approved"))
    decided = await Application.get(id=application.id)
    assert (decided.status, decided.decision_text) == (Status.APPROVED, marathi)


async def test_asking_for_information_says_until_when_the_applicant_may_answer(
        new_context, live, recorder):
    application = await make_application()
    ravi = await sign_in(new_context, live, recorder, "Ravi")
    await take_next(ravi, recorder, "ravi")
    ask = await _open_form(ravi, "request_info")
    await ask.get_by_label(re.compile("purchase receipt", re.I)).check()
    message = ask.locator("textarea[name=message]")
    if not await message.input_value():
        await message.fill("Please send a sharp photo of the purchase receipt.")
    await ask.locator("button.decide-submit").click()
    await ravi.wait_for_url(re.compile(r"notice=asked"))

    asked = await Application.get(id=application.id)
    assert asked.status is Status.NEEDS_INFO and asked.info_requested_at
    until = format_when(KINDS[asked.kind].answer_due(asked.info_requested_at))
    await expect(ravi.locator("#notice")).to_have_text(
        f"Request sent. Waiting for the applicant until {until}.")
    standing = ravi.locator("#standing")
    await expect(standing).to_contain_text(f"Waiting for the applicant until {until}")
    await expect(standing).to_contain_text("you asked for a readable purchase receipt")
    await expect(ravi.get_by_text("Decision sent")).to_have_count(0)
    await expect(ravi.locator("details#decide-approve")).to_have_count(0)  # nothing to decide
    await recorder.step(ravi, "waiting-for-the-applicant")
