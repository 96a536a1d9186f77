"""Dates on the applicant's own clock, the zone named as they say it (issue 21)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from support.notify import segments
from support.notify.render import environment, render_sms
from support.platform.formatting import format_applicant

WINTER = datetime(2026, 12, 6, 5, 10, tzinfo=UTC)
SUMMER = datetime(2026, 7, 6, 5, 10, tzinfo=UTC)


@pytest.mark.parametrize(("moment", "zone", "lang", "expected"), [
    (WINTER, "Asia/Kolkata", "en", "6 December 2026, 10:40 IST"),
    (WINTER, "Asia/Kolkata", "hi", "6 दिसंबर 2026, 10:40 IST"),
    (WINTER, "Asia/Kolkata", "mr", "6 डिसेंबर, 2026, 10:40 IST"),
    (WINTER, "Europe/Moscow", "ru", "6 декабря 2026 г., 08:10 МСК"),
    (WINTER, "Europe/Moscow", "en", "6 December 2026, 08:10 MSK"),
    (WINTER, "Asia/Novosibirsk", "ru", "6 декабря 2026 г., 12:10 МСК+4"),
    (WINTER, "Europe/Kaliningrad", "ru", "6 декабря 2026 г., 07:10 МСК-1"),
    # Summer time is named as summer time: the offset at that moment decides.
    (WINTER, "Europe/Berlin", "en", "6 December 2026, 06:10 CET"),
    (SUMMER, "Europe/Berlin", "en", "6 July 2026, 07:10 CEST"),
    (WINTER, "America/New_York", "en", "6 December 2026, 00:10 EST"),
    (SUMMER, "America/New_York", "en", "6 July 2026, 01:10 EDT"),
    # No short name in common use: the locale's own long name.
    (WINTER, "America/Sao_Paulo", "en", "6 December 2026, 02:10 (Brasilia Standard Time)"),
    (WINTER, "America/Sao_Paulo", "ru", "6 декабря 2026 г., 02:10 (Бразилия, стандартное время)"),
    # Unknown or missing: the desk's UTC, said as such.
    (WINTER, None, "en", "6 December 2026, 05:10 UTC"),
    (WINTER, "Mars/Olympus_Mons", "en", "6 December 2026, 05:10 UTC"),
])
def test_a_moment_on_the_applicants_clock(moment, zone, lang, expected):
    # Babel joins "2026 г." with a no-break space, as Russian typesetting wants.
    assert " ".join(format_applicant(moment, zone, lang).split()) == expected


@pytest.mark.parametrize(("zone", "expected"), [
    ("Asia/Kolkata", "6 Dec, 10:40 IST"),
    ("America/Sao_Paulo", "6 Dec, 02:10 UTC-3"),
    ("Asia/Kathmandu", "6 Dec, 10:55 UTC+5:45"),
    ("Europe/Kaliningrad", "6 Dec, 07:10 MSK-1"),
])
def test_an_sms_says_it_short_and_in_gsm_7(zone, expected):
    said = format_applicant(WINTER, zone, "en", short=True)
    assert said == expected
    assert segments.encoding(said) == "gsm7"  # one odd character would double the cost


def test_an_iso_string_from_a_messages_context_is_read_as_utc():
    assert format_applicant("2026-12-06T05:10:00+00:00", "Asia/Kolkata", "en") == \
        "6\u00a0December\u00a02026,\u00a010:40\u00a0IST"


def test_a_date_on_a_page_never_breaks_inside_but_a_long_zone_name_may():
    said = format_applicant(WINTER, "America/Sao_Paulo", "en")
    assert said == "6\u00a0December\u00a02026,\u00a002:10 (Brasilia Standard Time)"


def test_the_filter_follows_the_zone_in_the_context_and_keeps_utc_without_one():
    template = environment("en").from_string("{{ at|when }} / {{ at|when_short }}")
    assert " ".join(template.render(at=WINTER.isoformat(), zone="Asia/Kolkata").split()) == \
        "6 December 2026, 10:40 IST / 6 Dec, 10:40 IST"
    assert template.render(at=WINTER.isoformat()) == \
        "6 December 2026, 05:10 UTC / 6 December 2026, 05:10 UTC"


def test_an_approval_sms_names_the_permissions_end_on_the_applicants_clock():
    context = {"reference": "UL-AAAA-BBBB", "kind": "unlock", "zone": "Asia/Novosibirsk",
               "expires_at": WINTER.isoformat()}
    assert "6 дек., 12:10 МСК+4" in " ".join(render_sms("approved", context, "ru").split())
    assert "6 Dec, 12:10 MSK+4" in render_sms("approved", context, "en")
