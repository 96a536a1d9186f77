"""The desk by keyboard in Chromium: rows chosen with j and k and opened with Enter, an
approval with its canned text in three keys from the queue (t, a, Enter), the reject and
request-information forms opened at their first field, the note, the cheat sheet with ?
(and its button; Esc closes it), and no shortcut while typing."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from support.accounts.passwords import hash_password
from support.data.models import Application, Reviewer, Status
from tests.browser.test_journeys import PASSWORD, sign_in
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


# Every other browser test bypasses the CSP (axe-core is injected as a script); this one
# keeps it, and each violation the browser reports reaches the test.
REPORT_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => window.cspViolation(
    e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' +
    e.sourceFile + ':' + e.lineNumber));
"""


async def test_the_desk_by_keyboard_under_its_real_content_security_policy(
        new_context, live, settings, recorder):
    application = await make_application(locale="hi")
    await attach(settings, application, jpeg_bytes((1200, 800)), name="receipt.jpg")
    await attach(settings, application, jpeg_bytes((600, 900)), name="box.jpg")
    await Reviewer.create(email="csp@maker.example", name="Chitra", role="reviewer",
                          password_hash=hash_password(PASSWORD),
                          kinds=["unlock", "recovery", "appeal"], countries=[])
    context = await new_context(bypass_csp=False)
    violations: list[str] = []
    await context.expose_function("cspViolation", lambda text: violations.append(text))
    await context.add_init_script(REPORT_VIOLATIONS)
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    answer = await page.goto(f"{live}/review/queue")
    assert answer and "script-src 'self'" in answer.headers["content-security-policy"]
    await page.fill("#email", "csp@maker.example")
    await page.fill("#password", PASSWORD)
    await page.locator("button[type=submit]").click()
    await page.wait_for_url(re.compile(r"/review/queue"))

    # The queue's keys: a row chosen with j, the next application taken with t.
    await page.keyboard.press("j")
    await expect(page.locator("table.queue tbody tr").first).to_have_class(
        re.compile(r"\bis-current\b"))
    await page.keyboard.press("t")
    await page.wait_for_url(re.compile(rf"/review/applications/{application.reference}"))

    # The viewer: zoomed in by keyboard, then the next document.
    status = page.locator("#viewer-status")
    await expect(status).to_contain_text("receipt.jpg · document 1 of 2")
    await page.wait_for_function(
        "() => document.querySelector('#viewer-stage img')?.naturalWidth > 0")
    before = int(re.search(r"(\d+)%", await status.inner_text()).group(1))
    await page.keyboard.press("+")
    await expect(status).not_to_contain_text(f"{before}%")
    assert int(re.search(r"(\d+)%", await status.inner_text()).group(1)) > before
    await page.keyboard.press("j")
    await expect(status).to_contain_text("box.jpg · document 2 of 2")

    # The decision form follows the reason (decide.js), in the applicant's language.
    await page.keyboard.press("r")
    await expect(page.locator("details#decide-reject")).to_have_attribute("open", "")
    await page.select_option("#reason-reject", "stable_firmware")
    await expect(page.locator("#message-reject")).to_have_value(
        _default("unlock", "reject", "stable_firmware")["translations"]["hi"])
    await page.keyboard.press("Escape")

    # The cheat sheet with ?, closed with Esc; the presence poll has asked at least once.
    sheet = page.get_by_role("dialog", name="Keyboard shortcuts")
    await page.keyboard.press("?")
    await expect(sheet).to_be_visible()
    await recorder.step(page, "cheat-sheet-under-the-csp", axe=False)
    await page.keyboard.press("Escape")
    await expect(sheet).to_be_hidden()
    async with page.expect_response(re.compile(r"/presence\?since="), timeout=10_000):
        pass

    reported = [text for text in console if "Content Security Policy" in text]
    assert not violations and not reported, (violations, reported)
    assert not errors, errors
