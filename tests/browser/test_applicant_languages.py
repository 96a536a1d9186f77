"""Issue 21's "done when": the applicant always knows where they stand, in their language and
on their own clock.

One journey per language, on a 360 px phone whose browser speaks the applicant's language
and keeps their time zone: the form (in Russia, the time-zone question, answered by the
browser), the code, the status page ("decide by" on their clock, the zone named, no UTC),
a request for information ("answer by"), their answer with a file (the confirmation, their
words and the file's name in the history), the approval (the permission's end on their
clock). axe-core checks every page as it is seen.

With ``SUPPORT_SCREENSHOTS=1`` the Hindi and Russian status pages and the Russian form's
zone question are written to docs/screenshots/ (committed; CI leaves them alone).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from support import workflow
from support.data.models import Application, Reviewer, Status
from support.platform.i18n import translations
from support.rules.kinds import KINDS
from tests.browser.conftest import ROOT, Recorder
from tests.conftest import UNLOCK, Outbox, jpeg_bytes

pytestmark = pytest.mark.browser

SMALL_PHONE = {"width": 360, "height": 740}
SCREENSHOTS = ROOT / "docs" / "screenshots"
REFERENCE = re.compile(r"\b(UL|RC|AP)-[A-Z0-9]{4}-[A-Z0-9]{4}\b")
SCRIPTS = {"hi": re.compile(r"[\u0900-\u097F]"), "mr": re.compile(r"[\u0900-\u097F]"),
           "ru": re.compile(r"[\u0400-\u04FF]"), "en": re.compile(r"[A-Za-z]")}


@dataclass(frozen=True)
class Person:
    """An applicant: their language, browser clock, country and words."""

    lang: str
    locale: str  # the browser's
    zone: str  # the browser's, and the one we expect stored
    zone_said: str  # how their pages name it
    country: str
    phone: str  # in the country's own format
    request: str  # the reviewer's message, in the applicant's language
    answer: str  # the applicant's, in theirs
    approval: str


PEOPLE = [
    Person("en", "en-IN", "Asia/Kolkata", "IST", "IN", UNLOCK["phone"],
           "Please send a clearer photo of the receipt.",
           "Here is a sharper photo of the receipt, taken in daylight.",
           "Approved: the receipt matches the account."),
    Person("hi", "hi-IN", "Asia/Kolkata", "IST", "IN", "098765 43211",
           "कृपया रसीद की और साफ़ फ़ोटो भेजें।",
           "यह रसीद की साफ़ फ़ोटो है, दिन की रोशनी में ली गई।",
           "स्वीकृत: रसीद खाते से मेल खाती है।"),
    Person("mr", "mr-IN", "Asia/Kolkata", "IST", "IN", "+91 98765 43212",
           "कृपया पावतीचा अधिक स्पष्ट फोटो पाठवा.",
           "ही पावतीची स्पष्ट फोटो आहे, दिवसाच्या उजेडात काढलेली.",
           "मंजूर: पावती खात्याशी जुळते."),
    # Russia keeps eleven clocks: the form asks, and the browser's zone answers.
    Person("ru", "ru-RU", "Asia/Novosibirsk", "МСК+4", "RU", "8 913 123-45-67",
           "Пожалуйста, пришлите более чёткое фото чека.",
           "Вот более чёткое фото чека, снятое при дневном свете.",
           "Одобрено: чек соответствует аккаунту."),
]


def gettext(lang: str, message: str) -> str:
    return translations(lang).gettext(message)


def local_date(moment: datetime, person: Person) -> re.Pattern[str]:
    """The moment as the applicant's page must say it: its day, month in words and year on
    their clock, then the hour and the zone's name ("9 December 2026, 10:40 IST",
    "9 декабря 2026 г., 12:10 МСК+4"); computed from the moment, not from our formatter."""
    here = moment.astimezone(ZoneInfo(person.zone))
    return re.compile(
        rf"(?<!\d){here.day}\s(?P<month>[^\d,]+),?\s{here.year}(?:\sг\.)?,\s"
        rf"{here:%H:%M}\s{re.escape(person.zone_said)}(?![\w+−-])")


async def assert_local(page: Page, where: str, moment: datetime | None, person: Person) -> str:
    """``where`` shows ``moment`` on the applicant's clock, the month in their language."""
    assert moment is not None
    text = await page.locator(where).inner_text()
    found = local_date(moment, person).search(text)
    assert found, f"{local_date(moment, person).pattern!r} not in {where}: {text!r}"
    assert SCRIPTS[person.lang].search(found["month"]), found["month"]
    return found.group(0)


async def assert_where_they_stand(page: Page, person: Person) -> None:
    """What every status page must do, whatever the state: their language, no UTC, the
    reference on one line, nothing wider than the phone."""
    await expect(page.locator("html")).to_have_attribute("lang", person.lang)
    main = await page.locator("main").inner_text()
    assert "UTC" not in await page.locator("body").inner_text(), main
    assert SCRIPTS[person.lang].search(main)
    lines = await page.locator("h1 .reference").evaluate("e => e.getClientRects().length")
    assert lines == 1, "the reference wraps"
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= SMALL_PHONE["width"], f"the page is {width} px wide"


async def english_left(page: Page, person: Person) -> list[str]:
    """Lines of the page in Latin letters only (for the report: untranslated strings)."""
    if person.lang == "en":
        return []
    text = await page.locator("body").inner_text()
    return [line.strip() for line in text.splitlines()
            if re.search(r"[A-Za-z]{3}", line) and not SCRIPTS[person.lang].search(line)]


async def save(page: Page, name: str) -> None:
    if os.environ.get("SUPPORT_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


async def fill_form(page: Page, person: Person, receipt: Path, recorder: Recorder) -> None:
    await page.fill("#account_id", UNLOCK["account_id"])
    await page.select_option("#country", person.country)
    zone = page.locator("#time_zone")
    if person.country == "RU":
        # Asked, and already answered with the browser's own zone.
        await expect(zone).to_be_visible()
        await expect(zone).to_have_value(person.zone)
        chosen = await zone.locator("option:checked").inner_text()
        assert "Новосибирск" in chosen and person.zone_said in chosen, chosen
        assert await zone.locator("option").count() > 5  # Russia's clocks, not one
        await recorder.step(page, "zone-asked")
        if os.environ.get("SUPPORT_SCREENSHOTS") == "1":
            # A native list is drawn outside the page: for the picture, every choice is shown
            # as a list box, the browser's zone highlighted.
            await zone.scroll_into_view_if_needed()
            await zone.evaluate("s => { s.size = s.options.length; s.focus(); }")
            await save(page, "apply-ru-zone.png")
            await zone.evaluate("s => { s.removeAttribute('size'); }")
    else:
        await expect(zone).to_be_hidden()  # India keeps one clock: nothing asked
    await page.fill("#phone", person.phone)
    await page.fill("#email", f"applicant.{person.lang}@example.com")
    await page.fill("#model", UNLOCK["model"])
    await page.keyboard.press("Escape")  # the model's suggestions
    await page.fill("#firmware", UNLOCK["firmware"])
    await page.fill("#reason", UNLOCK["reason"])  # in English by design (test_journeys)
    await page.set_input_files("#receipt", str(receipt))


@pytest.fixture
def receipt(tmp_path: Path) -> Path:
    path = tmp_path / "receipt.jpg"
    path.write_bytes(jpeg_bytes((800, 600)))
    return path


@pytest.mark.parametrize("person", PEOPLE, ids=[p.lang for p in PEOPLE])
async def test_the_applicant_knows_where_they_stand(person, new_context, live, receipt, outbox: Outbox,
                                                    recorder: Recorder, tmp_path):
    context = await new_context(viewport=SMALL_PHONE, is_mobile=True, has_touch=True,
                                locale=person.locale, timezone_id=person.zone)
    page = await context.new_page()
    lang = person.lang
    title = gettext(lang, KINDS["unlock"].title)
    if lang != "en":
        assert title != KINDS["unlock"].title, f"{lang}: the kind's title is not translated"

    # The form, in their language; on Russia, the zone question.
    await page.goto(f"{live}/apply/unlock?lang={lang}")
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await expect(page.locator("h1")).to_have_text(title)
    await recorder.step(page, "form")
    await fill_form(page, person, receipt, recorder)
    await recorder.step(page, "filled")
    await page.locator("form button[type=submit]").last.click()
    await page.wait_for_url(re.compile(r"/applications/UL-[\w-]+/verify"))

    # The code from the SMS, then the status page.
    await expect(page.locator("#code")).to_be_visible()
    await recorder.step(page, "verify")
    await page.fill("#code", await outbox.last_code())
    await page.locator("form[action$='/verify'] button[type=submit]").click()
    await page.wait_for_url(re.compile(r"/status/[\w-]+"))
    status_url = page.url.split("?")[0]
    reference = REFERENCE.search(await page.locator("h1").inner_text()).group(0)
    application = await Application.get(reference=reference)
    assert application.status is Status.QUEUED
    assert application.locale == lang
    assert application.time_zone == person.zone
    await expect(page.locator("h1")).to_contain_text(title)
    await assert_where_they_stand(page, person)
    # "A reviewer will decide by …", on their clock.
    await assert_local(page, "dl.summary", application.due_at, person)
    assert not await page.locator("dl.summary strong").count(), "a fresh application is not late"
    await recorder.step(page, "status")
    untranslated = await english_left(page, person)

    # A reviewer asks for a clearer receipt.
    ravi = await Reviewer.create(
        email=f"ravi.{lang}@maker.example", name="Ravi", role="reviewer", password_hash="-",
        kinds=["unlock", "recovery", "appeal"], countries=[])
    actor = workflow.reviewer_actor(ravi)
    await workflow.claim(application, actor)
    await workflow.decide(await Application.get(id=application.id), actor, workflow.Decision(
        action="request_info", text=person.request, items=("receipt",)))
    application = await Application.get(id=application.id)
    assert application.status is Status.NEEDS_INFO

    await page.reload()
    info = page.locator("section[aria-labelledby='info-h']")
    await expect(info.locator("#info-h")).to_have_text(gettext(lang, "We need more information"))
    await expect(info).to_contain_text(person.request)
    await assert_where_they_stand(page, person)
    answer_by = KINDS["unlock"].answer_due(application.info_requested_at)
    said = await assert_local(page, "section[aria-labelledby='info-h'] strong", answer_by, person)
    assert said in await page.locator("dl.summary").inner_text()  # the same date above
    await recorder.step(page, "asked")
    untranslated += await english_left(page, person)

    # Their answer and a file, through the page.
    photo = tmp_path / f"receipt-{lang}-daylight.jpg"
    photo.write_bytes(receipt.read_bytes())
    await info.locator("#message").fill(person.answer)
    await info.locator("#receipt").set_input_files(str(photo))
    await info.locator("form[action$='/reply'] button[type=submit]").click()
    await page.wait_for_url(re.compile(r"/status/[\w-]+\?done=reply$"))
    done = page.locator("#done")
    await expect(done).to_be_visible()
    await expect(done.locator("h2")).to_have_text(gettext(lang, "Your answer is sent."))
    # Their words and the new file, in the history entry of their answer.
    answered = page.locator("ol.timeline > li", has=page.locator(".own-words"))
    await expect(answered.locator(".own-words")).to_have_text(person.answer)
    await expect(answered.locator(".file-name")).to_have_text(photo.name)
    await expect(page.locator("ol.timeline .file-name")).to_have_text([receipt.name, photo.name])
    await assert_where_they_stand(page, person)
    await recorder.step(page, "answered")
    if lang in ("hi", "ru"):
        await save(page, f"status-{lang}.png")
    untranslated += await english_left(page, person)
    assert (await Application.get(id=application.id)).status is Status.QUEUED

    # Approved: the permission's end on their clock.
    application = await Application.get(id=application.id)
    await workflow.claim(application, actor)
    await workflow.decide(await Application.get(id=application.id), actor, workflow.Decision(
        action="approve", text=person.approval))
    application = await Application.get(id=application.id)
    assert application.status is Status.APPROVED
    await page.goto(status_url)
    decision = page.locator("section[aria-labelledby='decision-h']")
    await expect(decision.locator("h2")).to_have_text(gettext(lang, "Approved"))
    await expect(decision).to_contain_text(person.approval)
    await assert_local(page, "section[aria-labelledby='decision-h']",
                       application.permission_expires_at, person)
    await assert_where_they_stand(page, person)
    await recorder.step(page, "approved")
    untranslated += await english_left(page, person)
    if untranslated:
        print(f"\n[{lang}] lines in English:", *sorted(set(untranslated)), sep="\n  ")
