"""Every applicant page in every language on a phone, and the reviewer's pages, as a browser
renders them: axe-core finds no serious or critical violation, nothing runs off the screen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from support.accounts import auth
from support.data.models import Reviewer, Status
from support.platform import i18n
from support.workflow.status_links import new_status_link
from tests.browser.conftest import DESKTOP, PHONE
from tests.conftest import enrol
from tests.factories import make_application

pytestmark = pytest.mark.browser

LONG_HINDI_NAME = "श्रीमती " + "अन्नपूर्णा" * 8  # one long word, as pasted names sometimes are


async def no_sideways_scroll(page: Page) -> None:
    """A phone user should never have to scroll sideways to read or press something."""
    overflow = await page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        return [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > width + 1)
            .map(el => el.tagName + (el.id ? '#' + el.id : '') + '.' + el.className).slice(0, 5);
    }""")
    assert not overflow, f"{page.url}: wider than the screen: {overflow}"
    broken = await page.evaluate("""() => [...document.querySelectorAll('header a, header button')]
        .filter(el => {
            const range = document.createRange();
            range.selectNodeContents(el);
            const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
            return lines.size > 1;
        }).map(el => el.textContent.trim())""")
    assert not broken, f"{page.url}: header links broken across lines: {broken}"


async def applicant_pages(settings) -> dict[str, str]:
    """One application in each state an applicant can see, and the pages that show them."""
    now = datetime.now(UTC)
    submitted = await make_application(status=Status.SUBMITTED, verified_at=None)
    queued = await make_application()
    needs_info = await make_application(
        status=Status.NEEDS_INFO, info_requested_at=now,
        info_request={"items": ["receipt", "firmware"], "message": LONG_HINDI_NAME})
    rejected = await make_application(status=Status.REJECTED, decision_code="reason_insufficient",
                                      decision_text="The reason is too short.", decided_at=now)
    approved = await make_application(status=Status.APPROVED, decision_text="Approved.",
                                      decided_at=now, permission_expires_at=now + timedelta(14))

    async def status(application) -> str:
        return (await new_status_link(settings, application)).removeprefix(settings.base_url)

    rejected_page = await status(rejected)
    queued_page = await status(queued)
    return {
        "home": "/",
        "apply-unlock": "/apply/unlock",
        "apply-recovery": "/apply/recovery",
        "lookup": "/status",
        "verify": f"/applications/{submitted.reference}/verify",
        "status-queued": queued_page,
        "status-needs-info": await status(needs_info),
        "status-rejected": rejected_page,
        "status-approved": await status(approved),
        "withdraw": queued_page + "/withdraw",
        "appeal": rejected_page + "/appeal",
        "not-found": "/no-such-page",
    }


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
async def test_every_applicant_page_on_a_phone(lang, new_context, live, settings, recorder):
    pages = await applicant_pages(settings)
    page = await (await new_context(viewport=PHONE, is_mobile=True)).new_page()
    for name, path in pages.items():
        response = await page.goto(f"{live}{path}?lang={lang}")
        assert response and response.status in (200, 404), (name, response and response.status)
        await expect(page.locator("html")).to_have_attribute("lang", lang)
        await recorder.step(page, f"{name}-{lang}")
        await no_sideways_scroll(page)
    # The form pages again, with every error showing: the longest text they can have.
    for kind in ("unlock", "recovery"):
        await page.goto(f"{live}/apply/{kind}?lang={lang}")
        await page.locator("form button[type=submit]").last.click()
        await expect(page.locator("#error-summary")).to_be_visible()
        await recorder.step(page, f"apply-{kind}-all-errors-{lang}")
        await no_sideways_scroll(page)
    await page.goto(f"{live}/status?lang={lang}")
    await page.locator("main form button[type=submit]").click()
    await expect(page.locator("#reference-error")).to_be_visible()
    await recorder.step(page, f"lookup-errors-{lang}")


async def reviewer_page(new_context, live: str, viewport: dict[str, int]) -> Page:
    reviewer = await Reviewer.create(
        email="ravi@maker.example", name="Ravi Shankar Kulkarni", role="admin", password_hash="-",
        kinds=["unlock", "recovery", "appeal"], countries=[])
    await enrol(reviewer)  # an admin without a second factor is sent to set one up
    context = await new_context(viewport=viewport)
    await context.add_cookies([{"name": "support_session", "value": await auth.start_session(reviewer),
                                "url": live}])
    return await context.new_page()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_reviewer_queue_and_application(viewport, new_context, live, recorder):
    for n in range(3):
        await make_application(model="Redmi Note 10 Pro" if n else "Xiaomi 13T Pro",
                               reason=LONG_HINDI_NAME + " needs a long reason here to wrap.")
    page = await reviewer_page(new_context, live, viewport)
    await page.goto(f"{live}/review/queue")
    rows = page.locator("table.queue tbody tr")
    await expect(rows).to_have_count(3)
    await recorder.step(page, "queue")
    await no_sideways_scroll(page)
    if viewport is PHONE:
        # Each cell says what it is, since the header row is hidden on a narrow screen.
        label = await rows.first.locator("td").nth(1).evaluate(
            "td => getComputedStyle(td, '::before').content")
        assert label.strip('"') == "Kind"
    await rows.first.locator("a").first.click()
    await page.wait_for_url("**/review/applications/**")
    await recorder.step(page, "application")
    await no_sideways_scroll(page)
    await page.goto(f"{live}/review/login")
    await recorder.step(page, "login")


async def test_axe_reports_what_it_should(new_context, live, recorder):
    """The checker itself can fail: a page with an unlabelled field and faint text does."""
    page = await (await new_context()).new_page()
    await page.goto(f"{live}/")
    await page.evaluate("""() => {
        document.querySelector('main').insertAdjacentHTML('beforeend',
            '<input type="text"><p style="color:#eee;background:#fff">faint</p>');
    }""")
    with pytest.raises(AssertionError, match="label|color-contrast"):
        await recorder.axe(page)
