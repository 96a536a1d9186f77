"""What an applicant sees when filling the form: normalised values or a helpful refusal."""

from __future__ import annotations

import pytest

from support.rules import catalogue, countries
from support.rules.validation import (
    FieldError,
    Firmware,
    check_account_id,
    check_country,
    check_email,
    check_firmware,
    check_imei,
    check_model,
    check_phone,
    check_reason,
)

ENGLISH_REASON = "I develop a custom kernel and need to flash test builds on my own phone."
HINDI_REASON = "मुझे अपने फ़ोन पर कस्टम रोम इंस्टॉल करना है क्योंकि पुराना सॉफ़्टवेयर धीमा है।"


def refusal(excinfo: pytest.ExceptionInfo[FieldError]) -> str:
    """The message as the applicant reads it, placeholders filled."""
    error = excinfo.value
    return error.message % error.params


# --- FieldError -------------------------------------------------------------------------


def test_field_error_keeps_msgid_and_params_unformatted() -> None:
    error = FieldError("You typed %(count)s digits.", count=4)
    assert error.message == "You typed %(count)s digits."
    assert error.params == {"count": 4}


# --- account ID -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12345", "12345"),
        ("  6173849201  ", "6173849201"),
        ("1" * 20, "1" * 20),
        ("६१७३८४९२०१", "6173849201"),  # typed on a Marathi/Hindi keyboard
        # Zeros in front are dropped: one account, one value (issue 19).
        ("04018222164", "4018222164"),
        ("0000012345", "12345"),
        ("०४०१८२२२१६४", "4018222164"),
    ],
)
def test_account_id_accepted(raw: str, expected: str) -> None:
    assert check_account_id(raw) == expected


@pytest.mark.parametrize(
    ("raw", "idea"),
    [
        ("", "Enter your account ID"),
        ("   ", "Enter your account ID"),
        ("61738a4920", "digits only"),
        ("user@example.com", "digits only"),
        ("617 384 920", "digits only"),
        ("1234", "you typed 4"),
        ("1" * 21, "you typed 21"),
        ("0" + "1" * 20, "you typed 21"),  # the typed length still counts
        ("00123", "without them, yours has 3 digits"),
        ("00000", "without them, yours has 0 digits"),
    ],
)
def test_account_id_refused(raw: str, idea: str) -> None:
    with pytest.raises(FieldError) as excinfo:
        check_account_id(raw)
    assert idea in refusal(excinfo)
    assert "Mi Account" in refusal(excinfo)


# --- country ----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("IN", "IN"), ("in", "IN"), (" ru ", "RU")])
def test_country_accepted_in_any_case(raw: str, expected: str) -> None:
    assert check_country(raw) == expected


@pytest.mark.parametrize("raw", ["XX", "EU", "ZZ", "IND", "", "1N"])
def test_country_refused(raw: str) -> None:
    with pytest.raises(FieldError) as excinfo:
        check_country(raw)
    assert "country" in refusal(excinfo)


def test_country_codes_are_plain_countries() -> None:
    codes = countries.country_codes()
    assert {"IN", "RU", "US", "CN", "XK"} <= codes
    assert not {"EU", "UN", "ZZ", "AC", "TA"} & codes
    assert all(len(code) == 2 and code.isupper() for code in codes)


@pytest.mark.parametrize(
    ("locale", "code", "name"),
    [
        ("ru", "IN", "Индия"),
        ("hi", "IN", "भारत"),
        ("en", "IN", "India"),
        ("en", "RU", "Russia"),
        ("no-such-locale", "IN", "India"),
    ],
)
def test_country_name_localised(locale: str, code: str, name: str) -> None:
    assert countries.country_name(code, locale) == name


def test_country_choices_in_russian_are_russian_and_sorted() -> None:
    choices = countries.country_choices("ru")
    assert dict(choices)["IN"] == "Индия"
    names = [name.casefold() for _, name in choices]
    assert names == sorted(names)
    assert {code for code, _ in choices} == countries.country_codes()


def test_country_choices_sort_accented_latin_with_base_letter() -> None:
    codes = [code for code, _ in countries.country_choices("en")]
    assert codes.index("AX") < codes.index("BE")  # "Åland Islands" among the A's


# --- phone ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("98765 43210", "IN", "+919876543210"),
        ("098765-43210", "IN", "+919876543210"),
        ("+91 (98765) 43210", "IN", "+919876543210"),
        ("0091 98765 43210", None, "+919876543210"),
        ("+7 912 345-67-89", "IN", "+79123456789"),
        ("+7 912 345-67-89", None, "+79123456789"),
        ("8 (912) 345-67-89", "ru", "+79123456789"),
        ("+1 650-253-0000", "XX", "+16502530000"),
    ],
)
def test_phone_normalised_to_e164(raw: str, country: str | None, expected: str) -> None:
    assert check_phone(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country", "idea"),
    [
        ("", "IN", "Enter the phone number"),
        ("12345", "IN", "too short"),
        ("+91 98765", "IN", "too short"),
        ("+91 55555 55555", "IN", "not a valid phone number"),
        ("55555 55555", "IN", "not a valid phone number for IN"),
        ("98765 43210", None, "Choose your country first"),
        ("98765 43210", "XX", "Choose your country first"),
        ("+999 1234 5678", "IN", "country code"),
        ("+91 98765 43210 99999 9", "IN", "too long"),
        ("98765 4321O", "IN", "only digits"),
        ("8 912 345-67-89", "IN", "own country code"),
    ],
)
def test_phone_refused(raw: str, country: str | None, idea: str) -> None:
    with pytest.raises(FieldError) as excinfo:
        check_phone(raw, country)
    assert idea in refusal(excinfo)


def test_phone_refusal_says_what_the_hint_says() -> None:
    """The hint takes a number with or without its country code; a refusal shows both
    forms, never asking for the code the hint said was optional (issue 21)."""
    for raw in ("12345", "123456789012345"):  # too short, too long
        with pytest.raises(FieldError) as excinfo:
            check_phone(raw, "IN")
        assert "98765 43210 or +91 98765 43210" in refusal(excinfo)
        assert "with the country code" not in refusal(excinfo)
    with pytest.raises(FieldError) as excinfo:  # not a number here: maybe one from abroad
        check_phone("55555 55555", "IN")
    assert "from another country, type it with its own country code" in refusal(excinfo)


# --- email ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a@example.com", "a@example.com"),
        ("  Ravi.Kumar@Example.COM ", "Ravi.Kumar@example.com"),
        ("user+tag@mail.co.in", "user+tag@mail.co.in"),
    ],
)
def test_email_accepted_without_dns(raw: str, expected: str) -> None:
    assert check_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "idea"),
    [
        ("", "Enter the email"),
        ("ravi.example.com", "@"),
        ("ravi kumar@example.com", "spaces"),
        ("ravi@", "not a valid email"),
        ("ravi@localhost", "not a valid email"),
        ("a@b@example.com", "not a valid email"),
        ("a" * 250 + "@example.com", "at most 254"),
    ],
)
def test_email_refused(raw: str, idea: str) -> None:
    with pytest.raises(FieldError) as excinfo:
        check_email(raw)
    assert idea in refusal(excinfo)


# --- model ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "codename"),
    [
        ("Xiaomi 13T Pro", "corot"),
        ("xiaomi   13t PRO", "corot"),
        ("corot", "corot"),
        ("Redmi Note 10 Pro", "sweet"),
        ("Xiaomi Redmi Note 8", "ginkgo"),
        ("  poco f3 ", "alioth"),
        ("VAYU", "vayu"),
    ],
)
def test_model_found_by_name_or_codename(raw: str, codename: str) -> None:
    assert check_model(raw, for_unlock=False).codename == codename


@pytest.mark.parametrize("raw", ["13T Pro", "iPhone 15", "Redmi Note 99", "Note 10"])
def test_unknown_model_says_where_to_look(raw: str) -> None:
    with pytest.raises(FieldError) as excinfo:
        check_model(raw, for_unlock=False)
    assert "About phone" in refusal(excinfo)
    assert excinfo.value.params["model"] == raw


def test_empty_model_refused() -> None:
    with pytest.raises(FieldError) as excinfo:
        check_model("  ", for_unlock=True)
    assert "Enter the model" in refusal(excinfo)


def test_model_without_unlock_refused_only_for_unlock() -> None:
    assert check_model("redmi 9a", for_unlock=False).name == "Redmi 9A"
    with pytest.raises(FieldError) as excinfo:
        check_model("redmi 9a", for_unlock=True)
    assert "not offered" in refusal(excinfo)
    assert excinfo.value.params == {"model": "Redmi 9A"}


def test_catalogue_names_and_codenames_unique() -> None:
    devices = catalogue.devices()
    assert len(devices) >= 40
    names = [d.name.casefold() for d in devices]
    codenames = [d.codename.casefold() for d in devices]
    assert len(set(names)) == len(names)
    assert len(set(codenames)) == len(codenames)
    assert not set(names) & set(codenames)
    assert names == sorted(names)
    assert 2 <= sum(not d.unlock_offered for d in devices) <= 4


# --- firmware ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "os", "channel"),
    [
        ("V12.5.3.0.RKHMIXM", "miui", "stable"),
        ("v12.5.3.0.rkhmixm", "miui", "stable"),
        ("MIUI V14.0.6.0.TKFMIXM", "miui", "stable"),
        ("OS1.0.5.0.UNCMIXM", "hyperos", "stable"),
        ("OS2.0.100.0.VNCMIXM", "hyperos", "stable"),
        ("HyperOS 1.0.5.0.UNCMIXM", "hyperos", "stable"),
        ("21.3.17", "miui", "developer"),
        (" 9.3.28 ", "miui", "developer"),
        ("MIUI 21.3.17", "miui", "developer"),
        ("OS1.0.23.12.18.DEV", "hyperos", "developer"),
        ("hyperos os1.0.23.12.18.dev", "hyperos", "developer"),
    ],
)
def test_firmware_recognised_for_recovery(raw: str, os: str, channel: str) -> None:
    assert check_firmware(raw, for_unlock=False) == Firmware(raw.strip(), os, channel)


@pytest.mark.parametrize("raw", ["21.3.17", "OS1.0.23.12.18.DEV"])
def test_developer_firmware_accepted_for_unlock(raw: str) -> None:
    assert check_firmware(raw, for_unlock=True).channel == "developer"


@pytest.mark.parametrize("raw", ["V12.5.3.0.RKHMIXM", "OS1.0.5.0.UNCMIXM"])
def test_stable_firmware_refused_for_unlock(raw: str) -> None:
    with pytest.raises(FieldError) as excinfo:
        check_firmware(raw, for_unlock=True)
    message = refusal(excinfo)
    assert "stable build cannot be unlocked" in message
    assert "21.3.17" in message


@pytest.mark.parametrize(
    ("raw", "idea"),
    [
        ("", "Enter the firmware version"),
        ("21.13.40", "not a real date"),
        ("21.0.17", "not a real date"),
        ("OS1.0.23.13.18.DEV", "not a real date"),
        ("V12.5.3.RKHMIXM", "do not recognise"),
        ("Android 13", "do not recognise"),
        ("V12.5.3.0.RK", "do not recognise"),
    ],
)
def test_firmware_refused_with_examples(raw: str, idea: str) -> None:
    with pytest.raises(FieldError) as excinfo:
        check_firmware(raw, for_unlock=False)
    message = refusal(excinfo)
    assert idea in message
    assert "About phone" in message
    assert "V12.5.3.0.RKHMIXM" in message


# --- IMEI -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["490154203237518", " 49 015420 323751 8 ", "49-015420-323751-8", "4901 5420 3237 518"],
)
def test_imei_accepted(raw: str) -> None:
    assert check_imei(raw) == "490154203237518"


@pytest.mark.parametrize(
    ("raw", "idea"),
    [
        ("", "Enter the IMEI"),
        ("490154203237519", "last digit does not match"),
        ("490154203237510", "last digit does not match"),
        ("49015420323751", "you typed 14"),
        ("4901542032375180", "you typed 16"),
        ("49015420323751X", "digits only"),
    ],
)
def test_imei_refused(raw: str, idea: str) -> None:
    with pytest.raises(FieldError) as excinfo:
        check_imei(raw)
    message = refusal(excinfo)
    assert idea in message
    assert "*#06#" in message


# --- reason -----------------------------------------------------------------------------


@pytest.mark.parametrize("english", [True, False])
def test_english_reason_accepted(english: bool) -> None:
    assert check_reason(f"  {ENGLISH_REASON}\n", english=english) == ENGLISH_REASON


def test_hindi_reason_refused_for_unlock() -> None:
    with pytest.raises(FieldError) as excinfo:
        check_reason(HINDI_REASON, english=True)
    assert "English" in refusal(excinfo)


def test_hindi_reason_accepted_for_recovery() -> None:
    assert check_reason(HINDI_REASON, english=False) == HINDI_REASON


def test_english_reason_with_a_few_foreign_words_accepted() -> None:
    text = ENGLISH_REASON + " (मेरा फ़ोन)"
    assert check_reason(text, english=True) == text


@pytest.mark.parametrize(
    ("raw", "idea"),
    [
        ("", "at least 30"),
        ("I want root.", "12 characters long; write at least 30"),
        ("x" * 2001, "2001 characters long; shorten it to at most 2000"),
        ("1234567890 !!! 1234567890 ??? 123", "in words"),
    ],
)
@pytest.mark.parametrize("english", [True, False])
def test_reason_refused(raw: str, idea: str, english: bool) -> None:
    with pytest.raises(FieldError) as excinfo:
        check_reason(raw, english=english)
    assert idea in refusal(excinfo)


def test_reason_length_counts_characters_not_bytes() -> None:
    text = "अ" * 30  # 90 bytes in UTF-8, 30 characters
    assert check_reason(text, english=False) == text
    with pytest.raises(FieldError) as excinfo:
        check_reason("अ" * 29, english=False)
    assert excinfo.value.params["count"] == 29


def test_reason_limits_are_inclusive() -> None:
    assert len(check_reason("a" * 30, english=True)) == 30
    assert len(check_reason("a" * 2000, english=True)) == 2000


# --- messages ---------------------------------------------------------------------------


def test_every_message_is_one_literal_for_gettext_extraction() -> None:
    """A msgid built at run time would never reach the translators' catalogue."""
    import ast
    import inspect

    from support.rules import validation

    calls = [
        node
        for node in ast.walk(ast.parse(inspect.getsource(validation)))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "FieldError"
    ]
    assert len(calls) > 20
    for call in calls:
        assert isinstance(call.args[0], ast.Constant), ast.unparse(call)
        assert isinstance(call.args[0].value, str)
