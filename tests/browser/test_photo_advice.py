"""An applicant whose receipt photo is blurred is told so at once, in words, with how to
take a better one, and may send it anyway (issue 26)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from support.config import Settings
from support.data.models import Application, Document
from tests import photo_corpus
from tests.browser.conftest import PHONE, Recorder
from tests.browser.test_journeys import fill_unlock
from tests.conftest import UNLOCK

pytestmark = pytest.mark.browser


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(photo_advice=True)


@pytest.fixture
def blurred_receipt(tmp_path: Path) -> Path:
    path = tmp_path / "receipt-blurred.jpg"
    path.write_bytes(photo_corpus.sample("blurred"))
    return path


async def test_a_blurred_receipt_is_explained_and_can_be_sent_anyway(
    new_context, live, blurred_receipt, recorder: Recorder
):
    context = await new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await page.goto(f"{live}/apply/unlock")
    await fill_unlock(page, blurred_receipt)
    await page.locator("form button[type=submit]").last.click()

    advice = page.locator("#receipt-advice")
    await expect(advice).to_contain_text("The photo is blurred.")
    await expect(advice).to_contain_text("Hold the phone still")
    await expect(page.locator("#receipt-error")).to_be_visible()
    await expect(page.locator("#error-summary a[href='#receipt']")).to_be_visible()
    await expect(page.locator("#receipt")).to_have_attribute("aria-invalid", "true")
    assert await page.input_value("#reason") == UNLOCK["reason"]
    assert await page.input_value("#account_id") == UNLOCK["account_id"]
    anyway = page.get_by_label("Send this photo anyway")
    await expect(anyway).not_to_be_checked()
    await recorder.step(page, "blurred-receipt-advice")
    # Nothing runs off a phone's screen.
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]

    await page.set_input_files("#receipt", str(blurred_receipt))  # files are chosen again
    await anyway.check()
    await recorder.step(page, "send-anyway-ticked")
    await page.locator("form button[type=submit]").last.click()
    await page.wait_for_url(re.compile(r"/applications/UL-[\w-]+/verify"))
    await expect(page.locator("#code")).to_be_visible()
    await recorder.step(page, "code-page")
    application = await Application.get()
    assert await Document.filter(application=application, purpose="receipt").count() == 1
