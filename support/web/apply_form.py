"""Checking a whole application form at once.

Every field is checked, whatever the others hold, so the applicant sees every problem in
one go; the values typed are returned untouched for the page to show again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from support.config import Settings
from support.documents.storage import ANYWAY_SUFFIX, check_document, check_photo
from support.rules import validation, zones
from support.rules.catalogue import Device
from support.rules.kinds import Kind
from support.rules.validation import FieldError
from support.web.forms import FormInput
from support.workflow import ApplicationInput, Upload

TEXT_FIELDS = ("account_id", "country", "phone", "email", "model", "firmware", "imei", "reason")
# Asked only where the country keeps several times (rules/zones.py); never on an appeal.
ZONE_FIELD = "time_zone"


@dataclass
class Checked:
    values: dict[str, str]
    errors: dict[str, FieldError] = field(default_factory=dict)
    data: ApplicationInput | None = None
    uploads: list[Upload] = field(default_factory=list)
    time_zone: str = ""  # the zone chosen, as posted (kept apart from ``values``' facts)
    # The photos the applicant chose to send anyway, though they looked too poor to read:
    # their boxes stay ticked when the form comes back for another reason.
    anyway: set[str] = field(default_factory=set)


def _check(errors: dict[str, FieldError], name: str, check: Callable[[], object]) -> object:
    try:
        return check()
    except FieldError as error:
        errors[name] = error
        return None


async def check_application(
    kind: Kind, form: FormInput, settings: Settings, locale: str,
    fixed: Mapping[str, str] | None = None, ask_about_photos: bool = False,
) -> Checked:
    """``fixed``: facts that are not the applicant's to give (an appeal's account and
    contacts, the refused application's): taken as they are, whatever the form holds.
    ``ask_about_photos``: a photo of paper that looks too poor to read is sent back with
    advice unless its "send anyway" box is ticked (the pages' form; the API sends as is)."""
    given = dict(fixed or {})
    values = {name: given.get(name, form.get(name)) for name in TEXT_FIELDS}
    result = Checked(values=values)
    errors = result.errors
    v = values
    unlock = kind.unlock_rules

    def fact(name: str, check: Callable[[], object]) -> object:
        return given[name] if name in given else _check(errors, name, check)

    account_id = fact("account_id", lambda: validation.check_account_id(v["account_id"]))
    country = fact("country", lambda: validation.check_country(v["country"]))
    chosen = country if isinstance(country, str) else None
    result.time_zone = form.get(ZONE_FIELD)
    time_zone = (
        _check(errors, ZONE_FIELD, lambda: zones.check_zone(
            str(chosen), result.time_zone, datetime.now(UTC), locale))
        if chosen and "country" not in given else None
    )
    phone = fact("phone", lambda: validation.check_phone(v["phone"], chosen))
    email = fact("email", lambda: validation.check_email(v["email"]))
    device = _check(errors, "model", lambda: validation.check_model(v["model"], for_unlock=unlock))
    firmware = _check(
        errors, "firmware", lambda: validation.check_firmware(v["firmware"], for_unlock=unlock)
    )
    imei = (
        _check(errors, "imei", lambda: validation.check_imei(v["imei"]))
        if kind.needs_imei else None
    )
    reason = _check(errors, "reason", lambda: validation.check_reason(v["reason"], english=unlock))
    for slot in kind.documents:
        staged = form.files.get(slot.name)
        if staged is None:
            if slot.required:
                errors[slot.name] = FieldError("Choose a file for “%(document)s”.",
                                               document=slot.label, error_code="required")
            continue
        asked = ask_about_photos and slot.photo_of_paper
        if asked and form.get(slot.name + ANYWAY_SUFFIX):
            result.anyway.add(slot.name)
        try:
            content_type = await check_document(
                staged, settings.max_file_bytes, settings.max_image_pixels
            )
            if asked and slot.name not in result.anyway:
                await check_photo(staged, content_type, slot.name)
        except FieldError as error:
            errors[slot.name] = error
        else:
            result.uploads.append(Upload(staged=staged, content_type=content_type))
    if errors:
        return result
    assert isinstance(device, Device)
    assert isinstance(firmware, validation.Firmware)
    result.data = ApplicationInput(
        kind=kind, account_id=str(account_id), country=str(country), phone=str(phone),
        email=str(email), model=device.name, firmware=firmware.text,
        firmware_channel=firmware.channel, imei=str(imei) if imei else None,
        reason=str(reason), locale=locale,
        time_zone=time_zone if isinstance(time_zone, str) else None,
    )
    return result
