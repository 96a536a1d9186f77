"""Applicants in Hindi, Marathi, Russian and English: catalogues, choice, and what they read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from support.data.models import Application
from support.notify.render import render_email
from support.platform import i18n
from tests.conftest import UNLOCK

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
DEVANAGARI = re.compile(r"[\u0900-\u097F]")
CYRILLIC = re.compile(r"[\u0400-\u04FF]")


def _source_messages() -> dict[str, str]:
    """Every msgid the code and templates use now, found the way `make i18n` finds them."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    # The same keywords as `make i18n` passes to pybabel (-k N_ -k FieldError -k DomainError).
    keywords = {**DEFAULT_KEYWORDS, "N_": None, "FieldError": None, "DomainError": None}
    found: dict[str, str] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=keywords
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, filename)
    return found


@pytest.fixture(scope="module")
def source_messages() -> dict[str, str]:
    found = _source_messages()
    assert len(found) > 200, "extraction found too little; is babel.cfg still right?"
    return found


def _catalogue(lang: str):
    with i18n.catalogue_path(lang).open("rb") as handle:
        return read_po(handle, locale=lang)


def test_reviewer_pages_are_not_in_the_catalogues(source_messages):
    assert not [name for name in source_messages.values() if "templates/review" in name]


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_catalogued_string_is_still_marked_in_the_sources(lang, source_messages):
    """A translated message that extraction no longer finds has lost its marking (a literal
    moved into an unmarked constant, say): `make i18n` would drop its translation and
    applicants would read English. Remove a string for good by running `make i18n`."""
    unmarked = sorted(message.id[:70] for message in _catalogue(lang)
                      if isinstance(message.id, str) and message.id
                      and message.id not in source_messages)
    assert not unmarked, f"{len(unmarked)} catalogued strings are no longer extracted:\n" + \
        "\n".join(unmarked)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_applicant_string_is_translated(lang, source_messages):
    catalogue = _catalogue(lang)
    translated = {}
    for message in catalogue:
        if not message.id or message.fuzzy:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if all(strings):
            for msgid in ids:
                translated[msgid] = strings
    missing = sorted(f"{where}: {msgid[:70]}" for msgid, where in source_messages.items()
                     if msgid not in translated)
    assert not missing, f"{len(missing)} strings untranslated in {lang} (run make i18n):\n" + \
        "\n".join(missing)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_their_placeholders(lang):
    wrong = []
    for message in _catalogue(lang):
        if not message.id or isinstance(message.id, tuple) or not message.string:
            continue
        if sorted(PLACEHOLDER.findall(message.id)) != sorted(PLACEHOLDER.findall(message.string)):
            wrong.append(message.id[:60])
    assert not wrong


def test_choice_order_query_then_cookie_then_browser():
    assert i18n.choose("ru", "hi", "mr") == "ru"
    assert i18n.choose(None, "hi", "mr") == "hi"
    assert i18n.choose("fr", None, "mr-IN,en;q=0.5") == "mr"
    assert i18n.choose(None, "xx", "") == "en"


@pytest.mark.parametrize(("header", "expected"), [
    ("hi-IN,hi;q=0.9,en-US;q=0.8,en;q=0.7", "hi"),
    ("en;q=0.3, ru;q=0.9", "ru"),
    ("fr-FR,fr;q=0.9", None),
    ("*", None),
    ("mr;q=0, ru;q=0.1", "ru"),
    ("ru;q=banana, hi", "hi"),
    ("", None),
])
def test_accept_language(header, expected):
    assert i18n.from_accept_language(header) == expected


async def test_lang_query_translates_the_page_and_is_remembered(client):
    page = await client.get("/?lang=hi")
    assert '<html lang="hi">' in page.text
    assert page.headers["content-language"] == "hi"
    assert DEVANAGARI.search(page.text.split("<main", 1)[1])
    assert client.cookies.get(i18n.COOKIE) == "hi"
    # The next page, with no query, is still in Hindi.
    again = await client.get("/apply/unlock")
    assert '<html lang="hi">' in again.text


async def test_browser_language_is_used_until_a_choice_is_made(client):
    page = await client.get("/", headers={"accept-language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert '<html lang="ru">' in page.text
    assert CYRILLIC.search(page.text)
    chosen = await client.get("/?lang=en", headers={"accept-language": "ru-RU"})
    assert '<html lang="en">' in chosen.text
    later = await client.get("/status", headers={"accept-language": "ru-RU"})
    assert '<html lang="en">' in later.text


async def test_unknown_language_falls_back_to_english(client):
    page = await client.get("/?lang=xx", headers={"accept-language": "fr"})
    assert '<html lang="en">' in page.text
    assert i18n.COOKIE not in client.cookies


async def test_switcher_on_every_applicant_page_links_each_language(client):
    for path in ("/", "/apply/unlock", "/apply/recovery", "/status"):
        page = await client.get(path + "?lang=mr")
        for lang in i18n.LANGUAGES:
            assert f'href="{path}?lang={lang}" lang="{lang}"' in page.text, (path, lang)
        assert 'lang="mr" hreflang="mr" aria-current="true"' in page.text


async def test_reviewer_pages_stay_in_english(client):
    page = await client.get("/review/login?lang=hi")
    assert '<html lang="en">' in page.text
    assert not DEVANAGARI.search(page.text)


async def test_countries_are_named_in_the_applicants_language(client):
    hindi = await client.get("/apply/unlock?lang=hi")
    assert re.search(r'<option value="IN"[^>]*>भारत</option>', hindi.text)
    russian = await client.get("/apply/unlock?lang=ru")
    assert re.search(r'<option value="DE"[^>]*>Германия</option>', russian.text)


async def test_unlock_form_says_in_hindi_that_the_reason_is_written_in_english(client):
    page = await client.get("/apply/unlock?lang=hi")
    hint = page.text.split('id="reason-hint"', 1)[1].split("</div>", 1)[0]
    assert "अंग्रेज़ी" in hint or "अंग्रेजी" in hint
    assert '<q lang="en" class="example">I develop a custom kernel' in hint


async def test_errors_are_explained_in_the_applicants_language_and_nothing_is_lost(
    applicant, client
):
    await client.get("/apply/unlock?lang=ru")
    response = await applicant.submit("unlock", {**UNLOCK, "imei": "", "email": "asha.example.com"})
    assert response.status_code == 422
    error = re.search(r'<p class="error" id="email-error">(.*?)</p>', response.text, re.S)
    assert error and CYRILLIC.search(error.group(1))
    assert 'value="asha.example.com"' in response.text
    assert UNLOCK["reason"] in response.text


@pytest.mark.parametrize(("lang", "script"), [("hi", DEVANAGARI), ("mr", DEVANAGARI),
                                              ("ru", CYRILLIC)])
async def test_language_is_stored_and_every_message_uses_it(applicant, client, outbox, lang,
                                                            script):
    await client.get(f"/?lang={lang}")
    response = await applicant.submit("unlock", UNLOCK)
    assert response.status_code == 303
    reference = response.headers["location"].split("/")[2]
    application = await Application.get(reference=reference)
    assert application.locale == lang
    await outbox.deliver()
    [sms] = outbox.sms()
    [mail] = outbox.emails()
    assert script.search(sms["text"]) and reference in sms["text"]
    assert script.search(mail["Subject"]) and reference in mail["Subject"]
    assert script.search(mail.get_body(("plain",)).get_content())
    assert f'lang="{lang}"' in mail.get_body(("html",)).get_content()


async def test_choosing_a_language_on_the_status_page_changes_later_messages(
    applicant, client, outbox
):
    status_path = await applicant.apply_and_verify(outbox)
    page = await client.get(status_path + "?lang=ru")
    assert '<html lang="ru">' in page.text
    reference = re.search(r"UL-[A-Z0-9]{4}-[A-Z0-9]{4}", page.text).group(0)
    application = await Application.get(reference=reference)
    assert application.locale == "ru"
    withdraw = await applicant.post_form(status_path + "/withdraw", {})
    assert withdraw.status_code in (200, 303)
    await outbox.deliver()
    last_sms = outbox.sms()[-1]["text"]
    assert CYRILLIC.search(last_sms), last_sms


@pytest.mark.parametrize(("lang", "month"), [("en", "December"), ("hi", "दिसंबर"),
                                             ("mr", "डिसेंबर"), ("ru", "декабря")])
def test_dates_are_localised_and_state_the_time_zone(lang, month):
    content = render_email("approved", {
        "reference": "UL-AAAA-BBBB", "kind": "unlock", "status_url": "https://x/status/t",
        "expires_at": "2026-12-05T15:26:00+00:00", "account": "12345678", "model": "Redmi Note 8",
        "message": "", "valid_days": 14,
    }, lang)
    assert f"5 {month}" in content.text
    assert "15:26 UTC" in content.text


async def test_reviewer_sees_the_applicants_language(desk):
    from tests.factories import make_application

    application = await make_application(locale="mr")
    ravi = await desk.reviewer("Ravi")
    page = await ravi.get(f"/review/applications/{application.reference}")
    assert page.status_code == 200
    assert "<dt>Language</dt><dd>Marathi" in page.text


async def test_switcher_on_a_page_a_post_rendered_leads_to_that_page(applicant, client, outbox):
    """The resend answer and a reply with errors are rendered at POST-only addresses; their
    language links must still open the page, not a 405."""
    verify = (await applicant.submit("unlock", UNLOCK)).headers["location"]
    resent = await applicant.post_form(verify + "/resend", {})
    assert f'href="{verify}/resend?lang=hi"' in resent.text
    switched = await client.get(f"{verify}/resend?lang=hi", follow_redirects=True)
    assert switched.status_code == 200 and switched.url.path == verify
    assert '<html lang="hi">' in switched.text

    status = await applicant.apply_and_verify(outbox)
    switched = await client.get(f"{status}/reply?lang=ru", follow_redirects=True)
    assert switched.status_code == 200 and switched.url.path == status
    assert '<html lang="ru">' in switched.text


async def test_pages_say_they_vary_by_language(client):
    page = await client.get("/")
    vary = {v.strip().lower() for v in page.headers["vary"].split(",")}
    assert {"accept-language", "cookie"} <= vary
