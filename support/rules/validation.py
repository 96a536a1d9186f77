"""Checks for every field of an application, each with an error the applicant can act on.

The desk exists to remove the "please send us the missing facts" round trip, so every
message says what is wrong and where on the phone the right value is found.

Each message is one string literal at its `FieldError(...)` call (no `+`, no variables), so
that gettext extraction with `FieldError` as a keyword finds every msgid.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from support.rules import catalogue, countries

ACCOUNT_ID_MIN, ACCOUNT_ID_MAX = 5, 20
EMAIL_MAX = 254
IMEI_LENGTH = 15
REASON_MIN, REASON_MAX = 30, 2000
FIRMWARE_MAX = 64  # the column's width; real versions, "Xiaomi HyperOS" included, are half
ENGLISH_SHARE = 0.85


class FieldError(Exception):
    """A user-facing problem with one field.

    `message` is an English gettext msgid using %(name)s placeholders and `params` fill
    them. It is rendered later through gettext, so it is never pre-formatted here.

    `error_code=`, given with the params and kept as `code`, is what a program reads
    instead (the API's 422, docs/api.md): stable while the words change, one per kind of
    mistake (`required`, `phone_invalid`, `firmware_stable`, `file_too_large`...); empty
    where none was given (the API then says `<field>_invalid`). Not passed as `code=`: a
    message's own %(code)s is a param.
    """

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message)
        self.message: str = message
        # Taken from the params (not a parameter of its own): a refusal's params passed on
        # with ``**refusal.params`` stay well typed.
        self.code: str = str(params.pop("error_code", "") or "")
        self.params: dict[str, object] = dict(params)


@dataclass(frozen=True)
class Firmware:
    """The channel is what matters: only developer builds can be unlocked."""

    text: str
    os: str
    channel: str


def _digits_to_ascii(text: str) -> str:
    """Hindi and Marathi keyboards type "१२३"; treat any decimal digit as its ASCII twin."""
    return "".join(
        str(unicodedata.decimal(ch)) if not ch.isascii() and ch.isdecimal() else ch for ch in text
    )


# --- account ID -------------------------------------------------------------------------


def check_account_id(raw: str) -> str:
    """The account ID is numeric; a name or email here means the applicant mixed up fields.

    Zeros in front are dropped: "04018222164" is account 4018222164, and one account must
    be one value wherever it is compared (one open application, the daily limit, the
    "recent unlock" signal), or a zero typed in front makes a fresh account of it. The
    length is checked as typed (the message counts what the applicant sees) and again
    without the zeros, so what is returned is accepted again unchanged."""
    text = _digits_to_ascii(raw.strip())
    if not text:
        raise FieldError(
            "Enter your account ID. You find it on the phone in Settings → Mi Account "
            "(Xiaomi Account): it is the numeric ID shown there.",
            error_code="required",
        )
    if not text.isascii() or not text.isdigit():
        raise FieldError(
            "The account ID is made of digits only, not your name, email or phone number. "
            "You find it on the phone in Settings → Mi Account (Xiaomi Account): it is the "
            "numeric ID shown there.",
            error_code="account_id_not_digits",
        )
    if not ACCOUNT_ID_MIN <= len(text) <= ACCOUNT_ID_MAX:
        raise FieldError(
            "The account ID has %(min)s to %(max)s digits; you typed %(count)s. You find it "
            "on the phone in Settings → Mi Account (Xiaomi Account): it is the numeric ID "
            "shown there.",
            min=ACCOUNT_ID_MIN,
            max=ACCOUNT_ID_MAX,
            count=len(text),
            error_code="account_id_length",
        )
    account = canonical_account_id(text)
    if len(account) < ACCOUNT_ID_MIN:
        raise FieldError(
            "Zeros at the start of an account ID do not count: without them, yours has "
            "%(count)s digits, and an account ID has %(min)s to %(max)s. You find it on the "
            "phone in Settings → Mi Account (Xiaomi Account): it is the numeric ID shown "
            "there.",
            min=ACCOUNT_ID_MIN,
            max=ACCOUNT_ID_MAX,
            count=len(account),
            error_code="account_id_length",
        )
    return account


def canonical_account_id(digits: str) -> str:
    """The one form an account ID is stored and compared in: without zeros in front."""
    return digits.lstrip("0")


# --- country ----------------------------------------------------------------------------


def check_country(raw: str) -> str:
    """Upper-cased so "in" and "IN" are the same country everywhere downstream."""
    code = raw.strip().upper()
    if not code:
        raise FieldError("Choose the country you live in.", error_code="required")
    if code not in countries.country_codes():
        raise FieldError(
            "%(code)s is not a country we know. Choose your country from the list.",
            code=code,
            error_code="country_unknown",
        )
    return code


# --- phone ------------------------------------------------------------------------------

_PHONE_CHARS = re.compile(r"[0-9+\s().\-/]+")


def _phone_region(country: str | None) -> str | None:
    """A bad or missing country is not fatal when the number carries its own code."""
    if country is None:
        return None
    code = country.strip().upper()
    return code if code in countries.country_codes() else None


def _too_short() -> FieldError:
    return FieldError(
        "This phone number is too short. Check that you typed every digit, for example "
        "98765 43210 or +91 98765 43210.",
        error_code="phone_too_short",
    )


def _too_long() -> FieldError:
    return FieldError(
        "This phone number is too long. Check that you did not type the country code "
        "twice or add extra digits, for example 98765 43210 or +91 98765 43210.",
        error_code="phone_too_long",
    )


def _parse_phone(text: str, region: str | None) -> phonenumbers.PhoneNumber:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise FieldError(
                "The country code at the start of the number is not right. Type the "
                "number without it, or with the right one, for example 98765 43210 or "
                "+91 98765 43210.",
                error_code="phone_country_code",
            ) from exc
        if exc.error_type == phonenumbers.NumberParseException.TOO_LONG:
            raise _too_long() from exc
        raise _too_short() from exc


def _invalid_phone(number: phonenumbers.PhoneNumber, region: str | None) -> FieldError:
    """Length problems are the usual typo; say so before blaming the country."""
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == phonenumbers.ValidationResult.TOO_SHORT:
        return _too_short()
    if possible == phonenumbers.ValidationResult.TOO_LONG:
        return _too_long()
    if region is None:
        return FieldError(
            "This is not a valid phone number. Check the digits and the country code "
            "after the +, for example +91 98765 43210.",
            error_code="phone_invalid",
        )
    return FieldError(
        "This is not a valid phone number for %(country)s. Check the digits; if the "
        "number is from another country, type it with its own country code, for "
        "example +7 912 345-67-89.",
        country=region,
        error_code="phone_invalid",
    )


def check_phone(raw: str, country: str | None) -> str:
    """Returned as E.164 so the same number typed two ways is recognised as one."""
    text = _digits_to_ascii(raw.strip())
    if not text:
        raise FieldError(
            "Enter the phone number registered with your account, with its country code, "
            "for example +91 98765 43210.",
            error_code="required",
        )
    if not _PHONE_CHARS.fullmatch(text):
        raise FieldError(
            "A phone number may contain only digits, spaces, dashes, brackets and a "
            "leading +. Type it with its country code, for example +91 98765 43210.",
            error_code="phone_characters",
        )
    if text.startswith("00"):
        text = "+" + text[2:]
    region = _phone_region(country)
    if not text.startswith("+") and region is None:
        raise FieldError(
            "Choose your country first, or type the number with its country code, "
            "for example +91 98765 43210.",
            error_code="phone_country_missing",
        )
    number = _parse_phone(text, region)
    if not phonenumbers.is_valid_number(number):
        raise _invalid_phone(number, None if text.startswith("+") else region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- email ------------------------------------------------------------------------------


def check_email(raw: str) -> str:
    """Syntax only: a DNS lookup would slow the form and fail on flaky connections."""
    text = raw.strip()
    if not text:
        raise FieldError("Enter the email address linked to your account.", error_code="required")
    if len(text) > EMAIL_MAX:
        raise FieldError(
            "This email address is %(count)s characters long; an address has at most "
            "%(max)s. Check what you typed.",
            count=len(text),
            max=EMAIL_MAX,
            error_code="email_too_long",
        )
    if "@" not in text:
        raise FieldError(
            "An email address needs an @ sign, like name@example.com. Check what you typed.",
            error_code="email_invalid",
        )
    if any(ch.isspace() for ch in text):
        raise FieldError("An email address cannot contain spaces. Check what you typed.",
                         error_code="email_invalid")
    if not text.split("@")[0].isascii():
        # Only a relay that offers SMTPUTF8 could deliver there, and most applicants' mail
        # goes through one that does not: the code would retry unseen, so say it now.
        raise FieldError(
            "Letters other than a to z before the @ sign cannot be delivered to by many "
            "mail servers. Please give an address with only a to z, digits, dots or "
            "dashes before the @ sign.",
            error_code="email_not_ascii",
        )
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise FieldError(
            "This is not a valid email address. Type it in full, like name@example.com.",
            error_code="email_invalid",
        ) from exc
    # A domain in another script is kept as IDNA (xn--...): the form every mail server
    # and header takes, and one form to compare with.
    return str(result.ascii_email or result.normalized)


# --- model ------------------------------------------------------------------------------


def check_model(raw: str, *, for_unlock: bool) -> catalogue.Device:
    """Matching the catalogue, not free text, lets reviewers filter the queue by model."""
    text = raw.strip()
    if not text:
        raise FieldError(
            "Enter the model of your phone. You find it in Settings → About phone → Model "
            "(or Device name), and on the phone's box.",
            error_code="required",
        )
    device = catalogue.find_device(text)
    if device is None:
        raise FieldError(
            "We do not know the model %(model)s. Type the full name, for example "
            "Redmi Note 10 Pro or POCO F3. You find it in Settings → About phone → Model "
            "(or Device name), and on the phone's box.",
            model=text,
            error_code="model_unknown",
        )
    if for_unlock and not device.unlock_offered:
        raise FieldError(
            "Bootloader unlocking is not offered for the %(model)s, so this application "
            "cannot be approved.",
            model=device.name,
            error_code="model_not_unlockable",
        )
    return device


# --- firmware ---------------------------------------------------------------------------

_FIRMWARE_PREFIX = re.compile(r"^(?:xiaomi\s+)?(miui|hyperos)\b\s*", re.IGNORECASE)
_MIUI_STABLE = re.compile(r"V\d+\.\d+\.\d+\.\d+\.[A-Z]{4,9}")
_HYPEROS_STABLE = re.compile(r"OS\d+\.\d+\.\d+\.\d+\.[A-Z]{4,9}")
_BARE_STABLE = re.compile(r"\d+\.\d+\.\d+\.\d+\.[A-Z]{4,9}")
_WEEKLY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{1,2})")
_HYPEROS_DEV = re.compile(r"OS\d+\.\d+\.(\d{1,2})\.(\d{1,2})\.(\d{1,2})\.DEV")


def _is_date(month: str, day: str) -> bool:
    return 1 <= int(month) <= 12 and 1 <= int(day) <= 31


def _split_prefix(text: str) -> tuple[str | None, str]:
    """People copy the whole line, "MIUI 21.3.17"; the word names the OS, the rest the build."""
    match = _FIRMWARE_PREFIX.match(text)
    if match is None:
        return None, text
    return match.group(1).casefold(), text[match.end() :]


def _tidy_firmware(text: str, rest: str) -> str:
    """What is kept: the OS words as typed, one space, and the build with the spaces and
    line breaks a copy from the phone's screen adds taken out (they would otherwise reach
    reviewers, and a long enough run of them overflowed the column)."""
    build = "".join(rest.split())
    words = " ".join(text[: len(text) - len(rest)].split())
    return f"{words} {build}" if words else build


def _classify(build: str, named_os: str | None) -> tuple[str, str] | None:
    """(os, channel) for a recognised build; None if it looks like no build we know.

    A stable build copied without its "V"/"OS" ("1.0.5.0.UNCMIXM") is still stable; its OS
    comes from a leading "MIUI"/"HyperOS" word, or is "unknown-os".
    """
    if _MIUI_STABLE.fullmatch(build):
        return "miui", "stable"
    if _HYPEROS_STABLE.fullmatch(build):
        return "hyperos", "stable"
    if _BARE_STABLE.fullmatch(build):
        return named_os or "unknown-os", "stable"
    dev = _HYPEROS_DEV.fullmatch(build)
    if dev and _is_date(dev.group(2), dev.group(3)):
        return "hyperos", "developer"
    weekly = _WEEKLY.fullmatch(build)
    if weekly and _is_date(weekly.group(2), weekly.group(3)):
        return "miui", "developer"
    return None


def check_firmware(raw: str, *, for_unlock: bool) -> Firmware:
    """Unlocking needs a weekly build; telling the applicant now saves a refusal later."""
    text = _digits_to_ascii(raw.strip())
    if not text:
        raise FieldError(
            "Enter the firmware version of your phone. You find it in Settings → About "
            "phone → MIUI version (or HyperOS version). It looks like V12.5.3.0.RKHMIXM or "
            "OS1.0.5.0.UNCMIXM for a stable build, and like a date, 21.3.17 or "
            "OS1.0.23.12.18.DEV, for a weekly (developer) build.",
            error_code="required",
        )
    named_os, rest = _split_prefix(text)
    build = "".join(rest.split()).upper()
    found = _classify(build, named_os)
    tidy = _tidy_firmware(text, rest)
    if found is None or len(tidy) > FIRMWARE_MAX:
        if found is None and (_WEEKLY.fullmatch(build) or _HYPEROS_DEV.fullmatch(build)):
            raise FieldError(
                "%(firmware)s looks like a weekly build, but its month or day is not a "
                "real date. Copy the version exactly from Settings → About phone → MIUI "
                "version (or HyperOS version). It looks like V12.5.3.0.RKHMIXM or "
                "OS1.0.5.0.UNCMIXM for a stable build, and like a date, 21.3.17 or "
                "OS1.0.23.12.18.DEV, for a weekly (developer) build.",
                firmware=text,
                error_code="firmware_unknown",
            )
        raise FieldError(
            "We do not recognise the firmware version %(firmware)s. You find it in "
            "Settings → About phone → MIUI version (or HyperOS version). It looks like "
            "V12.5.3.0.RKHMIXM or OS1.0.5.0.UNCMIXM for a stable build, and like a date, "
            "21.3.17 or OS1.0.23.12.18.DEV, for a weekly (developer) build.",
            firmware=text,
            error_code="firmware_unknown",
        )
    os_name, channel = found
    if for_unlock and channel == "stable":
        raise FieldError(
            "%(firmware)s is a stable build, and a stable build cannot be unlocked. "
            "Install a weekly (developer) build first: its version looks like a date, "
            "for example 21.3.17, then apply again with that version.",
            firmware=text,
            error_code="firmware_stable",
        )
    return Firmware(text=tidy, os=os_name, channel=channel)


# --- IMEI -------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    """An IMEI's check digit (Luhn), for the form and for what the worker reads."""
    total = 0
    for position, ch in enumerate(reversed(digits)):
        value = int(ch) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def check_imei(raw: str) -> str:
    """The check digit catches most typos before a reviewer wastes time on a wrong IMEI."""
    text = re.sub(r"[\s\-]", "", _digits_to_ascii(raw))
    if not text:
        raise FieldError(
            "Enter the IMEI of your phone. Dial *#06# on the phone to see it, or look on the box.",
            error_code="required",
        )
    if not text.isascii() or not text.isdigit():
        raise FieldError(
            "The IMEI is made of digits only. Dial *#06# on the phone to see it, or look "
            "on the box.",
            error_code="imei_not_digits",
        )
    if len(text) != IMEI_LENGTH:
        raise FieldError(
            "The IMEI has exactly %(length)s digits; you typed %(count)s. Check the "
            "number: dial *#06# on the phone to see it.",
            length=IMEI_LENGTH,
            count=len(text),
            error_code="imei_length",
        )
    if not luhn_ok(text):
        raise FieldError(
            "This IMEI is not valid: its last digit does not match the others, so a digit "
            "was probably mistyped. Check the number: dial *#06# on the phone to see it.",
            error_code="imei_check_digit",
        )
    return text


# --- reason -----------------------------------------------------------------------------


def _letters(text: str) -> list[str]:
    return [ch for ch in text if unicodedata.category(ch).startswith("L")]


def _mostly_english(letters: list[str]) -> bool:
    """Reviewers read English; a few foreign words (a name, a place) are still fine."""
    latin = sum(1 for ch in letters if ch.isascii())
    return latin >= ENGLISH_SHARE * len(letters)


def check_reason(raw: str, *, english: bool) -> str:
    """The reason decides an unlock, so it must be long enough to judge and readable.

    Control characters are dropped first (tabs and line breaks stay): nobody types them,
    they only come with a paste or a script, they garble what the reviewer reads, and
    PostgreSQL refuses NUL outright."""
    text = "".join(
        ch for ch in raw if ch in "\t\n\r" or unicodedata.category(ch) != "Cc"
    ).strip()
    count = len(text)
    if not text:
        raise FieldError("Explain your reason in at least %(min)s characters.", min=REASON_MIN,
                         error_code="required")
    if count < REASON_MIN:
        raise FieldError(
            "Your reason is %(count)s characters long; write at least %(min)s so the "
            "reviewer can understand it.",
            count=count,
            min=REASON_MIN,
            error_code="reason_too_short",
        )
    if count > REASON_MAX:
        raise FieldError(
            "Your reason is %(count)s characters long; shorten it to at most %(max)s.",
            count=count,
            max=REASON_MAX,
            error_code="reason_too_long",
        )
    letters = _letters(text)
    if not letters:
        raise FieldError("Explain your reason in words, not only digits or signs.",
                         error_code="reason_no_words")
    if english and not _mostly_english(letters):
        raise FieldError(
            "The reason for unlocking must be written in English, so that the reviewer "
            "can read it. Please write it again in English.",
            error_code="reason_not_english",
        )
    return text
