"""The applicant's clock beside UTC (rules/zones.py, platform/formatting.py): which zone,
how sure, and how a moment reads in both."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from babel.core import get_global

from support.platform.formatting import format_both, format_local
from support.rules import zones
from support.rules.countries import country_codes
from support.rules.validation import FieldError
from support.web.templating import both_times
from tests.factories import make_application

WINTER = datetime(2026, 12, 6, 5, 10, tzinfo=UTC)
SUMMER = datetime(2026, 7, 6, 5, 10, tzinfo=UTC)


def test_every_country_we_accept_has_a_zone():
    for code in country_codes():
        zone = zones.applicant_zone(code)
        assert zone is not None, code
        assert ZoneInfo(zone.name)


def test_every_country_with_several_zones_has_its_capitals():
    territory = get_global("territory_zones")
    several = {code for code in country_codes() if len(zones.country_zones(code)) > 1}
    assert {"RU", "US", "BR", "AU", "ID"} <= several
    assert several <= set(zones.CAPITAL_ZONES), several - set(zones.CAPITAL_ZONES)
    for code in several:
        assert zones.CAPITAL_ZONES[code] in territory[code], code
        assert zones.applicant_zone(code).name == zones.CAPITAL_ZONES[code]


def test_one_zone_is_certain_several_are_said_to_be_a_guess():
    india = zones.applicant_zone("IN")
    assert (india.name, india.source) == ("Asia/Kolkata", "country")
    assert zones.described(india, WINTER) == "in the applicant's time (Asia/Kolkata, UTC+05:30)"
    russia = zones.applicant_zone("ru")
    assert (russia.name, russia.source) == ("Europe/Moscow", "capital")
    assert zones.described(russia, WINTER) == ("in the capital's time (Europe/Moscow, UTC+03:00;"
                                               " the country has several time zones)")
    usa = zones.applicant_zone("US")
    assert zones.described(usa, SUMMER).startswith(
        "in the capital's time (America/New_York, UTC-04:00;")
    # Germany's second zone (Büsingen) keeps Berlin's time: nothing to hedge.
    germany = zones.applicant_zone("DE")
    assert germany.source == "capital" and germany.certain_at(WINTER)
    assert zones.described(germany, SUMMER) == \
        "in the applicant's time (Europe/Berlin, UTC+02:00)"
    assert zones.applicant_zone("XK").name == "Europe/Belgrade"  # CLDR lists none
    assert zones.applicant_zone("ZZ") is None and zones.applicant_zone("") is None


def test_the_applicants_own_zone_wins_when_it_is_real():
    assert zones.applicant_zone("RU", "Asia/Vladivostok").source == "given"
    assert zones.applicant_zone("RU", "Asia/Vladivostok").name == "Asia/Vladivostok"
    assert zones.applicant_zone("IN", "Not/AZone").name == "Asia/Kolkata"
    assert zones.applicant_zone("IN", "../../etc/passwd").name == "Asia/Kolkata"
    assert zones.applicant_zone("IN", "").name == "Asia/Kolkata"


def test_a_moment_in_utc_and_on_the_applicants_clock():
    kolkata = ZoneInfo("Asia/Kolkata")
    assert format_local(WINTER, kolkata) == "10:40"
    late = datetime(2026, 12, 6, 22, 10, tzinfo=UTC)
    assert format_local(late, kolkata) == "03:40 on 7 December"
    assert format_local(datetime(2026, 12, 6, 2, 0, tzinfo=UTC), ZoneInfo("America/New_York")) \
        == "21:00 on 5 December"
    assert format_both(WINTER, kolkata, "there") == "6 December 2026, 05:10 UTC · 10:40 there"
    assert format_both(WINTER, None, "there") == "6 December 2026, 05:10 UTC"
    assert format_both(None, kolkata, "there") == ""
    # As the page writes it, and with the zone issue 21 may store on the application.
    application = SimpleNamespace(country="IN")
    assert both_times(WINTER, application) == ("6 December 2026, 05:10 UTC · 10:40 in the "
                                               "applicant's time (Asia/Kolkata, UTC+05:30)")
    moved = SimpleNamespace(country="IN", time_zone="Europe/London")
    assert both_times(WINTER, moved) == ("6 December 2026, 05:10 UTC · 05:10 in the "
                                         "applicant's time (Europe/London, UTC)")


async def test_the_application_page_shows_utc_and_the_applicants_time(desk):
    asha = await desk.reviewer("Asha")
    application = await make_application(country="RU")
    page = await asha.get(f"/review/applications/{application.reference}")
    facts = page.text.split('id="facts-h"', 1)[1].split("</section>", 1)[0]
    assert "Russia" in facts
    assert " UTC · " in facts
    assert "in the capital&#39;s time (Europe/Moscow, UTC+03:00; the country has several" in facts
    assert "Applicant's clock</dt>" in facts
    assert re.search(r"<dd class=\"times\">\d\d:\d\d now, in the capital&#39;s time \(Europe/Moscow",
                     facts)


# --- the form's choice (issue 21) -------------------------------------------------------


def test_only_countries_whose_zones_disagree_are_asked():
    asked = {code for code in country_codes() if zones.several_times(code, WINTER)}
    assert {"RU", "US", "BR", "ID", "AU", "CA", "MX"} <= asked
    # Germany's Büsingen and Kazakhstan's seven zones (one time since 2024) keep one clock.
    assert not {"IN", "DE", "KZ", "GB", "XK"} & asked
    assert all(len(zones.country_zones(code)) > 1 for code in asked)
    assert zones.zone_choices("IN", "en", WINTER) == []


def test_choices_are_by_city_and_clock_west_to_east():
    russia = zones.zone_choices("RU", "ru", WINTER)
    assert {name for name, _ in russia} == set(zones.country_zones("RU"))
    labels = dict(russia)
    assert labels["Asia/Novosibirsk"] == "Новосибирск (МСК+4, UTC+7)"
    assert dict(zones.zone_choices("RU", "en", WINTER))["Asia/Novosibirsk"] == \
        "Novosibirsk (MSK+4, UTC+7)"
    offsets = [WINTER.astimezone(ZoneInfo(name)).utcoffset() for name, _ in russia]
    assert offsets == sorted(offsets)
    # Summer and winter differ where clocks change: New York is UTC−5, then UTC−4.
    assert dict(zones.zone_choices("US", "en", WINTER))["America/New_York"] == "New York (UTC−5)"
    assert dict(zones.zone_choices("US", "en", SUMMER))["America/New_York"] == "New York (UTC−4)"
    assert dict(zones.zone_choices("AU", "en", WINTER))["Australia/Adelaide"] == \
        "Adelaide (UTC+10:30)"


def test_check_zone_takes_the_countrys_own_and_refuses_the_rest():
    assert zones.check_zone("RU", " Asia/Novosibirsk ", WINTER) == "Asia/Novosibirsk"
    assert zones.check_zone("IN", None, WINTER) == "Asia/Kolkata"
    assert zones.check_zone("IN", "Europe/Moscow", WINTER) == "Asia/Kolkata"  # not asked
    assert zones.check_zone("DE", "", WINTER) == "Europe/Berlin"
    assert zones.check_zone("ZZ", "", WINTER) is None
    for given in (None, "", "Asia/Kolkata", "Not/AZone"):
        with pytest.raises(FieldError) as refused:
            zones.check_zone("RU", given, WINTER, "ru")
        assert refused.value.message == \
            "Choose your time zone from the list: %(country)s has several."
        assert refused.value.params == {"country": "Россия"}
