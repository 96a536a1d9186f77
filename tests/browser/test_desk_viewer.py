"""The document viewer in Chromium: a receipt photo and a three-page PDF beside the facts,
zoomed, turned, fitted, paged and put full screen by mouse and by keyboard; opening a
document is one view in the audit trail however often it is looked at again; without
JavaScript every document is still shown and opens."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import PHONE
from tests.browser.test_journeys import PASSWORD, sign_in
from tests.conftest import jpeg_bytes
from tests.factories import make_application
from tests.test_authz_matrix import attach
from tests.test_document_viewer import PDF, pdf_bytes, views

pytestmark = pytest.mark.browser


async def two_documents(settings):
    application = await make_application(imei="490154203237518")
    photo = await attach(settings, application, jpeg_bytes((1200, 800)), name="receipt.jpg")
    bill = await attach(settings, application, pdf_bytes(3), name="bill.pdf", content_type=PDF)
    return application, photo, bill


async def zoom(page: Page) -> int:
    text = await page.locator("#viewer-status").inner_text()
    return int(re.search(r"(\d+)%", text).group(1))


async def shown(page: Page) -> dict:
    """The picture on the stage: its address, natural size and drawn box."""
    return await page.evaluate("""() => {
        const img = document.querySelector('#viewer-stage img');
        const box = img.getBoundingClientRect();
        return {src: img.getAttribute('src'), loaded: img.complete && img.naturalWidth > 0,
                width: Math.round(box.width), height: Math.round(box.height)};
    }""")


async def test_viewer_by_keyboard_and_mouse(new_context, live, settings, recorder):
    application, photo, bill = await two_documents(settings)
    page = await sign_in(new_context, live, recorder, "Vera")
    await page.goto(f"{live}/review/applications/{application.reference}")
    status = page.locator("#viewer-status")
    await expect(status).to_contain_text("Purchase receipt: receipt.jpg · document 1 of 2")
    await page.wait_for_function(
        "() => document.querySelector('#viewer-stage img')?.naturalWidth > 0")
    # The facts to compare stay in the viewer's own header.
    facts = page.locator(".viewer-facts")
    await expect(facts).to_contain_text("Redmi Note 10 Pro")
    await expect(facts).to_contain_text("490154203237518")
    await recorder.step(page, "viewer-opens-the-receipt")

    # Keyboard: zoom, turn, fit.
    before = await zoom(page)
    await page.keyboard.press("+")
    await page.keyboard.press("+")
    assert await zoom(page) > before
    await page.keyboard.press("-")
    await page.keyboard.press("0")
    assert await zoom(page) == before
    flat = await shown(page)
    assert flat["width"] > flat["height"]  # a landscape photo
    await page.keyboard.press("e")
    await expect(status).to_contain_text("turned 90°")
    turned = await shown(page)
    assert turned["width"] < turned["height"]  # its box is the other way round now
    await page.keyboard.press("Shift+E")
    await expect(status).not_to_contain_text("turned")
    await page.keyboard.press("w")
    await recorder.step(page, "fitted-to-the-width")

    # Next document: the PDF, page by page.
    await page.keyboard.press("j")
    await expect(status).to_contain_text("Purchase receipt: bill.pdf · document 2 of 2 · page 1")
    await page.wait_for_function(
        "() => document.querySelector('#viewer-stage img')?.naturalWidth > 0")
    assert (await shown(page))["src"] == f"/review/documents/{bill.id}/pages/1"
    await page.keyboard.press("]")
    await expect(status).to_contain_text("page 2")
    await page.keyboard.press("]")
    await page.keyboard.press("]")
    await expect(status).to_contain_text("page 3")
    await expect(status).to_contain_text("last page")
    await page.keyboard.press("[")
    await expect(status).to_contain_text("page 2")
    await recorder.step(page, "pdf-page-2")

    # Mouse: the toolbar, Ctrl and the wheel, a thumbnail.
    await page.get_by_role("button", name="Previous").click()
    await expect(status).to_contain_text("document 1 of 2")
    before = await zoom(page)
    await page.get_by_role("button", name="Zoom in").click()
    assert await zoom(page) > before
    await page.get_by_role("button", name="Rotate right").click()
    await expect(status).to_contain_text("turned 90°")
    await page.get_by_role("button", name="Whole").click()
    await page.locator("#viewer-stage").hover()
    before = await zoom(page)
    await page.keyboard.down("Control")
    await page.mouse.wheel(0, -200)
    await page.keyboard.up("Control")
    await page.wait_for_function(
        "before => parseInt(/(\\d+)%/.exec(document.querySelector('#viewer-status')"
        ".textContent)[1], 10) > before", arg=before)
    await page.locator(f"#document-{bill.id} a.viewer-open").click()
    await expect(status).to_contain_text("bill.pdf · document 2 of 2 · page 1")
    assert page.url.endswith(application.reference)  # never left the application

    # Full screen keeps the facts and tools in view.
    await page.keyboard.press("f")
    await page.wait_for_function("() => document.fullscreenElement?.id === 'viewer'")
    await expect(facts).to_be_visible()
    await expect(page.get_by_role("button", name="Full screen")).to_have_attribute(
        "aria-pressed", "true")
    await recorder.step(page, "full-screen")
    await page.keyboard.press("f")
    await page.wait_for_function("() => document.fullscreenElement === null")
    await recorder.step(page, "viewer-after")

    # On a phone: the facts strip sits right above the document, both in view, and the
    # full facts and the actions are still below it.
    await page.set_viewport_size(PHONE)
    await page.locator("#viewer-stage").scroll_into_view_if_needed()
    strip, stage = await facts.bounding_box(), await page.locator("#viewer-stage").bounding_box()
    assert strip and stage and 0 <= strip["y"] < stage["y"]
    assert stage["y"] + stage["height"] <= PHONE["height"]
    await expect(page.locator("#facts-h")).to_be_attached()
    await recorder.step(page, "viewer-on-a-phone")

    # Opened once each, however often looked at again; thumbnails never count.
    assert await views(application) == ["Viewed receipt (receipt.jpg).",
                                        "Viewed receipt (bill.pdf)."]


async def test_without_javascript_documents_show_and_open(new_context, live, settings,
                                                          recorder):
    application, photo, bill = await two_documents(settings)
    await sign_in(new_context, live, recorder, "Nora")  # makes the account
    context = await new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(f"{live}/review/login")
    await page.fill("#email", "nora@maker.example")
    await page.fill("#password", PASSWORD)
    await page.locator("button[type=submit]").click()
    await page.wait_for_url(re.compile(r"/review/queue"))

    thumbnails = []
    page.on("response", lambda r: "/thumbnail" in r.url and thumbnails.append(r.status))
    await page.goto(f"{live}/review/applications/{application.reference}")
    await expect(page.locator(".viewer-toolbar")).to_be_hidden()
    for doc in (photo, bill):
        image = page.locator(f"#document-{doc.id} img.thumbnail")
        await expect(image).to_be_visible()
        box = await image.bounding_box()
        assert box and box["width"] > 50 and box["height"] > 50
    await expect(page.locator(f"#document-{bill.id}")).to_contain_text("Pages: 1 2 3")
    assert thumbnails == [200, 200]
    await recorder.step(page, "no-javascript-documents", axe=False)  # axe needs JavaScript
    assert await views(application) == []

    async with page.expect_navigation():
        await page.locator(f"#document-{photo.id} a.viewer-open").click()
    assert page.url.endswith(f"/review/documents/{photo.id}")
    await page.go_back()
    await page.get_by_role("link", name="Page 2 of bill.pdf").click()
    await page.wait_for_url(re.compile(rf"/review/documents/{bill.id}/pages/2$"))
    await page.go_back()
    async with page.expect_download() as download:
        await page.locator(f"#document-{bill.id}").get_by_role("link", name="Download").click()
    assert (await download.value).suggested_filename == "bill.pdf"
    assert await views(application) == ["Viewed receipt (receipt.jpg).",
                                        "Downloaded receipt (bill.pdf)."]
