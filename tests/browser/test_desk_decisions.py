"""A decision says one thing, in the applicant's language, in Chromium: the reason brings its
text, a canned text goes in with one click, and a Hindi applicant reads their refusal in
Hindi from heading to body on their status page, in their email and in their SMS. Without
JavaScript the server holds the same line."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from support.data.models import Application, Status
from tests.browser.conftest import PHONE
from tests.browser.test_journeys import DEVANAGARI, apply_for_unlock, receipt, sign_in, take_next
from tests.test_decision_texts import _default

pytestmark = pytest.mark.browser
__all__ = ["receipt"]  # the fixture, used by name

LATIN_WORD = re.compile(r"\b[A-Za-z]{3,}\b")


def _text(reason: str, lang: str) -> str:
    default = _default("unlock", "reject", reason)
    return default["body"] if lang == "en" else default["translations"][lang]


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
