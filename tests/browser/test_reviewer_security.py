"""Issue 19 in Debian's Chromium: a lead is invited by email, chooses a password, sets up sign-in
codes from the QR page's key, saves the recovery codes, then signs in with a code and with a
recovery code. Every page screenshotted and checked by axe-core."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.async_api import Page, expect

from support.accounts import auth
from support.data.models import AccountEvent, Reviewer
from tests.browser.conftest import DESKTOP, PHONE, Recorder
from tests.conftest import Outbox, enrol, fresh_code

pytestmark = pytest.mark.browser

PASSWORD = "violet kettle harbour lantern"


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport and width <= viewport["width"], (page.url, width)


async def sign_in_with_password(page: Page, live: str, email: str) -> None:
    await page.goto(f"{live}/review/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.locator("form[action='/review/login'] button[type=submit]").click()
    await page.wait_for_url(re.compile(r"/review/login/code"))


async def test_a_lead_is_invited_sets_up_codes_and_signs_in_with_them(
        new_context, live, outbox: Outbox, recorder: Recorder):
    # An admin (signed in, second factor set up) adds the lead from the admin page.
    admin = await Reviewer.create(email="ada@maker.example", name="Ada Admin", role="admin",
                                  password_hash="-", kinds=["unlock", "recovery", "appeal"])
    await enrol(admin)
    desk = await new_context(viewport=DESKTOP)
    await desk.add_cookies([{"name": "support_session", "value": await auth.start_session(admin),
                             "url": live}])
    admin_page = await desk.new_page()
    await admin_page.goto(f"{live}/review/admin/reviewers")
    await admin_page.fill("#email", "lena@maker.example")
    await admin_page.fill("#name", "Lena Lead")
    await admin_page.select_option("#role", "lead")
    await admin_page.get_by_role("button", name="Add reviewer and send the link").click()
    await admin_page.wait_for_url(re.compile(r"notice=invited"))
    await expect(admin_page.locator(".notice")).to_contain_text("Reviewer added")
    await recorder.step(admin_page, "admin-invited")

    # The invitation, as the file backend wrote it (var/mail/*.eml in development).
    await outbox.deliver()
    [mail] = [m for m in outbox.emails() if m["To"] == "lena@maker.example"]
    text = mail.get_body(("plain",)).get_content()
    link = re.search(r"(http://127\.0\.0\.1:\d+/review/invitation/[\w-]+)", text).group(1)

    lena = await (await new_context(viewport=PHONE, is_mobile=True, has_touch=True)).new_page()
    await lena.goto(link)
    await expect(lena.locator("h1")).to_have_text("Choose your password")
    await expect(lena.locator("#email")).to_have_value("lena@maker.example")
    await recorder.step(lena, "choose-password")
    await lena.fill("#password", PASSWORD)
    await lena.fill("#password_again", PASSWORD)
    await lena.get_by_role("button", name="Save my password").click()

    # Setting up the codes: nothing else is offered until it is done.
    await lena.wait_for_url(re.compile(r"/review/account/two-factor"))
    qr = lena.locator("figure.qr-figure svg[role=img]")
    await expect(qr).to_be_visible()
    box = await qr.bounding_box()
    assert box and box["width"] >= 200  # large enough to scan from a screen
    await expect(lena.locator("header nav")).to_have_count(0)
    await expect(lena.get_by_role("button", name="Sign out")).to_be_visible()
    await recorder.step(lena, "set-up-codes")
    await no_sideways_scroll(lena)
    secret = (await lena.locator("#totp-secret").inner_text()).strip()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    code_field = lena.locator("#code")
    assert await code_field.get_attribute("autocomplete") == "one-time-code"
    assert await code_field.get_attribute("inputmode") == "numeric"
    await code_field.fill(pyotp.TOTP(secret).now())
    await lena.get_by_role("button", name="Turn on sign-in codes").click()

    await expect(lena.locator("h1")).to_have_text("Save your recovery codes")
    codes = [c.strip() for c in await lena.locator("#recovery-codes code").all_inner_texts()]
    assert len(codes) == 10
    await recorder.step(lena, "recovery-codes")
    await no_sideways_scroll(lena)
    await lena.get_by_role("link", name="I have saved them: continue").click()
    await lena.wait_for_url(re.compile(r"/review/queue"))
    await recorder.step(lena, "queue")

    # Signing out, then in: the password, then a code from the app.
    await lena.get_by_role("button", name="Sign out").click()
    await lena.wait_for_url(re.compile(r"/review/login$"))
    reviewer = await Reviewer.get(email="lena@maker.example")
    await sign_in_with_password(lena, live, "lena@maker.example")
    await expect(lena.locator("#code")).to_have_attribute("autocomplete", "one-time-code")
    await recorder.step(lena, "code-step")
    await lena.fill("#code", await fresh_code(reviewer))
    await lena.get_by_role("button", name="Sign in", exact=True).click()
    await lena.wait_for_url(re.compile(r"/review/queue"))

    # And with a recovery code instead: once.
    await lena.get_by_role("button", name="Sign out").click()
    await lena.wait_for_url(re.compile(r"/review/login$"))
    await sign_in_with_password(lena, live, "lena@maker.example")
    await lena.locator("details.recovery summary").click()
    await lena.fill("#recovery_code", codes[0].upper())
    await recorder.step(lena, "recovery-code-step")
    await lena.get_by_role("button", name="Sign in with a recovery code").click()
    await lena.wait_for_url(re.compile(r"/review/account\?notice=recovery-code-used"))
    await expect(lena.locator("#codes-left")).to_have_text("9")
    await expect(lena.locator("table.sessions tbody tr")).to_have_count(1)
    await expect(lena.locator("table.sessions")).to_contain_text("this browser")
    await recorder.step(lena, "account")
    await no_sideways_scroll(lena)

    # The admin reads it all in the audit.
    await admin_page.goto(f"{live}/review/admin/audit")
    accounts = admin_page.locator("table.accounts")
    for what in ("Invited", "Password set", "Second factor set up",
                 "Signed in with a recovery code"):
        await expect(accounts).to_contain_text(what)
    await recorder.step(admin_page, "audit")
    assert await AccountEvent.filter(reviewer=reviewer).count() == 4
