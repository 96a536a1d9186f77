"""Collisions, in Chromium (issue 20): two reviewers with one application open each see the
other within seconds; when one claims it, the other's page says it changed and offers a
reload (it never reloads by itself); a closed tab stops being named; a hidden one stops
asking and leaves, and asks again when shown."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import expect

from support.data.models import ApplicationViewer, Reviewer
from tests.browser.test_journeys import sign_in
from tests.factories import make_application

pytestmark = pytest.mark.browser

# The page polls every 5 s: a poll and a margin.
WITHIN = 12_000
POLL_OR_LEAVE = re.compile(r"/presence(\?|/leave$)")  # not /static/review/presence.js
# Headless Chromium keeps every tab visible: the page is told so as the browser tells it.
HIDE = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "visible"});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


async def eventually(check, seconds: float, failure: str) -> None:
    """Wait until ``check()`` (an async callable) is true, or fail with ``failure``."""
    for _ in range(int(seconds * 10)):
        if await check():
            return
        await asyncio.sleep(0.1)
    pytest.fail(failure)


async def test_two_reviewers_see_each_other_and_a_claim(new_context, live, recorder):
    application = await make_application()
    path = f"{live}/review/applications/{application.reference}"
    ann = await sign_in(new_context, live, recorder, "Ann")
    bob = await sign_in(new_context, live, recorder, "Bob")

    await ann.goto(path)
    await expect(ann.locator("#presence-others")).to_have_text("")
    await ann.evaluate("() => { window.drawnOnce = true; }")  # gone if the page reloads
    await bob.goto(path)
    # Bob's page names Ann as drawn; Ann's names Bob at its next poll.
    await expect(bob.locator("#presence-others")).to_have_text("Also open by Ann.")
    await expect(ann.locator("#presence-others")).to_have_text("Also open by Bob.",
                                                               timeout=WITHIN)
    await expect(ann.locator("#presence-others")).to_have_attribute("role", "status")
    await recorder.step(ann, "ann-sees-bob")
    await recorder.step(bob, "bob-sees-ann")

    await bob.locator("#claim-form button[type=submit]").click()
    await bob.wait_for_url(re.compile(re.escape(application.reference) + "$"))
    await expect(bob.locator("#presence-changed")).to_have_text("")  # his own page is fresh

    changed = ann.locator("#presence-changed")
    await expect(changed).to_contain_text("This application changed since you opened it",
                                          timeout=WITHIN)
    await expect(changed).to_contain_text("by Bob")
    await expect(changed).to_have_attribute("role", "status")
    await expect(ann.locator("#presence-others")).to_have_text(
        "Also open by Bob (has claimed it).")
    assert await ann.evaluate("() => window.drawnOnce === true"), "the page reloaded itself"
    await recorder.step(ann, "ann-told-it-changed")

    # The notice's link reloads the page, which then says who holds it and nothing stale.
    await changed.get_by_role("link", name=re.compile("Reload")).click()
    await ann.wait_for_load_state()
    await expect(ann.locator("#presence-changed")).to_have_text("")
    await expect(ann.locator("#presence-others")).to_have_text(
        "Also open by Bob (has claimed it).")
    await recorder.step(ann, "ann-reloaded")

    # Bob closes his tab: its beacon says he left (his row goes at once, where a lapse would
    # leave it for a day's pruning), and Ann's next poll stops naming him.
    bob_id = (await Reviewer.get(name="Bob")).id
    await bob.close(run_before_unload=True)

    async def bob_gone() -> bool:
        return not await ApplicationViewer.exists(reviewer_id=bob_id)

    await eventually(bob_gone, 5, "closing the tab did not tell the server that Bob left")
    await expect(ann.locator("#presence-others")).to_have_text("", timeout=WITHIN)
    await recorder.step(ann, "bob-gone")


async def test_a_hidden_tab_stops_asking_and_leaves_then_comes_back(new_context, live, recorder):
    application = await make_application()
    path = f"{live}/review/applications/{application.reference}"
    ann = await sign_in(new_context, live, recorder, "Ann")
    asked: list[str] = []
    answered: list[str] = []
    ann.on("request", lambda request: asked.append(f"{request.method} {request.url}")
           if POLL_OR_LEAVE.search(request.url) else None)
    ann.on("requestfinished", lambda request: answered.append(request.url)
           if POLL_OR_LEAVE.search(request.url) else None)
    await ann.goto(path)
    ann_id = (await Reviewer.get(name="Ann")).id

    async def polled() -> bool:
        return bool(answered)

    async def there() -> bool:
        return await ApplicationViewer.exists(reviewer_id=ann_id)

    async def gone() -> bool:
        return not await there()

    await eventually(polled, 5, "the page did not ask who else is there")
    await asyncio.sleep(0.5)  # the answer read: the page holds the mark its leave sends

    # Hidden (another tab in front): a beacon says Ann left, and no poll follows.
    await ann.evaluate(HIDE)
    await eventually(gone, 3, "the hidden tab did not tell the server that Ann left")
    assert [a for a in asked if a.startswith("POST")] == [
        f"POST {path}/presence/leave"]
    before = len(asked)
    await asyncio.sleep(6)  # more than a poll's interval
    assert asked[before:] == []

    # Visible again: it asks at once, and Ann is there again.
    await ann.evaluate(SHOW)
    await eventually(there, 3, "the tab shown again did not mark Ann as there")

    # The browser's report of the request may reach the test after the server's
    # row does; wait for the report rather than read the list at once.
    async def asked_again() -> bool:
        return len(asked) > before

    await eventually(asked_again, 3, "the tab shown again sent nothing")
    assert asked[before].startswith("GET")
    await recorder.step(ann, "back")
