"""SMS cost: segment counting, and every SMS template within two segments."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.notify import segments
from support.notify.render import TEMPLATES_DIR, render_sms
from support.platform import i18n


@pytest.mark.parametrize(("text", "expected"), [
    ("", 0),
    ("a" * 160, 1),
    ("a" * 161, 2),
    ("a" * 306, 2),
    ("a" * 307, 3),
    ("€" * 80, 1),  # extension characters take two septets
    ("€" * 81, 2),
    ("क" * 70, 1),  # Devanagari: UCS-2
    ("क" * 71, 2),
    ("Код " * 17 + "ab", 1),  # 70 Cyrillic-and-Latin characters
    ("a" * 159 + "я", 3),  # one Cyrillic letter makes the whole text UCS-2: 160 / 67
])
def test_segment_count(text, expected):
    assert segments.count(text) == expected


# The longest values each placeholder can take in production.
CONTEXT = {
    "reference": "UL-WWWW-WWWW",
    "code": "999999",
    "minutes": 10,
    "status_url": "https://support.example-maker.com/status/" + "W" * 43,
    "kind": "unlock",
    "message": "x" * 2000,
    "expires_at": "2026-12-31T23:59:00+00:00",
    "revoked_at": "2026-12-20T08:30:00+00:00",
    "zone": "America/St_Johns",  # the longest short zone name: UTC-3:30
    "items": ["A readable purchase receipt"],
    "reply_days": 14,
}


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
@pytest.mark.parametrize("template", sorted(p.stem for p in (TEMPLATES_DIR / "sms").glob("*.txt")))
def test_every_sms_fits_in_two_segments_in_every_language(template, lang):
    text = render_sms(template, CONTEXT, lang)
    assert text.strip()
    assert CONTEXT["reference"] in text
    assert segments.count(text) <= 2, (template, lang, len(text), text)


# Emails to reviewers (their sign-in links), not applicants: an email address is all a
# reviewer account has.
STAFF_ONLY = {"reviewer_invitation"}
# The code that proves a corrected email address: it goes to that address alone, since
# proving the address is its whole point.
TO_THE_NEW_ADDRESS = {"email_code"}
# Answers to mail that came in (issue 23): by email, to the address that wrote.
ANSWERS_TO_MAIL = {"email_taken", "mail_unmatched"}


def test_every_email_template_has_an_sms_twin():
    email = {p.stem for p in Path(TEMPLATES_DIR / "email").glob("*.txt")}
    sms = {p.stem for p in Path(TEMPLATES_DIR / "sms").glob("*.txt")}
    assert email - STAFF_ONLY - TO_THE_NEW_ADDRESS - ANSWERS_TO_MAIL == sms
