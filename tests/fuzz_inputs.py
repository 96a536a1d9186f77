"""Inputs for the property and fuzz tests: awkward text, valid field values, the catalogue.

Shared by ``test_properties.py`` (Hypothesis), ``test_state_properties.py`` and
``test_fuzz_http.py`` (seeded ``random``), so the three agree on what "valid" and
"awkward" mean.
"""

from __future__ import annotations

import random
from functools import lru_cache
from pathlib import Path

import phonenumbers
from babel.messages.pofile import read_po
from hypothesis import HealthCheck, Phase, settings

from support.rules import catalogue, countries, zones

POT = Path(__file__).resolve().parent.parent / "support" / "platform" / "translations" / "messages.pot"

# One profile for every Hypothesis test: the same examples on every run and machine (CI
# must not find a different bug than the developer did), no example database written into
# the work tree, and no wall-clock deadline (two shared cores make timings noisy; the
# files' total time is what is kept small), and no "explain" phase (on a database-backed
# walk it re-runs hundreds of variants of a failure: minutes, for a hint). Fixtures are
# shared by the examples on purpose.
PROFILE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
    print_blob=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)

# Characters nobody types on purpose but that arrive anyway: pasted from a PDF or a chat,
# or sent by a script.
CONTROL = "\x00\x01\x07\x08\x0b\x0c\x1b\x1c\x1f\x7f\x80\x85\x9f"
FORMAT = ("\u00ad\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
          "\u2060\u2066\u2067\u2068\u2069\ufeff")
SPACES = " \t\n\r\xa0\u1680\u2000\u2007\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
CONFUSABLE = "ıİßſﬁＡａ＠．－＋（）Ⅻ²½٫\ufffd"
AWKWARD = CONTROL + FORMAT + SPACES + CONFUSABLE

DIGITS = {
    "ascii": "0123456789",
    "fullwidth": "０１２３４５６７８９",
    "devanagari": "०१२३४५६७८९",
    "arabic-indic": "٠١٢٣٤٥٦٧٨٩",
    "bengali": "০১২৩৪৫৬৭৮৯",
}


def in_script(text: str, script: str) -> str:
    """The same digits as typed on another keyboard."""
    table = DIGITS[script]
    return "".join(table[int(ch)] if ch.isascii() and ch.isdigit() else ch for ch in text)


def luhn_digit(body: str) -> str:
    """The check digit that makes ``body + digit`` pass the Luhn test."""
    total = 0
    for position, ch in enumerate(reversed(body)):
        value = int(ch) * (1 if position % 2 else 2)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


@lru_cache(maxsize=1)
def msgids() -> frozenset[str]:
    """Every singular msgid of the catalogue the translators work from."""
    with POT.open("rb") as handle:
        catalog = read_po(handle)
    found: set[str] = set()
    for message in catalog:
        if isinstance(message.id, tuple):
            found.update(message.id)
        elif message.id:
            found.add(message.id)
    return frozenset(found)


@lru_cache(maxsize=1)
def phone_examples() -> tuple[tuple[str, phonenumbers.PhoneNumber], ...]:
    """phonenumbers' own example mobile and fixed-line numbers for every country we offer."""
    found = []
    for region in sorted(countries.country_codes()):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.append((region, number))
    return tuple(found)


REASON_WORDS = ("I", "develop", "a", "custom", "kernel", "for", "this", "phone", "and", "need",
                "to", "flash", "my", "test", "builds", "the", "bootloader", "is", "locked",
                "LineageOS", "port", "recovery", "because", "old", "software", "slow")

VALID_UNLOCK = {
    "account_id": "6123456789",
    "country": "IN",
    "phone": "98765 43210",
    "email": "asha@example.com",
    "model": "Redmi Note 10 Pro",
    "firmware": "21.3.17",
    "reason": "I develop a custom kernel for this phone and need to flash my test builds.",
}
VALID_RECOVERY = {**VALID_UNLOCK, "firmware": "V12.5.3.0.RKHMIXM", "imei": "490154203237518",
                  "reason": "My phone number changed and I forgot the password; the old "
                            "email is closed."}


def random_valid(rng: random.Random, kind: str) -> dict[str, str]:
    """A form that passes every check, varied the ways real applicants vary it."""
    region, number = rng.choice(phone_examples())
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    body = "".join(rng.choice("0123456789") for _ in range(14))
    words = [rng.choice(REASON_WORDS) for _ in range(rng.randint(8, 40))]
    while len(" ".join(words)) < 30:
        words.append(rng.choice(REASON_WORDS))
    fields = {
        "account_id": in_script(str(rng.randint(10_000, 10**12)), rng.choice(list(DIGITS))),
        "country": rng.choice([region, region.lower(), f" {region} "]),
        "phone": rng.choice([national, international]),
        "email": f"{rng.choice(['asha', 'r.k', 'x+y'])}{rng.randint(0, 999)}@"
                 f"{rng.choice(['example.com', 'Example.IN', 'mail.example.org'])}",
        "model": rng.choice([device.name for device in catalogue.devices()
                             if device.unlock_offered or kind == "recovery"]),
        "firmware": rng.choice(["21.3.17", "MIUI 9.3.28", "OS1.0.23.12.18.DEV"]),
        "reason": " ".join(words) + ".",
    }
    if kind == "recovery":
        fields["firmware"] = rng.choice(["V12.5.3.0.RKHMIXM", "OS1.0.5.0.UNCMIXM", "21.3.17"])
        fields["imei"] = body + luhn_digit(body)
    # Where the country keeps several times the form asks which is theirs (rules/zones.py);
    # elsewhere a zone posted is ignored, so one is always sent.
    if own := zones.country_zones(region):
        fields["time_zone"] = rng.choice(own)
    return fields
