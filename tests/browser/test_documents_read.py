"""The desk reads the documents (issue 26), in Chromium: a recovery applicant sends a box
photo whose label carries another IMEI than the one they typed; the worker files and reads
it; the reviewer sees "differs" beside the facts and the risk flag, and finds the
application in the queue by that flag. axe-core finds nothing serious."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from support.clock.reading import read_pending
from support.documents.filing import sanitise_pending
from tests.browser.test_journeys import confirm_with_code, fill_unlock, sign_in
from tests.conftest import RECOVERY, jpeg_bytes
from tests.test_findings import OTHER_IMEI, box_label
from tests.test_wording import assert_no_codes

pytestmark = pytest.mark.browser


async def test_a_box_label_with_another_imei_is_seen_by_the_reviewer(
        new_context, live, outbox, recorder, settings, tmp_path: Path):
    receipt, box = tmp_path / "receipt.jpg", tmp_path / "box.jpg"
    receipt.write_bytes(jpeg_bytes((800, 600)))
    box.write_bytes(box_label(OTHER_IMEI))
    context = await new_context()
    page = await context.new_page()
    await page.goto(f"{live}/apply/recovery")
    await fill_unlock(page, receipt, **RECOVERY)  # the fields both forms share
    await page.fill("#imei", RECOVERY["imei"])
    await page.set_input_files("#box_photo", str(box))
    await page.locator("form button[type=submit]").last.click()
    await page.wait_for_url(re.compile(r"/applications/RC-[\w-]+/verify"))
    await confirm_with_code(page, outbox, recorder)
    reference = re.search(r"RC-[\w-]+", await page.title())
    assert reference

    # The worker, between the applicant and the reviewer.
    assert await sanitise_pending(settings) == 2
    assert await read_pending(settings) == 2

    desk = await sign_in(new_context, live, recorder, "Asha")
    await desk.goto(f"{live}/review/queue?flag=imei_differs")
    await expect(desk.locator(f"a:has-text('{reference.group(0)}')").first).to_be_visible()
    await recorder.step(desk, "queue-by-flag")
    await desk.goto(f"{live}/review/applications/{reference.group(0)}")
    panel = desk.locator("#findings")
    await expect(panel).to_be_visible()
    row = panel.locator("tr.finding", has_text="IMEI")
    await expect(row).to_contain_text(OTHER_IMEI)
    await expect(row).to_contain_text("on the box label")
    await expect(row.locator(".verdict")).to_have_text("differs")
    await expect(desk.locator("ul.flags")).to_contain_text("A document's IMEI differs")
    # The panel sits beside the facts, and its link leads to the document.
    facts = await desk.locator("#facts-h").bounding_box()
    found = await desk.locator("#findings-h").bounding_box()
    assert facts and found and found["y"] > facts["y"]
    await row.locator("a").click()
    assert re.search(r"#document-\d+$", desk.url)
    await recorder.step(desk, "findings-differs")
    assert_no_codes(await desk.locator("main").inner_text(), "the application page")
