"""The desk by keyboard in Chromium: rows chosen with j and k and opened with Enter, an
approval with its canned text in three keys from the queue (t, a, Enter), the reject and
request-information forms opened at their first field, the note, the cheat sheet with ?
(and its button; Esc closes it), and no shortcut while typing."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from support.data.models import Application, Status
from tests.browser.test_journeys import sign_in
from tests.conftest import jpeg_bytes
from tests.factories import make_application
from tests.test_authz_matrix import attach
from tests.test_decision_texts import _default

pytestmark = pytest.mark.browser


async def focused(page: Page) -> str:
    """The focused element as tag#id.class (enough to tell which field has it)."""
    return await page.evaluate("""() => {
        const el = document.activeElement;
        return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
            (el.className ? '.' + String(el.className).split(' ').join('.') : '');
    }""")


async def test_approve_from_the_queue_with_three_keys(new_context, live, settings, recorder):
    from datetime import UTC, datetime, timedelta
    now = datetime.now(UTC)
    first = await make_application(due_at=now + timedelta(hours=1))
    second = await make_application(due_at=now + timedelta(hours=2))
    await attach(settings, first, jpeg_bytes((900, 600)), name="receipt.jpg")
    page = await sign_in(new_context, live, recorder, "Kiran")

    # Rows: j and k move, Enter opens.
    await page.keyboard.press("j")
    rows = page.locator("table.queue tbody tr")
    await expect(rows.nth(0)).to_have_class(re.compile(r"\bis-current\b"))
    await page.keyboard.press("j")
    await expect(rows.nth(1)).to_have_class(re.compile(r"\bis-current\b"))
    await expect(rows.nth(0)).not_to_have_class(re.compile(r"\bis-current\b"))
    await page.keyboard.press("k")
    await expect(rows.nth(0)).to_have_class(re.compile(r"\bis-current\b"))
    await recorder.step(page, "row-chosen")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(rf"/review/applications/{first.reference}$"))
    await page.keyboard.press("u")
    await page.wait_for_url(re.compile(r"/review/queue"))

    # Take the next, approve with the canned text: three keys, nothing else.
    await page.keyboard.press("t")
    await page.wait_for_url(re.compile(rf"/review/applications/{first.reference}"))
    await expect(page.locator("#viewer-status")).to_contain_text("receipt.jpg")
    await page.keyboard.press("a")
    await expect(page.locator("details#decide-approve")).to_have_attribute("open", "")
    assert "decide-submit" in await focused(page)
    await recorder.step(page, "approve-ready")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(rf"/review/applications/{first.reference}\?"))
    await recorder.step(page, "approved")
    decided = await Application.get(id=first.id)
    assert decided.status == Status.APPROVED
    assert decided.decision_text  # the canned text went out, in the applicant's language
    assert decided.decision_text == _default(decided.kind, "approve")["translations"].get(
        decided.locale, _default(decided.kind, "approve")["body"])
    assert (await Application.get(id=second.id)).status == Status.QUEUED


async def test_forms_note_and_cheat_sheet_by_keyboard(new_context, live, settings, recorder):
    application = await make_application()
    await attach(settings, application, jpeg_bytes(), name="receipt.jpg")
    page = await sign_in(new_context, live, recorder, "Lina")
    await page.keyboard.press("t")
    await page.wait_for_url(re.compile(rf"/review/applications/{application.reference}"))

    await page.keyboard.press("r")
    await expect(page.locator("details#decide-reject")).to_have_attribute("open", "")
    await expect(page.locator("details#decide-approve")).not_to_have_attribute("open", "")
    assert (await focused(page)).startswith("select#reason-reject")
    await page.keyboard.press("Escape")  # leaves the field, so keys work again
    await page.keyboard.press("i")
    await expect(page.locator("details#decide-request_info")).to_have_attribute("open", "")
    first_box = page.locator("details#decide-request_info input[type=checkbox]").first
    await expect(first_box).to_be_focused()
    await recorder.step(page, "request-information-ready")

    # The note: typing there types, whatever the letters.
    await page.keyboard.press("n")
    await expect(page.locator("textarea#note")).to_be_focused()
    await page.keyboard.type("a receipt to check; rotate it")
    await expect(page.locator("textarea#note")).to_have_value("a receipt to check; rotate it")
    await expect(page.locator("#viewer-status")).not_to_contain_text("turned")
    await expect(page.locator("details#decide-approve")).not_to_have_attribute("open", "")
    await page.keyboard.press("Escape")

    # Ctrl held: the browser's, not ours.
    await page.keyboard.press("Control+e")
    await expect(page.locator("#viewer-status")).not_to_contain_text("turned")

    # The cheat sheet: ?, Esc, and its button.
    sheet = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(sheet).to_be_hidden()
    await page.keyboard.press("?")
    await expect(sheet).to_be_visible()
    for key in ("j / k", "t", "a", "r", "i", "n", "+ / -", "e / Shift+E", "f", "?"):
        await expect(sheet.locator("dt", has_text=key).first).to_be_visible()
    await recorder.step(page, "cheat-sheet")
    await page.keyboard.press("a")  # the dialog holds the keys while open
    await expect(page.locator("details#decide-request_info")).to_have_attribute("open", "")
    await page.keyboard.press("Escape")
    await expect(sheet).to_be_hidden()
    button = page.get_by_role("button", name="Keyboard shortcuts")
    await button.click()
    await expect(sheet).to_be_visible()
    await sheet.get_by_role("button", name="Close").click()
    await expect(sheet).to_be_hidden()
    await expect(button).to_be_focused()  # focus goes back where it was
