"""The canned responses a desk keeps: seeded from ``rules.responses`` the first time anyone
asks (so a new desk is usable at once), saved by admins, and offered to a reviewer in the
language the applicant will read.

A refusal's heading is its reason, so its text must be about that reason: ``misfit`` finds a
message that is word for word the canned text of another reason (the reason changed and the
text did not follow), which the desk then refuses to send."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from support.data.models import CannedResponse
from support.platform import i18n
from support.rules.responses import DEFAULTS


async def ensure_defaults() -> None:
    if not await CannedResponse.exists():
        await CannedResponse.bulk_create([CannedResponse(**row) for row in DEFAULTS])


def text_in(response: CannedResponse, locale: str) -> str:
    """The response in ``locale``; empty where that language's version is missing."""
    if locale == i18n.DEFAULT:
        return response.body
    return str((response.translations or {}).get(locale, "")).strip()


def missing_languages(response: CannedResponse) -> list[str]:
    return [code for code in i18n.LANGUAGES if not text_in(response, code)]


@dataclass(frozen=True)
class Option:
    """A canned text as the decision form offers it."""

    id: int
    action: str
    reason_code: str | None
    title: str
    text: str  # in the applicant's language; "" where that version is missing
    english: str  # for a reviewer who does not read the applicant's language

    @property
    def missing(self) -> bool:
        return not self.text


async def for_kind(kind: str) -> list[CannedResponse]:
    """The active responses a reviewer may start a decision on this kind from."""
    await ensure_defaults()
    return await CannedResponse.filter(kind=kind, active=True).order_by("action", "title", "id")


async def options(kind: str, locale: str) -> list[Option]:
    return [Option(id=row.id, action=row.action, reason_code=row.reason_code, title=row.title,
                   text=text_in(row, locale), english=row.body)
            for row in await for_kind(kind)]


def _same(a: str, b: str) -> bool:
    """Equal but for whitespace: a textarea may change line endings and trailing spaces."""
    return re.sub(r"\s+", " ", a).strip() == re.sub(r"\s+", " ", b).strip()


def misfit(choices: list[Option], reason_code: str | None, text: str) -> Option | None:
    """The canned refusal of *another* reason that ``text`` is, untouched, in any language;
    None if the text is the chosen reason's own, or the reviewer's words."""
    every_text = [(option, version) for option in choices if option.action == "reject"
                  for version in (option.text, option.english) if version]
    if any(o.reason_code == reason_code and _same(v, text) for o, v in every_text):
        return None
    return next((o for o, v in every_text if o.reason_code != reason_code and _same(v, text)),
                None)


async def every_response() -> list[CannedResponse]:
    await ensure_defaults()
    return await CannedResponse.all().order_by("kind", "action", "title")


async def save(values: dict[str, Any], response_id: int | None = None) -> bool:
    """A new response, or the changed one; False if ``response_id`` names none."""
    if response_id is None:
        await CannedResponse.create(**values)
        return True
    return bool(await CannedResponse.filter(id=response_id).update(**values))
