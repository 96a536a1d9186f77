"""An admin changes a reviewer's queues and role in Chromium (issue 20): the reviewer's queue
follows at the next page, a wrong country code is refused with the form kept, and a
reviewer raised to lead is sent to set up sign-in codes before anything else. The canned
texts' editor: a response's four language versions side by side, one cleared (the list
says which version is missing), an English text left empty refused with what was typed
kept. axe-core checks the list, the edit pages, their notices and their refusals."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from support.data.models import AccountEvent, CannedResponse, Reviewer
from support.reads.wording import role_word
from support.web.auth import ENROL_PATH
from support.workflow import responses
from tests.browser.conftest import Recorder
from tests.browser.test_journeys import sign_in
from tests.factories import make_application

pytestmark = pytest.mark.browser


async def queue_shows(page: Page, live: str, recorder: Recorder, name: str) -> str:
    await page.goto(f"{live}/review/queue")
    await recorder.step(page, name)
    return await page.content()


async def test_an_admin_changes_a_reviewers_queues_and_role(new_context, live, recorder):
    unlock = await make_application(kind="unlock", country="IN")
    recovery = await make_application(kind="recovery", country="IN")
    elsewhere = await make_application(kind="recovery", country="RU")
    bo_page = await sign_in(new_context, live, recorder, "Bo")
    bo = await Reviewer.get(name="Bo")
    await Reviewer.filter(id=bo.id).update(kinds=["unlock"])  # Bo starts on unlocks only
    shown = await queue_shows(bo_page, live, recorder, "bo-unlocks-only")
    assert unlock.reference in shown and recovery.reference not in shown

    admin = await sign_in(new_context, live, recorder, "Ada", role="admin")
    await admin.goto(f"{live}/review/admin/reviewers")
    await recorder.step(admin, "reviewers")
    await admin.get_by_role("link", name="Change role and queues of Bo").click()
    await admin.wait_for_url(re.compile(rf"/review/admin/reviewers/{bo.id}$"))
    await expect(admin.get_by_role("heading", level=1)).to_have_text("Role and queues of Bo")
    await expect(admin.get_by_label("Bootloader unlock permission")).to_be_checked()
    await expect(admin.get_by_label("Account recovery")).not_to_be_checked()
    await recorder.step(admin, "edit-bo")

    # Recovery instead of unlocks, in India only; a wrong code first.
    await admin.get_by_label("Bootloader unlock permission").uncheck()
    await admin.get_by_label("Account recovery").check()
    await admin.get_by_label("Countries (optional)").fill("IN, XX")
    await admin.get_by_role("button", name="Save role and queues").click()
    await expect(admin.get_by_role("alert")).to_contain_text("Unknown country code XX")
    await expect(admin.get_by_label("Countries (optional)")).to_have_value("IN, XX")
    await expect(admin.get_by_label("Account recovery")).to_be_checked()
    await recorder.step(admin, "refused-country")
    await admin.get_by_label("Countries (optional)").fill("IN")
    await admin.get_by_role("button", name="Save role and queues").click()
    await admin.wait_for_url(re.compile(r"\?notice=saved$"))
    await expect(admin.locator("#saved-notice")).to_contain_text(
        "Bo is now reviewer, working Account recovery in India (IN)")
    await recorder.step(admin, "saved-queues")

    shown = await queue_shows(bo_page, live, recorder, "bo-recovery-in-india")
    assert recovery.reference in shown
    assert unlock.reference not in shown and elsewhere.reference not in shown

    # Raised to lead: every queue, once the sign-in codes they now need are set up.
    await admin.get_by_label("Role", exact=True).select_option("lead")
    await admin.get_by_role("button", name="Save role and queues").click()
    await admin.wait_for_url(re.compile(r"\?notice=saved$"))
    lead = role_word("lead").lower()
    await expect(admin.locator("#saved-notice")).to_contain_text(f"Bo is now {lead}.")
    await expect(admin.locator("#codes-notice")).to_contain_text(
        "must use sign-in codes and has not set them up yet")
    await recorder.step(admin, "saved-role")

    await bo_page.goto(f"{live}/review/queue")
    await bo_page.wait_for_url(re.compile(re.escape(ENROL_PATH)))
    await recorder.step(bo_page, "bo-sets-up-codes")

    await admin.goto(f"{live}/review/admin/audit")
    await expect(admin.get_by_text("Role changed").first).to_be_visible()
    await expect(admin.get_by_text("Queues changed").first).to_be_visible()
    await recorder.step(admin, "audit")
    assert await AccountEvent.filter(reviewer_id=bo.id).order_by("id").values_list(
        "type", flat=True) == ["queues_changed", "role_changed"]


async def test_an_admin_edits_a_canned_text_in_four_languages_side_by_side(
        new_context, live, recorder):
    await responses.ensure_defaults()
    canned = await CannedResponse.get(kind="unlock", action="approve")
    admin = await sign_in(new_context, live, recorder, "Ada", role="admin")
    await admin.goto(f"{live}/review/admin/responses")
    await expect(admin.get_by_role("heading", level=1)).to_have_text("Canned responses")
    await recorder.step(admin, "canned-responses")

    entry = admin.locator("details.canned", has=admin.locator(
        f"form[action='/review/admin/responses/{canned.id}']"))
    await entry.locator("summary").click()
    boxes = {code: entry.locator(f"#r{canned.id}-body-{code}") for code in ("en", "hi", "mr", "ru")}
    await expect(boxes["en"]).to_have_value(canned.body)
    await expect(boxes["hi"]).to_have_value(canned.translations["hi"])
    await expect(boxes["ru"]).to_have_value(canned.translations["ru"])
    await expect(entry.get_by_label("Marathi")).to_have_attribute("lang", "mr")
    # Side by side on a desktop: the four versions start on one line, left to right.
    placed = [await boxes[code].bounding_box() for code in ("en", "hi", "mr", "ru")]
    assert all(placed), placed
    assert len({round(box["y"]) for box in placed}) == 1, placed  # type: ignore[index]
    xs = [box["x"] for box in placed]  # type: ignore[index]
    assert xs == sorted(xs) and len(set(xs)) == 4, placed
    await recorder.step(admin, "four-versions-side-by-side")

    # The Marathi version edited, the Russian one cleared.
    marathi = "तुमची विनंती मंजूर झाली आहे. चौदा दिवसांत अनलॉक साधन वापरा."
    await boxes["mr"].fill(marathi)
    await boxes["ru"].fill("")
    await entry.get_by_role("button", name="Save").click()
    await admin.wait_for_url(re.compile(r"\?notice=saved$"))
    await expect(admin.get_by_role("status")).to_contain_text("Saved.")
    entry = admin.locator("details.canned", has=admin.locator(
        f"form[action='/review/admin/responses/{canned.id}']"))
    await expect(entry.locator("summary .badge.warning")).to_have_text("no Russian version")
    await recorder.step(admin, "saved-russian-missing")
    saved = await CannedResponse.get(id=canned.id)
    assert saved.translations.get("mr") == marathi and "ru" not in saved.translations

    # No English: refused, the form open again with every version as typed.
    await entry.locator("summary").click()
    await entry.locator(f"#r{canned.id}-body-en").fill("")
    await entry.locator(f"#r{canned.id}-body-hi").fill("नया पाठ")
    await admin.evaluate("() => document.querySelectorAll('textarea[required]')"
                         ".forEach((box) => box.removeAttribute('required'))")
    await entry.get_by_role("button", name="Save").click()
    await expect(admin.get_by_role("alert")).to_contain_text("its English text")
    opened = admin.locator("details.canned[open]")
    await expect(opened.locator(f"#r{canned.id}-body-hi")).to_have_value("नया पाठ")
    await expect(opened.locator(f"#r{canned.id}-body-mr")).to_have_value(marathi)
    await recorder.step(admin, "refused-without-english")
    assert (await CannedResponse.get(id=canned.id)).body == canned.body
