"""Properties of the field checks (issue 7), on generated input.

Whatever an applicant types or pastes, and whatever a script sends, a check either
returns a normalised value that the check accepts again unchanged and that fits its
database column, or refuses it with a message from the translators' catalogue. No other
exception ever escapes to become a 500 page. Valid values built from their definitions
(Luhn IMEIs, phonenumbers' example numbers for every country, the device catalogue, the
firmware grammar) are accepted in every form a person writes them.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from support.config import Settings
from support.data.models import Application
from support.documents.storage import StagedFile, check_document
from support.rules import catalogue, countries, zones
from support.rules.kinds import KINDS, Kind
from support.rules.validation import (
    FieldError,
    check_account_id,
    check_country,
    check_email,
    check_firmware,
    check_imei,
    check_model,
    check_phone,
    check_reason,
)
from support.web.apply_form import TEXT_FIELDS, ZONE_FIELD, check_application
from support.web.forms import FormInput
from tests.conftest import PDF_BYTES, jpeg_bytes
from tests.fuzz_inputs import (
    AWKWARD,
    DIGITS,
    PROFILE,
    REASON_WORDS,
    SPACES,
    in_script,
    luhn_digit,
    msgids,
    phone_examples,
)

FIELDS = ("account_id", "country", "phone", "email", "model", "firmware", "imei", "reason")
DEVICES = catalogue.devices()
CODES = sorted(countries.country_codes())
E164 = phonenumbers.PhoneNumberFormat.E164

# --- what a refusal must look like ------------------------------------------------------


def assert_readable(error: FieldError) -> str:
    """A msgid the translators have, whose placeholders its parameters fill exactly."""
    assert error.message in msgids(), f"not in messages.pot: {error.message!r}"
    text = error.message % error.params if error.params else error.message
    assert "%(" not in text, text
    return text


# --- strategies -------------------------------------------------------------------------

any_char = st.characters(exclude_categories=("Cs",))
awkward_char = st.sampled_from(AWKWARD)
some_char = st.one_of(any_char, awkward_char)
padding = st.text(alphabet=SPACES, max_size=3)
scripts = st.sampled_from(sorted(DIGITS))


def digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=low, max_size=high)


account_ids = digits(5, 20)
# An account ID as the phone shows it: no zero in front (zeros typed there are dropped).
canonical_account_ids = st.builds(lambda first, rest: first + rest,
                                  st.sampled_from("123456789"), digits(4, 19))
country_codes = st.sampled_from(CODES)
examples = st.sampled_from(phone_examples())
phones = st.builds(
    lambda example, fmt: phonenumbers.format_number(example[1], fmt), examples,
    st.sampled_from([phonenumbers.PhoneNumberFormat.INTERNATIONAL, E164]),
)
label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
emails = st.builds(
    lambda local, host, tld: f"{local}@{host}.{tld}",
    st.lists(label, min_size=1, max_size=3).map(".".join), label,
    st.sampled_from(["com", "in", "org", "ru", "de", "io", "co.in"]),
)
models = st.sampled_from([d.name for d in DEVICES] + [d.codename for d in DEVICES])
unlock_models = st.sampled_from([d.name for d in DEVICES if d.unlock_offered])
small = st.integers(0, 99).map(str)
letters = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=9)
months, days = st.integers(1, 12).map(str), st.integers(1, 31).map(str)
miui_stable = st.builds(lambda a, b, c, d, tail: f"V{a}.{b}.{c}.{d}.{tail}",
                        small, small, small, small, letters)
hyperos_stable = st.builds(lambda a, b, c, d, tail: f"OS{a}.{b}.{c}.{d}.{tail}",
                           small, small, small, small, letters)
weekly = st.builds(lambda y, m, d: f"{y}.{m}.{d}", small, months, days)
hyperos_dev = st.builds(lambda a, b, y, m, d: f"OS{a}.{b}.{y}.{m}.{d}.DEV",
                        small, small, small, months, days)
stable_builds = st.one_of(miui_stable, hyperos_stable)
developer_builds = st.one_of(weekly, hyperos_dev)
imeis = digits(14, 14).map(lambda body: body + luhn_digit(body))
english_reasons = st.lists(st.sampled_from(REASON_WORDS), min_size=8, max_size=300).map(
    " ".join).filter(lambda text: 30 <= len(text) <= 2000)

VALID: dict[str, st.SearchStrategy[str]] = {
    "account_id": account_ids,
    "country": country_codes,
    "phone": phones,
    "email": emails,
    "model": models,
    "firmware": st.one_of(stable_builds, developer_builds),
    "imei": imeis,
    "reason": english_reasons,
}


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """A valid value with the slips of a hurried hand, a paste, or a script."""
    text = draw(base)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        operation = draw(st.sampled_from(
            ["insert", "awkward", "delete", "case", "pad", "script", "repeat", "cut"]))
        if operation == "insert":
            text = text[:at] + draw(any_char) + text[at:]
        elif operation == "awkward":
            text = text[:at] + draw(awkward_char) + text[at:]
        elif operation == "delete":
            text = text[:at] + text[at + 1:]
        elif operation == "case":
            text = text.swapcase()
        elif operation == "pad":
            text = draw(padding) + text + draw(padding)
        elif operation == "script":
            text = in_script(text, draw(scripts))
        elif operation == "repeat":
            text = text * draw(st.integers(2, 50))
        else:
            text = text[:at]
    return text


arbitrary = st.text(alphabet=some_char, max_size=80)
very_long = st.builds(lambda piece, times: piece * times,
                      st.text(alphabet=some_char, min_size=1, max_size=8), st.integers(300, 8000))
any_valid = st.one_of(*VALID.values())


def field_text(field: str) -> st.SearchStrategy[str]:
    """Anything at all, the field's own valid values, and both a little broken."""
    return st.one_of(arbitrary, very_long, VALID[field], mutated(VALID[field]),
                     mutated(any_valid))


# --- running a check --------------------------------------------------------------------

Outcome = tuple[object, str]  # what the check returned, and the text a page would keep


def run(field: str, raw: str, country: str | None, unlock: bool) -> Outcome:
    if field == "account_id":
        value = check_account_id(raw)
        return value, value
    if field == "country":
        value = check_country(raw)
        return value, value
    if field == "phone":
        value = check_phone(raw, country)
        return value, value
    if field == "email":
        value = check_email(raw)
        return value, value
    if field == "model":
        device = check_model(raw, for_unlock=unlock)
        return device, device.name
    if field == "firmware":
        firmware = check_firmware(raw, for_unlock=unlock)
        return firmware, firmware.text
    if field == "imei":
        value = check_imei(raw)
        return value, value
    value = check_reason(raw, english=unlock)
    return value, value


def column_limit(field: str) -> int | None:
    return getattr(Application._meta.fields_map[field], "max_length", None)


def assert_clean(field: str, text: str) -> None:
    """What is stored is what a reviewer can read: no control characters (PostgreSQL
    refuses NUL outright, and the others hide or garble text), one line except in the
    reason, and short enough for its column."""
    limit = column_limit(field)
    assert limit is None or len(text) <= limit, (field, len(text))
    allowed = "\n\r\t" if field == "reason" else ""
    hidden = [ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in allowed]
    assert not hidden, (field, text)
    if field != "reason":
        assert text == text.strip(), (field, text)


# --- every check ------------------------------------------------------------------------


@pytest.mark.parametrize("field", FIELDS)
@settings(PROFILE, max_examples=250)
@given(data=st.data())
def test_a_check_normalises_for_good_or_refuses_in_words(field: str, data: st.DataObject) -> None:
    raw = data.draw(field_text(field), label="raw")
    country = data.draw(st.one_of(st.none(), country_codes, arbitrary), label="country")
    unlock = data.draw(st.booleans(), label="unlock")
    try:
        outcome = run(field, raw, country, unlock)
    except FieldError as error:
        assert_readable(error)
        return
    result, text = outcome
    assert run(field, text, country, unlock) == outcome, "not idempotent"
    assert_clean(field, text)


# --- account ID -------------------------------------------------------------------------


@settings(PROFILE, max_examples=100)
@given(canonical_account_ids, scripts, padding, padding)
def test_account_ids_are_accepted_in_any_digits(number: str, script: str, before: str,
                                               after: str) -> None:
    assert check_account_id(before + in_script(number, script) + after) == number


@settings(PROFILE, max_examples=100)
@given(canonical_account_ids, st.integers(1, 15), scripts)
def test_zeros_in_front_of_an_account_id_are_dropped(number: str, zeros: int,
                                                     script: str) -> None:
    """One account, one value: "04018222164" is account 4018222164 (issue 19)."""
    typed = "0" * zeros + number
    if len(typed) > 20:  # the typed length is still checked: too long is refused
        with pytest.raises(FieldError) as refused:
            check_account_id(in_script(typed, script))
        assert refused.value.params["count"] == len(typed)
        return
    assert check_account_id(in_script(typed, script)) == number


@settings(PROFILE, max_examples=60)
@given(digits(0, 4), st.integers(1, 16), scripts)
def test_an_account_id_short_without_its_zeros_is_refused_with_that_count(
    significant: str, zeros: int, script: str,
) -> None:
    number = significant.lstrip("0")
    typed = "0" * max(zeros, 5 - len(number)) + number  # five digits or more as typed
    with pytest.raises(FieldError) as refused:
        check_account_id(in_script(typed, script))
    assert refused.value.params["count"] == len(number)
    assert "Zeros at the start" in assert_readable(refused.value)


@settings(PROFILE, max_examples=60)
@given(st.one_of(digits(1, 4), digits(21, 60)), scripts)
def test_account_ids_of_the_wrong_length_are_refused_with_the_count(number: str,
                                                                   script: str) -> None:
    with pytest.raises(FieldError) as refused:
        check_account_id(in_script(number, script))
    assert refused.value.params["count"] == len(number)
    assert_readable(refused.value)


# --- country ----------------------------------------------------------------------------


@settings(PROFILE, max_examples=60)
@given(country_codes, padding, st.booleans())
def test_countries_are_accepted_in_any_case(code: str, pad: str, lower: bool) -> None:
    assert check_country(pad + (code.lower() if lower else code) + pad) == code


# --- phone ------------------------------------------------------------------------------

SEPARATORS = [" ", "-", ".", "/", "", "\xa0"]


def varied(text: str, separator: str, script: str, pad: str) -> str:
    return pad + in_script(text.replace(" ", separator), script) + pad


@settings(PROFILE, max_examples=300)
@given(examples, st.sampled_from(SEPARATORS), scripts, padding, country_codes)
def test_example_numbers_normalise_to_one_e164_nationally_and_internationally(
    example: tuple[str, phonenumbers.PhoneNumber], separator: str, script: str, pad: str,
    elsewhere: str,
) -> None:
    region, number = example
    e164 = phonenumbers.format_number(number, E164)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    written = [
        (national, region),
        (international, region),
        (international, None),
        (international, elsewhere),  # the number's own code wins over the country chosen
        ("00" + e164[1:], None),
        (e164, region),
    ]
    for text, country in written:
        assert check_phone(varied(text, separator, script, pad), country) == e164, (text, country)


@settings(PROFILE, max_examples=100)
@given(examples, st.integers(1, 3), st.booleans())
def test_a_number_cut_short_or_padded_is_refused_in_words(
    example: tuple[str, phonenumbers.PhoneNumber], count: int, longer: bool,
) -> None:
    region, number = example
    e164 = phonenumbers.format_number(number, E164)
    text = e164 + "9" * (count + 6) if longer else e164[: max(2, len(e164) - count - 4)]
    try:
        value = check_phone(text, region)
    except FieldError as error:
        assert_readable(error)
    else:  # some plans allow several lengths: then it is still a number of that plan
        assert phonenumbers.is_valid_number(phonenumbers.parse(value))


# --- email ------------------------------------------------------------------------------


@settings(PROFILE, max_examples=150)
@given(emails, padding, st.booleans())
def test_emails_keep_their_mailbox_and_lower_their_domain(address: str, pad: str,
                                                         shout: bool) -> None:
    local, domain = address.split("@")
    typed = f"{local}@{domain.upper() if shout else domain}"
    assert check_email(pad + typed + pad) == f"{local}@{domain}"


# --- model ------------------------------------------------------------------------------


@st.composite
def typed_model(draw: st.DrawFn) -> tuple[catalogue.Device, str]:
    device = draw(st.sampled_from(DEVICES))
    name = draw(st.sampled_from([device.name, device.codename]))
    words = [
        "".join(ch.upper() if draw(st.booleans()) else ch.lower() for ch in word)
        for word in name.split()
    ]
    gaps = [draw(st.text(alphabet=" \t\u3000\xa0", min_size=1, max_size=3)) for _ in words]
    typed = "".join(gap + word for gap, word in zip(gaps, words, strict=True)).strip()
    if name == device.name and not name.casefold().startswith("xiaomi") and draw(st.booleans()):
        typed = "Xiaomi " + typed
    return device, draw(padding) + typed + draw(padding)


@settings(PROFILE, max_examples=200)
@given(typed_model())
def test_models_are_found_by_name_or_codename_however_typed(found: tuple[catalogue.Device,
                                                                        str]) -> None:
    device, typed = found
    assert check_model(typed, for_unlock=False) == device
    if device.unlock_offered:
        assert check_model(typed, for_unlock=True) == device
    else:
        with pytest.raises(FieldError) as refused:
            check_model(typed, for_unlock=True)
        assert "not offered" in assert_readable(refused.value)


# --- firmware ---------------------------------------------------------------------------

STABLE_REFUSED = (
    "%(firmware)s is a stable build, and a stable build cannot be unlocked. Install a weekly "
    "(developer) build first: its version looks like a date, for example 21.3.17, then apply "
    "again with that version."
)


@settings(PROFILE, max_examples=150)
@given(st.one_of(st.tuples(miui_stable, st.just("miui")),
                 st.tuples(hyperos_stable, st.just("hyperos"))),
       st.booleans(), scripts, padding)
def test_stable_builds_are_recognised_and_refused_for_unlocking(
    build: tuple[str, str], lower: bool, script: str, pad: str,
) -> None:
    text, os_name = build
    typed = pad + in_script(text.lower() if lower else text, script) + pad
    firmware = check_firmware(typed, for_unlock=False)
    assert (firmware.os, firmware.channel) == (os_name, "stable")
    assert firmware.text.upper() == text  # the applicant's own case, plain digits
    with pytest.raises(FieldError) as refused:
        check_firmware(typed, for_unlock=True)
    assert refused.value.message == STABLE_REFUSED
    assert_readable(refused.value)


@settings(PROFILE, max_examples=150)
@given(st.one_of(st.tuples(weekly, st.just("miui")), st.tuples(hyperos_dev, st.just("hyperos"))),
       st.sampled_from(["", "MIUI ", "HyperOS ", "Xiaomi HyperOS "]), scripts, padding)
def test_weekly_builds_are_developer_builds_in_any_digits(
    build: tuple[str, str], prefix: str, script: str, pad: str,
) -> None:
    text, os_name = build
    firmware = check_firmware(pad + prefix + in_script(text, script) + pad, for_unlock=True)
    assert firmware.channel == "developer"
    assert firmware.os == os_name
    assert firmware.text == prefix + text


@settings(PROFILE, max_examples=100)
@given(small, st.one_of(st.integers(13, 99), st.just(0)).map(str), days)
def test_weekly_builds_on_no_real_date_are_refused_as_such(year: str, month: str,
                                                           day: str) -> None:
    with pytest.raises(FieldError) as refused:
        check_firmware(f"{year}.{month}.{day}", for_unlock=True)
    assert "not a real date" in assert_readable(refused.value)


@settings(PROFILE, max_examples=100)
@given(st.one_of(stable_builds, developer_builds),
       st.lists(st.tuples(st.integers(0, 30), st.sampled_from(SPACES)), max_size=12),
       st.sampled_from(["", "MIUI", "hyperos", "Xiaomi \u3000HyperOS"]))
def test_spaces_pasted_into_a_build_are_not_kept(build: str, spaces: list[tuple[int, str]],
                                                 words: str) -> None:
    typed = build
    for at, space in spaces:
        typed = typed[:at] + space + typed[at:]
    if words:
        typed = f"{words} {typed}"
    firmware = check_firmware(typed, for_unlock=False)
    assert firmware.text == " ".join([*words.split(), build])


@settings(PROFILE, max_examples=40)
@given(st.integers(50, 400), st.sampled_from(["V{}.1.2.0.RKHMIXM", "OS1.{}.23.12.18.DEV"]))
def test_a_build_too_long_for_any_phone_is_refused(digit_count: int, pattern: str) -> None:
    with pytest.raises(FieldError) as refused:
        check_firmware(pattern.format("1" * digit_count), for_unlock=False)
    assert "do not recognise" in assert_readable(refused.value)


# --- IMEI -------------------------------------------------------------------------------


@st.composite
def typed_imei(draw: st.DrawFn) -> tuple[str, str]:
    imei = draw(imeis)
    cuts = sorted(draw(st.sets(st.integers(1, 14), max_size=4)))
    pieces, last = [], 0
    for cut in cuts:
        pieces.append(imei[last:cut])
        last = cut
    pieces.append(imei[last:])
    typed = draw(st.sampled_from(["-", " ", "\u3000"])).join(pieces)
    return imei, draw(padding) + in_script(typed, draw(scripts)) + draw(padding)


@settings(PROFILE, max_examples=200)
@given(typed_imei())
def test_luhn_valid_imeis_are_accepted_however_grouped(found: tuple[str, str]) -> None:
    imei, typed = found
    assert check_imei(typed) == imei


LUHN_REFUSED = (
    "This IMEI is not valid: its last digit does not match the others, so a digit was "
    "probably mistyped. Check the number: dial *#06# on the phone to see it."
)


@settings(PROFILE, max_examples=300)
@given(imeis, st.integers(0, 14), st.integers(1, 9))
def test_any_single_digit_change_is_refused(imei: str, position: int, shift: int) -> None:
    wrong = str((int(imei[position]) + shift) % 10)
    typo = imei[:position] + wrong + imei[position + 1:]
    with pytest.raises(FieldError) as refused:
        check_imei(typo)
    assert refused.value.message == LUHN_REFUSED


@settings(PROFILE, max_examples=60)
@given(digits(1, 40).filter(lambda text: len(text) != 15))
def test_imeis_of_the_wrong_length_are_refused_with_the_count(number: str) -> None:
    with pytest.raises(FieldError) as refused:
        check_imei(number)
    assert refused.value.params == {"length": 15, "count": len(number)}


# --- reason -----------------------------------------------------------------------------

DEVANAGARI_WORDS = ("मुझे", "अपने", "फ़ोन", "पर", "कस्टम", "रोम", "इंस्टॉल", "करना", "है")


@settings(PROFILE, max_examples=100)
@given(english_reasons, padding)
def test_english_reasons_of_a_fair_length_are_accepted_for_every_kind(text: str,
                                                                     pad: str) -> None:
    assert check_reason(pad + text + pad, english=True) == text
    assert check_reason(pad + text + pad, english=False) == text


@settings(PROFILE, max_examples=80)
@given(st.lists(st.sampled_from(DEVANAGARI_WORDS), min_size=10, max_size=40).map(" ".join))
def test_reasons_in_another_script_are_refused_only_where_english_is_needed(text: str) -> None:
    assert check_reason(text, english=False) == text
    with pytest.raises(FieldError) as refused:
        check_reason(text, english=True)
    assert "English" in assert_readable(refused.value)


@settings(PROFILE, max_examples=80)
@given(st.one_of(st.text(alphabet="abc ", min_size=1, max_size=29),
                 st.text(alphabet="abc ", min_size=2001, max_size=2100)))
def test_reasons_too_short_or_too_long_are_refused_with_the_count(text: str) -> None:
    text = text.strip() or "a"
    with pytest.raises(FieldError) as refused:
        check_reason(text, english=True)
    assert refused.value.params["count"] == len(text)
    assert_readable(refused.value)


# --- the whole form ---------------------------------------------------------------------


def _staged(folder: Path, name: str, content: bytes, *, too_large: bool = False) -> StagedFile:
    path = folder / name
    path.write_bytes(content)
    return StagedFile(field="receipt", path=path, original_name=name, size=len(content),
                      sha256=hashlib.sha256(content).hexdigest(), too_large=too_large,
                      head=content[:16])


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StagedFile]:
    """Files as the form reader leaves them; the checks only read them, so they are shared."""
    folder = tmp_path_factory.mktemp("staged")
    jpeg = jpeg_bytes()
    return {
        "jpeg": _staged(folder, "receipt.jpg", jpeg),
        "pdf": _staged(folder, "receipt.pdf", PDF_BYTES),
        "cut": _staged(folder, "cut.jpg", jpeg[: len(jpeg) // 2]),
        "empty": _staged(folder, "empty.jpg", b""),
        "text": _staged(folder, "notes.txt", b"hello, this is not a photo"),
        "huge": _staged(folder, "huge.jpg", jpeg, too_large=True),
    }


def _valid_for(kind: Kind) -> dict[str, st.SearchStrategy[str]]:
    """Values every check of this kind accepts (the country set where the phone is)."""
    return {
        **VALID,
        "model": unlock_models if kind.unlock_rules else models,
        "firmware": developer_builds if kind.unlock_rules else VALID["firmware"],
    }


@st.composite
def application_forms(draw: st.DrawFn, kind: Kind) -> dict[str, list[str]]:
    valid = _valid_for(kind)
    region, number = draw(examples)
    fields: dict[str, list[str]] = {}
    broken = draw(st.one_of(st.just(frozenset()), st.sets(st.sampled_from(TEXT_FIELDS))))
    for name in TEXT_FIELDS:
        how = draw(st.sampled_from(["mutated", "arbitrary", "missing", "twice"])) \
            if name in broken else "valid"
        if name == "country":
            value = region if how == "valid" else draw(field_text(name))
        elif name == "phone":
            value = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL) \
                if how == "valid" else draw(field_text(name))
        elif how == "valid":
            value = draw(valid[name])
        elif how == "mutated":
            value = draw(mutated(valid[name]))
        else:
            value = draw(field_text(name))
        if how == "missing":
            continue
        fields[name] = [value, draw(arbitrary)] if how == "twice" else [value]
    # The applicant's zone, asked where the country keeps several times: one of its own,
    # another country's, or arbitrary text (rules/zones.py check_zone).
    zone = draw(st.sampled_from(["valid", "arbitrary", "missing"]))
    if zone == "valid" and zones.country_zones(region):
        fields[ZONE_FIELD] = [draw(st.sampled_from(zones.country_zones(region)))]
    elif zone == "arbitrary":
        fields[ZONE_FIELD] = [draw(field_text("country"))]
    if draw(st.booleans()):
        fields[draw(st.text(alphabet=some_char, max_size=12))] = [draw(arbitrary)]
    return fields


def _as_form(data: object) -> dict[str, list[str]]:
    values = {name: getattr(data, name) or "" for name in (*TEXT_FIELDS, ZONE_FIELD)}
    return {name: [value] for name, value in values.items()}


SETTINGS = Settings(data_dir=Path("/nonexistent"), database_url="sqlite://:memory:",
                    secret_key="k" * 40)
FILE_CHOICES = ["jpeg", "pdf", "cut", "empty", "text", "huge", None]


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
@settings(PROFILE, max_examples=120)
@given(data=st.data())
async def test_the_whole_form_is_checked_at_once_and_never_crashes(
    kind: Kind, data: st.DataObject, staged: dict[str, StagedFile],
) -> None:
    fields = data.draw(application_forms(kind), label="fields")
    files = {}
    for slot in kind.documents:
        choice = data.draw(st.one_of(st.just("jpeg"), st.sampled_from(FILE_CHOICES)),
                           label=slot.name)
        if choice is not None:
            files[slot.name] = staged[choice]
    form = FormInput(fields=fields, files=files)
    checked = await check_application(kind, form, SETTINGS, locale="en")

    assert checked.values == {name: form.get(name) for name in TEXT_FIELDS}  # kept as typed
    assert (checked.data is None) == bool(checked.errors)
    assert set(checked.errors) <= set(kind.fields) | {slot.name for slot in kind.documents} \
        | {ZONE_FIELD}
    for error in checked.errors.values():
        assert_readable(error)
    event("accepted" if checked.data else "refused")
    if checked.data is None:
        return
    for name, value in _as_form(checked.data).items():
        assert_clean(name, value[0])
    again = await check_application(kind, FormInput(fields=_as_form(checked.data), files=files),
                                    SETTINGS, locale="en")
    assert again.data == checked.data, "the form's own values are not accepted unchanged"


CHECKS: dict[str, Callable[..., object]] = {
    "account_id": check_account_id, "country": check_country, "phone": check_phone,
    "email": check_email, "model": check_model, "firmware": check_firmware,
    "imei": check_imei, "reason": check_reason,
}


def test_every_field_of_the_form_has_its_property() -> None:
    """A check added to the form without a property here would go untested."""
    assert set(FIELDS) == set(TEXT_FIELDS) == set(CHECKS)


# --- a photo cut off anywhere -----------------------------------------------------------

PHOTO = jpeg_bytes()


@settings(PROFILE, max_examples=200)
@given(st.integers(3, len(PHOTO) - 1))
async def test_a_photo_cut_off_anywhere_is_refused_as_damaged(length: int) -> None:
    """A dropped connection or a bad save leaves a JPEG without its end: the structure is
    walked to its end marker, so this holds without decoding the image data (which the
    worker does later, images.check_readable says why)."""
    cut = PHOTO[:length]
    staged = StagedFile(field="receipt", original_name="receipt.jpg", size=len(cut),
                        sha256=hashlib.sha256(cut).hexdigest(), too_large=False,
                        head=cut[:16], content=cut)
    with pytest.raises(FieldError) as refused:
        await check_document(staged, SETTINGS.max_file_bytes)
    assert "damaged or incomplete" in assert_readable(refused.value)


def _scan_end_by_hand(data: bytes, pos: int) -> int | None:
    """The rule as ITU T.81 states it, byte by byte: the oracle for ``_skip_scan``."""
    for index in range(pos, len(data) - 1):
        following = data[index + 1]
        if data[index] == 0xFF and not (following == 0x00 or 0xD0 <= following <= 0xD7):
            return index
    return None


@settings(max_examples=2000)
@given(st.lists(st.sampled_from([0xFF, 0x00, 0xD0, 0xD7, 0xD8, 0xD9, 0x41, 0xCF]),
                max_size=16).map(bytes), st.integers(min_value=0, max_value=16))
def test_a_scan_ends_at_the_first_marker_that_is_not_stuffing_or_a_restart(data, pos):
    from support.documents.images import _skip_scan
    from support.documents.refusals import Refused

    pos = min(pos, len(data))
    try:
        found: int | None = _skip_scan(data, pos)
    except Refused:
        found = None
    assert found == _scan_end_by_hand(data, pos)
