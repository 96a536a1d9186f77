"""The applicant's time zone on the form (rules/zones.py, web/apply_form.py).

Asked only where the country keeps several times: a Russian applicant picks theirs from
their country's zones (by city, in their language, with the clock), an Indian one is
asked nothing and gets India's one zone. A missing or foreign zone sends the form back
with everything kept and the field shown for that country. An appeal keeps the refused
application's zone and asks nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx2

from support.config import Settings
from support.data.models import Application, Status
from support.rules import zones
from tests.conftest import UNLOCK, Applicant, Outbox
from tests.test_appeals import appeal_form, refused
from tests.test_apply import Page, assert_values_kept, post_apply, text_of

RUSSIAN = {**UNLOCK, "country": "RU", "phone": "+7 912 345-67-89"}


def zone_select(page: Page) -> tuple[list[str], dict[str, str]]:
    """The zone field's options as sent (values) and as read (value → label)."""
    select = page.by_id("time_zone")
    options = [o for o in select.children if o.tag == "option"]
    return ([o.get("value") for o in options if o.get("value")],
            {o.get("value"): " ".join(o.text.split()) for o in options})


def field_shown(page: Page) -> bool:
    return not page.by_id("time_zone-field").has("hidden") \
        and not page.by_id("time_zone").has("disabled")


async def test_a_russian_applicant_is_stored_with_the_zone_chosen(
    client: httpx2.AsyncClient, outbox: Outbox, applicant: Applicant,
) -> None:
    response = await post_apply(client, "unlock", {**RUSSIAN, "time_zone": "Asia/Novosibirsk"})
    assert response.status_code == 303, response.text
    application = await Application.get()
    assert (application.country, application.time_zone) == ("RU", "Asia/Novosibirsk")
    # Their messages from now on are on Novosibirsk's clock: four hours past Moscow's.
    code = await outbox.last_code()
    confirmed = await applicant.post_form(response.headers["location"], {"code": code})
    assert confirmed.status_code == 303, confirmed.text
    await outbox.deliver()
    received = [m for m in outbox.emails() if "/status/" in m.get_body(("plain",)).get_content()]
    assert received and "MSK+4" in received[-1].get_body(("plain",)).get_content()


async def test_india_stores_its_one_zone_and_asks_none(client: httpx2.AsyncClient) -> None:
    form = Page((await client.get("/apply/unlock")).text)
    assert not field_shown(form)  # hidden, and a disabled select is not sent
    response = await post_apply(client, "unlock", UNLOCK)
    assert response.status_code == 303, response.text
    assert (await Application.get()).time_zone == "Asia/Kolkata"


async def test_germany_keeps_one_time_so_is_asked_nothing(client: httpx2.AsyncClient) -> None:
    """Two zones in CLDR (Büsingen), one clock: its capital's, no question."""
    fields = {**UNLOCK, "country": "DE", "phone": "+49 1512 3456789"}
    response = await post_apply(client, "unlock", fields)
    assert response.status_code == 303, response.text
    assert (await Application.get()).time_zone == "Europe/Berlin"


async def test_russia_without_a_zone_comes_back_with_everything_kept(
    client: httpx2.AsyncClient,
) -> None:
    response = await post_apply(client, "unlock", RUSSIAN)
    assert response.status_code == 422, response.text
    page = Page(response.text)
    assert page.errors() == {"time_zone"}
    assert "Russia has several" in page.error_for("time_zone")
    assert_values_kept(page, RUSSIAN)
    # The field is there without any script, for Russia, pointing at its error.
    assert field_shown(page)
    values, _ = zone_select(page)
    assert set(values) == set(zones.country_zones("RU")) and len(values) > 10
    assert page.by_id("time_zone").get("aria-invalid") == "true"
    assert "time_zone-error" in page.by_id("time_zone").get("aria-describedby").split()
    assert {a.get("href") for a in page.by_id("error-summary").children if a.tag == "a"} \
        == {"#time_zone"}
    assert await Application.all().count() == 0

    # Chosen on the page that came back, the form goes through.
    fixed = await post_apply(client, "unlock", {**RUSSIAN, "time_zone": "Asia/Vladivostok"})
    assert fixed.status_code == 303, fixed.text
    assert (await Application.get()).time_zone == "Asia/Vladivostok"


async def test_a_zone_of_another_country_is_refused(client: httpx2.AsyncClient) -> None:
    for foreign in ("Asia/Kolkata", "America/New_York", "Not/AZone", "../../etc/passwd"):
        response = await post_apply(client, "unlock", {**RUSSIAN, "time_zone": foreign})
        assert response.status_code == 422, (foreign, response.text)
        page = Page(response.text)
        assert page.errors() == {"time_zone"}, foreign
        assert "Russia has several" in page.error_for("time_zone")
        values, _ = zone_select(page)
        assert foreign not in values
        assert not page.find("option", value=foreign, selected="")
    assert await Application.all().count() == 0


async def test_the_zone_chosen_stays_chosen_when_another_field_is_wrong(
    client: httpx2.AsyncClient,
) -> None:
    fields = {**RUSSIAN, "time_zone": "Asia/Yekaterinburg", "email": "ivan.example.com"}
    page = Page((await post_apply(client, "unlock", fields)).text)
    assert page.errors() == {"email"}
    assert_values_kept(page, {**fields, "time_zone": "Asia/Yekaterinburg"})


async def test_zones_are_listed_by_city_in_the_applicants_language(
    client: httpx2.AsyncClient,
) -> None:
    # Russian: cities in Russian, and Moscow's time as Russia says it.
    client.cookies.set("support_lang", "ru")
    page = Page((await post_apply(client, "unlock", RUSSIAN)).text)
    values, labels = zone_select(page)
    assert labels["Asia/Novosibirsk"] == "Новосибирск (МСК+4, UTC+7)"
    assert labels["Europe/Kaliningrad"] == "Калининград (МСК−1, UTC+2)"
    assert labels["Europe/Moscow"] == "Москва (МСК, UTC+3)"
    assert page.error_for("time_zone") == (  # the country in the page's language
        "Ошибка: Выберите свой часовой пояс из списка: в стране Россия несколько часовых поясов.")
    assert " ".join(page.find("label", for_="time_zone")[0].text.split()) == "Ваш часовой пояс"
    # West to east: Kaliningrad first, Kamchatka and Chukotka last.
    now = datetime.now(UTC)
    offsets = [now.astimezone(ZoneInfo(v)).utcoffset() for v in values]
    assert offsets == sorted(offsets)
    assert values[0] == "Europe/Kaliningrad" and values[-1] in {"Asia/Kamchatka", "Asia/Anadyr"}

    # Hindi: cities in Devanagari.
    client.cookies.set("support_lang", "hi")
    page = Page((await post_apply(client, "unlock", RUSSIAN)).text)
    _, labels = zone_select(page)
    assert labels["Asia/Novosibirsk"] == "नोवोसिबिर्स्क (MSK+4, UTC+7)"
    page = Page((await post_apply(client, "unlock", {
        **UNLOCK, "country": "US", "phone": "+1 201 555 0123"})).text)
    _, labels = zone_select(page)
    assert labels["America/Los_Angeles"].startswith("लॉस एंजिल्स (UTC−")


async def test_the_script_gets_every_multi_zone_country_and_no_other(
    client: httpx2.AsyncClient,
) -> None:
    response = await client.get("/apply/unlock")
    page = Page(response.text)
    block = page.by_id("zone-data")
    assert block.tag == "script" and block.get("type") == "application/json"
    data = json.loads(block.text)
    assert {"RU", "US", "BR", "ID", "AU", "CA", "MX"} <= set(data)
    assert not {"IN", "DE", "KZ", "GB"} & set(data)  # one clock each
    assert [name for name, _ in data["RU"]][0] == "Europe/Kaliningrad"
    for lang in ("en", "hi", "mr", "ru"):  # small: only the countries that ask
        client.cookies.set("support_lang", lang)
        block = Page((await client.get("/apply/unlock")).text).by_id("zone-data")
        assert 5_000 < len(block.text.encode()) < 12_000, lang
    client.cookies.delete("support_lang")
    scripts = [s.get("src") for s in page.find("script") if s.get("src")]
    assert scripts == ["/static/applicant/zone.js"]
    assert (await client.get("/static/applicant/zone.js")).status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "zone.js" not in (await client.get("/")).text


async def test_an_appeal_keeps_the_originals_zone_and_asks_none(
    app, client: httpx2.AsyncClient, applicant: Applicant, settings: Settings,
) -> None:
    original, status_path = await refused(settings, country="RU", phone="+79123456789",
                                          time_zone="Asia/Vladivostok")
    form = await client.get(status_path + "/appeal")
    assert form.status_code == 200
    assert 'name="time_zone"' not in form.text and 'id="zone-data"' not in form.text
    sent = await applicant.post_form(status_path + "/appeal", {
        **appeal_form(original), "time_zone": "Europe/Kaliningrad"})  # ignored: not asked
    assert sent.status_code == 303, text_of(sent.text)
    appeal = await Application.get(appeal_of_id=original.id)
    assert appeal.status is Status.QUEUED
    assert appeal.time_zone == "Asia/Vladivostok"
