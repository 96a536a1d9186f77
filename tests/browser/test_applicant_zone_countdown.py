"""The time zone field and the wait for a new code, in Debian's Chromium on a phone.

The zone field follows the country chosen (static/applicant/zone.js): Russia shows its
zones with the browser's own chosen, India hides it. The verify page's "Send a new code"
waits out the server's seconds, counting down beside the button, and enables itself
(static/applicant/countdown.js). axe-core checks each page as the user sees it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from support.config import Settings
from support.data.models import Application, Status
from tests.browser.conftest import Recorder
from tests.browser.test_journeys import fill_unlock
from tests.conftest import Outbox, jpeg_bytes

pytestmark = pytest.mark.browser

SMALL_PHONE = {"width": 360, "height": 740}
WAIT = 4  # seconds before a new code may be asked for, short enough to watch


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(code_resend_after_seconds=WAIT)


@pytest.fixture
def receipt(tmp_path: Path) -> Path:
    path = tmp_path / "receipt.jpg"
    path.write_bytes(jpeg_bytes((800, 600)))
    return path


async def phone_page(new_context, lang: str = "en") -> Page:
    context = await new_context(viewport=SMALL_PHONE, is_mobile=True, has_touch=True,
                                timezone_id="Asia/Novosibirsk", locale=lang)
    return await context.new_page()


async def no_sideways_scroll(page: Page) -> None:
    assert await page.evaluate("() => document.documentElement.scrollWidth") \
        <= SMALL_PHONE["width"]


async def test_the_zone_field_follows_the_country(
    new_context, live: str, receipt: Path, outbox: Outbox, recorder: Recorder,
) -> None:
    page = await phone_page(new_context)
    await page.goto(f"{live}/apply/unlock")
    zone = page.locator("#time_zone")
    await expect(zone).to_be_hidden()
    await recorder.step(page, "form")

    await page.select_option("#country", "RU")
    await expect(zone).to_be_visible()
    await expect(zone).to_be_enabled()
    assert await zone.input_value() == "Asia/Novosibirsk"  # the browser's own zone
    await expect(zone.locator("option:checked")).to_have_text("Novosibirsk (MSK+4, UTC+7)")
    assert await zone.locator("option").count() > 10
    await no_sideways_scroll(page)
    await recorder.step(page, "russia-zone-shown")

    await page.select_option("#country", "IN")
    await expect(zone).to_be_hidden()
    await expect(zone).to_be_disabled()  # not sent
    await recorder.step(page, "india-zone-hidden")

    # Russia again, and the form goes through with the zone the browser chose.
    await fill_unlock(page, receipt, country="RU", phone="+7 912 345-67-89")
    await expect(zone).to_be_visible()
    await page.select_option("#time_zone", "Asia/Vladivostok")
    await page.locator("form button[type=submit]").last.click()
    await page.wait_for_url(re.compile(r"/applications/UL-[\w-]+/verify"))
    application = await Application.get()
    assert (application.country, application.time_zone) == ("RU", "Asia/Vladivostok")
    assert application.status is Status.SUBMITTED


async def test_the_zone_field_in_russian(new_context, live: str, recorder: Recorder) -> None:
    page = await phone_page(new_context, "ru")
    await page.goto(f"{live}/apply/unlock?lang=ru")
    await page.select_option("#country", "RU")
    zone = page.locator("#time_zone")
    await expect(zone.locator("option:checked")).to_have_text("Новосибирск (МСК+4, UTC+7)")
    await expect(page.locator("label[for=time_zone]")).to_have_text("Ваш часовой пояс")
    await no_sideways_scroll(page)
    await recorder.step(page, "russia-zone-in-russian")


async def test_the_new_code_button_waits_and_enables_itself(
    new_context, live: str, receipt: Path, outbox: Outbox, recorder: Recorder,
) -> None:
    page = await phone_page(new_context)
    await page.goto(f"{live}/apply/unlock")
    await fill_unlock(page, receipt)
    await page.locator("form button[type=submit]").last.click()
    await page.wait_for_url(re.compile(r"/applications/UL-[\w-]+/verify"))

    button = page.locator("#resend")
    shown = page.locator("#resend-countdown")
    await expect(button).to_be_disabled()
    await expect(shown).to_have_text(re.compile(r"^You can ask for a new code in 0:0[1-4]\.$"))
    first = await shown.inner_text()
    # Announced once as the wait starts, not at every second.
    await expect(page.locator("#resend-status")).to_have_text(
        re.compile(r"^You can ask for a new code in 0:0[1-4]\.$"))
    announced = await page.locator("#resend-status").inner_text()
    await no_sideways_scroll(page)
    await recorder.step(page, "verify-waiting")

    await expect(shown).not_to_have_text(first, timeout=3_000)  # it counts
    assert await page.locator("#resend-status").inner_text() == announced
    await expect(button).to_be_enabled(timeout=(WAIT + 3) * 1000)
    await expect(shown).to_have_text("You can ask for a new code now.")
    await expect(page.locator("#resend-status")).to_have_text("You can ask for a new code now.")
    await recorder.step(page, "verify-ready")

    # A new code starts the wait again.
    await button.click()
    await expect(page.locator(".notice")).to_have_text("We have sent you a new code.")
    await expect(page.locator("#resend")).to_be_disabled()
    await expect(page.locator("#resend-countdown")).to_have_text(
        re.compile(r"^You can ask for a new code in 0:0[1-4]\.$"))
    await recorder.step(page, "verify-new-code-waiting")
    await outbox.deliver()
    codes = [m for m in outbox.sms() if re.search(r"(?<!\d)\d{6}(?!\d)", m["text"])]
    assert len(codes) == 2, [m["text"] for m in outbox.sms()]


async def test_without_the_script_the_server_says_the_wait(
    new_context, live: str, receipt: Path, recorder: Recorder,
) -> None:
    page = await phone_page(new_context)
    await page.goto(f"{live}/apply/unlock")
    await fill_unlock(page, receipt)
    await page.locator("form button[type=submit]").last.click()
    await page.wait_for_url(re.compile(r"/applications/UL-[\w-]+/verify"))
    verify_url = page.url

    # No script: the button is there to press, and the server's refusal says the wait.
    quiet = await new_context(viewport=SMALL_PHONE, java_script_enabled=False)
    await quiet.add_cookies(await page.context.cookies())
    plain = await quiet.new_page()
    await plain.goto(verify_url)
    await expect(plain.locator("#resend")).to_be_enabled()
    await expect(plain.locator("#resend-countdown")).to_be_hidden()
    await plain.locator("#resend").click()
    wait_said = re.compile(r"Please wait [1-4] seconds? before asking for a new code\.")
    await expect(plain.locator("#resend-error")).to_have_text(wait_said)
    await expect(plain.locator("#code")).not_to_have_attribute("aria-invalid", "true")
    await recorder.step(plain, "verify-refused-without-script", axe=False)

    # The same refusal where axe can run: the button forced early in the scripted page.
    await page.evaluate("() => { document.getElementById('resend').disabled = false; }")
    await page.locator("#resend").click()
    await expect(page.locator("#resend-error")).to_have_text(wait_said)
    await expect(page.locator("#resend")).to_be_disabled()  # and the countdown runs again
    await recorder.step(page, "verify-refused")
