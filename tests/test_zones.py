"""The applicant's clock beside UTC (rules/zones.py, platform/formatting.py): which zone,
how sure, and how a moment reads in both."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from babel.core import get_global

from support.platform.formatting import format_both, format_local
from support.rules import zones
from support.rules.countries import country_codes
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
