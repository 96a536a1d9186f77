"""The wait for a new code on the verify page (static/applicant/countdown.js counts it down
in a browser: tests/browser/test_applicant_zone_countdown.py).

The page carries the seconds left since the last code was sent; a new code asked for too
early is refused beside its button, the wait said in words with the language's plurals.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from support.config import Settings
from support.data.models import Application, Verification
from tests.conftest import UNLOCK, Applicant
from tests.test_apply import Page


async def submitted(applicant: Applicant) -> str:
    response = await applicant.submit("unlock", UNLOCK)
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


async def sent_ago(seconds: float) -> None:
    """The last code was sent ``seconds`` ago."""
    application = await Application.get()
    await Verification.filter(application=application).update(
        last_sent_at=datetime.now(UTC) - timedelta(seconds=seconds))


def countdown(page: Page) -> int:
    return int(page.by_id("resend-countdown").get("data-seconds"))


async def wait_left(settings: Settings, left: int) -> None:
    """So that the server's wait comes to ``left`` whole seconds (half a second to spare)."""
    await sent_ago(settings.code_resend_after_seconds - left + 0.5)


async def test_the_verify_page_carries_the_seconds_left(
    applicant: Applicant, client: httpx2.AsyncClient, settings: Settings,
) -> None:
    verify_path = await submitted(applicant)
    page = Page((await client.get(verify_path)).text)
    assert settings.code_resend_after_seconds - 5 <= countdown(page) \
        <= settings.code_resend_after_seconds
    shown = page.by_id("resend-countdown")
    assert shown.has("hidden")  # the script shows it; without it the button just works
    assert shown.get("data-waiting") == "You can ask for a new code in {time}."
    assert shown.get("data-ready") == "You can ask for a new code now."
    assert page.by_id("resend-status").get("aria-live") == "polite"
    assert not page.by_id("resend").has("disabled")
    assert [s.get("src") for s in page.find("script") if s.get("src")] \
        == ["/static/applicant/countdown.js"]

    await sent_ago(20)
    assert countdown(Page((await client.get(verify_path)).text)) \
        == settings.code_resend_after_seconds - 20
    await sent_ago(settings.code_resend_after_seconds + 1)
    assert countdown(Page((await client.get(verify_path)).text)) == 0


async def test_a_new_code_starts_the_wait_again(
    applicant: Applicant, settings: Settings,
) -> None:
    verify_path = await submitted(applicant)
    await sent_ago(settings.code_resend_after_seconds + 1)
    response = await applicant.post_form(verify_path + "/resend", {})
    assert response.status_code == 200, response.text
    page = Page(response.text)
    assert "We have sent you a new code." in page.by_id("main").text
    assert countdown(page) >= settings.code_resend_after_seconds - 5


async def test_too_early_is_said_beside_the_button_not_under_the_code(
    applicant: Applicant, settings: Settings,
) -> None:
    verify_path = await submitted(applicant)
    await wait_left(settings, 40)
    response = await applicant.post_form(verify_path + "/resend", {})
    assert response.status_code == 429
    page = Page(response.text)
    refusal = page.by_id("resend-error")
    assert refusal.get("role") == "alert"
    assert "Please wait 40 seconds before asking for a new code." in " ".join(refusal.text.split())
    assert "resend-error" in page.by_id("resend").get("aria-describedby").split()
    # Beside the button, in its form; the code's field is not marked wrong.
    resend_form = page.find("form", action=verify_path + "/resend")[0]
    assert refusal in resend_form.children
    assert not page.find(id="code-error") and not page.by_id("code").has("aria-invalid")
    assert countdown(page) == 40  # and the script counts it down from there

    await wait_left(settings, 1)
    page = Page((await applicant.post_form(verify_path + "/resend", {})).text)
    assert "Please wait 1 second before" in " ".join(page.by_id("resend-error").text.split())


@pytest.mark.parametrize(("lang", "waits"), [
    # Russian's three forms: 1 секунду, 22 секунды, 45 секунд (11 is "many", as 45).
    ("ru", {1: "Подождите 1 секунду,", 22: "Подождите 22 секунды,", 45: "Подождите 45 секунд,",
            11: "Подождите 11 секунд,"}),
    ("hi", {1: "1 सेकंड रुकें", 45: "45 सेकंड रुकें"}),
])
async def test_too_early_is_said_in_words_in_the_applicants_language(
    applicant: Applicant, client: httpx2.AsyncClient, settings: Settings, lang: str,
    waits: dict[int, str],
) -> None:
    client.cookies.set("support_lang", lang)
    verify_path = await submitted(applicant)
    for left, words in waits.items():
        await wait_left(settings, left)
        response = await applicant.post_form(verify_path + "/resend", {})
        assert response.status_code == 429
        said = " ".join(Page(response.text).by_id("resend-error").text.split())
        assert words in said, (left, said)
        assert "seconds" not in said and "second " not in said
