"""Why a document is refused, and the applicant's words for each reason.

The format checks (``images``, ``pdfs``, ``polyglots``) know bytes, not people: they raise
``Refused`` with a reason and a detail for the log. The upload turns the reason into a
message next to the field (each one a literal ``FieldError`` so extraction finds it, with
the API's code for it, ``file_<reason>``); the worker and the reviewer's document route
record it as "could not be made safe".
"""

from __future__ import annotations

from enum import StrEnum

from support.rules.validation import FieldError


class Reason(StrEnum):
    DAMAGED = "damaged"
    TOO_MANY_PIXELS = "too_many_pixels"
    HIDDEN = "hidden"  # a polyglot: another format inside or after this one
    SCRIPTS = "scripts"  # PDF JavaScript, launch actions, actions that run by themselves
    ATTACHMENTS = "attachments"  # PDF embedded files, file attachment annotations
    PASSWORD = "password"  # noqa: S105 - a PDF that cannot be opened without one


# For reviewers and the log (English only, like every reviewer page).
DESCRIPTIONS = {
    Reason.DAMAGED: "damaged or unreadable",
    Reason.TOO_MANY_PIXELS: "too many pixels to decode safely",
    Reason.HIDDEN: "another file hidden inside it",
    Reason.SCRIPTS: "scripts or actions that run by themselves",
    Reason.ATTACHMENTS: "files attached inside it",
    Reason.PASSWORD: "protected by a password",
}


class Refused(Exception):
    """The file is not one we accept. ``detail`` names what was found (never content)."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


def field_error(refusal: Refused, max_pixels: int) -> FieldError:
    """The message shown next to the file field, in the applicant's language later."""
    reason = refusal.reason
    if reason is Reason.TOO_MANY_PIXELS:
        return FieldError(
            "This picture is too large: it has more than %(limit)s million pixels. Take the "
            "photo again at a lower resolution, or send a screenshot of it.",
            limit=max_pixels // 1_000_000,
            error_code="file_too_many_pixels",
        )
    if reason is Reason.HIDDEN:
        return FieldError(
            "This file has something else hidden inside it besides the photo or PDF. Save "
            "the photo or PDF again (or take a screenshot) and choose the new file.",
            error_code="file_hidden",
        )
    if reason is Reason.SCRIPTS:
        return FieldError(
            "This PDF contains scripts or actions that run by themselves, which we do not "
            "accept. Save it again with “Print to PDF”, or send a photo of it.",
            error_code="file_scripts",
        )
    if reason is Reason.ATTACHMENTS:
        return FieldError(
            "This PDF has other files attached inside it, which we do not accept. Save it "
            "again with “Print to PDF”, or send a photo of it.",
            error_code="file_attachments",
        )
    if reason is Reason.PASSWORD:
        return FieldError(
            "This PDF is protected by a password. Save a copy without the password, or "
            "send a photo of it.",
            error_code="file_password",
        )
    return FieldError("This file is damaged or incomplete. Take the photo or save the PDF again.",
                      error_code="file_damaged")
