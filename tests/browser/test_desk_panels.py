"""The panels beside an application's facts, in Chromium (issue 20): an appeal shows the
refused original's refusal, facts and documents beside it; the related-applications panel
links what the reviewer may open and names the rest; times read in UTC and on the
applicant's clock; codes never show; axe-core finds nothing serious."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.async_api import expect

from support.data.models import Event, Reviewer, Status
from tests.browser.test_journeys import sign_in
from tests.conftest import jpeg_bytes
from tests.factories import make_application
from tests.test_authz_matrix import attach
from tests.test_wording import assert_no_codes

pytestmark = pytest.mark.browser

REFUSED = datetime(2026, 12, 5, 22, 40, tzinfo=UTC)


async def test_an_appeal_shows_its_original_beside_it(new_context, live, recorder, settings):
    ravi = await Reviewer.create(email="ravi@maker.example", name="Ravi", role="reviewer",
                                 password_hash="-", kinds=["unlock"])
    original = await make_application(
        status=Status.REJECTED, decided_at=REFUSED, decided_by=ravi,
        decision_code="stable_firmware", decision_text="Your phone runs a stable build.",
        firmware="V14.0.2.0.TKFMIXM", firmware_channel="stable")
    receipt = await attach(settings, original, jpeg_bytes((640, 480)), name="receipt-2026.jpg")
    appeal = await make_application(kind="appeal", appeal_of=original,
                                    account_id=original.account_id, phone=original.phone,
                                    email=original.email, imei=original.imei)
    page = await sign_in(new_context, live, recorder, "Asha")
    await page.goto(f"{live}/review/applications/{appeal.reference}")

    panel = page.locator("section.original")
    await expect(panel).to_be_visible()
    await expect(panel.locator("h2")).to_contain_text(original.reference)
    await expect(panel).to_contain_text(
        "The phone runs a stable build; unlocking needs a developer build")
    await expect(panel).to_contain_text("Your phone runs a stable build.")
    await expect(panel).to_contain_text("Ravi")
    await expect(panel).to_contain_text("5 December 2026, 22:40 UTC · 04:10 on 6 December "
                                        "in the applicant's time (Asia/Kolkata, UTC+05:30)")
    changed = panel.locator("table.compare tr.changed")
    await expect(changed).to_have_count(1)
    await expect(changed.locator("th")).to_have_text("Firmware")
    # The original's receipt, drawn as a thumbnail: a picture, and not a view.
    thumbnail = panel.locator(f"img[src='/review/documents/{receipt.id}/thumbnail']")
    await expect(thumbnail).to_be_visible()
    await page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=await thumbnail.element_handle())
    assert not await Event.filter(type="document_viewed").exists()
    # Beside the appeal's own facts: both panels on one screen, side by side with the
    # documents on a wide one.
    facts = await page.locator("#facts-h").bounding_box()
    original_box = await panel.bounding_box()
    assert facts and original_box and original_box["y"] > facts["y"]
    documents = await page.locator("#documents-h").bounding_box()
    assert documents and original_box["x"] > documents["x"] + 200  # the column beside them
    await expect(page.locator("section.related")).to_contain_text(
        "Same account, same phone, same IMEI, the refusal this appeals")
    await recorder.step(page, "appeal-with-original")
    text = await page.locator("main").inner_text()
    assert_no_codes(text, "the application page")
    # Opening the receipt from the panel is a view, logged.
    async with page.expect_navigation():
        await panel.locator(f"a[href='/review/documents/{receipt.id}']").first.click()
    assert await Event.filter(type="document_viewed").count() == 1


async def test_related_applications_link_within_scope_and_times_read_both_ways(
        new_context, live, recorder):
    me = await make_application(kind="unlock", country="IN")
    earlier = await make_application(kind="unlock", country="IN", phone=me.phone,
                                      status=Status.REJECTED, decided_at=REFUSED,
                                      decision_code="proof_mismatch")
    elsewhere = await make_application(kind="recovery", country="IN", account_id=me.account_id)
    page = await sign_in(new_context, live, recorder, "Asha")
    await Reviewer.filter(email="asha@maker.example").update(kinds=["unlock", "appeal"])
    await page.goto(f"{live}/review/applications/{me.reference}")

    related = page.locator("section.related")
    await expect(related.locator("li")).to_have_count(2)
    first = related.locator("li", has_text=earlier.reference)
    await expect(first).to_contain_text("Same phone")
    await expect(first).to_contain_text("Refused: The proof does not match the account or the phone")
    other = related.locator("li", has_text=elsewhere.reference)
    await expect(other).to_contain_text("Same account")
    await expect(other).to_contain_text("outside your queues")
    await expect(other.locator("a")).to_have_count(0)
    # Times: UTC, then the applicant's clock, said whose.
    submitted = page.locator("dt:text-is('Submitted') + dd")
    await expect(submitted).to_have_text(re.compile(
        r"^\d{1,2} \w+ \d{4}, \d\d:\d\d UTC · \d\d:\d\d( on \d{1,2} \w+)? in the applicant's "
        r"time \(Asia/Kolkata, UTC\+05:30\)$"))
    await expect(page.locator("dt:text-is(\"Applicant's clock\") + dd")).to_contain_text(
        "in the applicant's time (Asia/Kolkata")
    await recorder.step(page, "related-and-times")
    # The link opens the related application.
    await first.locator(f"a[href='/review/applications/{earlier.reference}']").click()
    await page.wait_for_url(re.compile(rf"/review/applications/{earlier.reference}$"))
    await expect(page.locator("section.related li", has_text=me.reference)).to_contain_text(
        "Same phone")
    await recorder.step(page, "the-related-one")
