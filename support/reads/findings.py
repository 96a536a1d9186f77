"""What the documents say beside what the applicant typed (issue 26): for each fact a
document speaks to, what was read and where, and a word: ``matches``, ``differs`` or
``not found``. The desk never decides from this; the reviewer reads it.

The findings themselves are the worker's (``workflow.readings``), kept on their
``Document`` row: erased and purged with it, never logged, never exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from support.data.models import Application, Document
from support.rules.catalogue import find_device

MATCHES, DIFFERS, NOT_FOUND = "matches", "differs", "not found"
READ_PURPOSES = ("receipt", "box_photo")  # the documents that carry a label or a receipt
# What each kind of document is expected to show; a fact it does not show is "not found".
EXPECTED = {"receipt": ("model", "purchase_date"), "box_photo": ("imei",)}
FACTS = {"imei": "IMEI", "model": "Model", "purchase_date": "Purchase date", "shop": "Shop"}
PLACES = {"receipt": "on the receipt", "box_photo": "on the box label"}


@dataclass(frozen=True)
class Line:
    fact: str  # the fact's name as the page shows it
    found: str  # the value read, as the page shows it ("" when not found)
    where: str  # which document, and where on it
    verdict: str  # MATCHES, DIFFERS, NOT_FOUND, or "" (said, nothing to compare: the shop)
    document_id: int
    new: bool  # from a document sent since the reviewer asked for more


def _date_words(value: str) -> str:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return value
    return f"{day.day} {day:%B %Y}"


def _verdict(application: Application, fact: str, value: str) -> str:
    if fact == "imei":
        if not application.imei:
            return ""
        return MATCHES if value == application.imei else DIFFERS
    if fact == "model":
        typed = find_device(application.model)
        typed_name = typed.name if typed is not None else application.model
        return MATCHES if value.casefold() == typed_name.casefold() else DIFFERS
    if fact == "purchase_date":
        try:
            bought = date.fromisoformat(value)
        except ValueError:
            return ""
        # Bought before the application was made: what a real receipt shows.
        return MATCHES if bought <= application.created_at.date() else DIFFERS
    return ""


def compare(application: Application, documents: list[Document]) -> tuple[list[Line], int]:
    """The lines for the page, and how many readable documents are still to be read."""
    lines: list[Line] = []
    waiting = 0
    asked = application.info_requested_at
    for document in documents:
        if document.purpose not in READ_PURPOSES or document.content_type.startswith("unsafe:"):
            continue
        if document.read_at is None:
            waiting += 1
            continue
        new = asked is not None and document.created_at > asked
        place = PLACES.get(document.purpose, "in the document")
        found: list[dict[str, Any]] = list(document.findings or [])
        for item in found:
            fact, value = str(item.get("fact", "")), str(item.get("value", ""))
            if fact not in FACTS:
                continue
            shown = _date_words(value) if fact == "purchase_date" else value
            where = f"{place} ({item.get('where', '')}), {document.original_name}"
            lines.append(Line(FACTS[fact], shown, where, _verdict(application, fact, value),
                              document.id, new))
        facts_found = {str(item.get("fact")) for item in found}
        for fact in EXPECTED.get(document.purpose, ()):
            if fact == "imei" and not application.imei:
                continue
            if fact not in facts_found:
                lines.append(Line(FACTS[fact], "", f"{place}, {document.original_name}",
                                  NOT_FOUND, document.id, new))
    order = list(FACTS.values())
    lines.sort(key=lambda line: (order.index(line.fact), line.document_id))
    return lines, waiting
