"""The application kinds as data.

A kind declares everything about itself: the facts and documents it asks for, how its
reason is labelled, which rules of its own apply (unlock needs a developer build and an
English reason), where its reference starts, the promise made to its applicants, the queue
reviewers work it in, which kind appeals its refusals, what an approval grants and for how
long, and how long an applicant has to answer a question. Code asks the kind, never its
code, so adding a kind is one more entry in ``KINDS``: the pages and messages are shared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from support.platform.i18n import N_

# The facts an application row holds. Every kind asks for all but the IMEI: the row's
# columns need them, and the contact is how the applicant hears back.
FIELDS = ("account_id", "country", "phone", "email", "model", "firmware", "imei", "reason")
OPTIONAL_FIELDS = frozenset({"imei"})
BASE_FIELDS = tuple(name for name in FIELDS if name not in OPTIONAL_FIELDS)
PREFIX_SHAPE = re.compile(r"[A-Z]{2}")  # what tokens.parse_reference reads back
CODE_LENGTH = 16  # Application.kind's column


@dataclass(frozen=True)
class DocumentSlot:
    name: str  # the form field, and Document.purpose
    label: str
    hint: str
    required: bool
    # A photo of paper or a label (a receipt, a box): at upload the applicant is told when
    # it looks too poor to read, and may send it anyway (documents/quality.py).
    photo_of_paper: bool = False


@dataclass(frozen=True)
class Permission:
    """What an approval grants the applicant, and for how long."""

    days: int
    valid_until: str  # for the status page and the email; takes %(when)s
    valid_until_sms: str  # the same, short enough for an SMS
    unlocks: bool = False  # a bootloader unlock: the risk signals look back on these


@dataclass(frozen=True)
class Kind:
    code: str
    prefix: str
    title: str
    summary: str
    reason_label: str
    reason_hint: str
    fields: tuple[str, ...]  # in the order of FIELDS
    unlock_rules: bool  # developer firmware, English reason, model must offer unlocking
    documents: tuple[DocumentSlot, ...]
    # Hours promised from confirmation to a decision (SUPPORT_SLA_<CODE>_HOURS overrides);
    # None for an appeal, which is promised what the kind it appeals is.
    sla_hours: int | None
    public: bool = True  # offered on the start page; appeals start from a status page
    priority: int = 0  # higher is served first
    queue: str = ""  # the reviewers' queue it is worked in; its own code if not said
    appeals: str = ""  # the kind whose refusals this kind appeals; empty: not an appeal
    permission: Permission | None = None  # None: an approval grants nothing that ends
    info_reply_days: int = 14  # to answer a request for information, or it expires
    # An English sample reason, shown untranslated where the reason must be in English.
    reason_example: str = ""

    def __post_init__(self) -> None:
        if not self.queue:
            object.__setattr__(self, "queue", self.code)
        problems = [
            problem for problem, wrong in (
                (f"a code of at most {CODE_LENGTH} characters", len(self.code) > CODE_LENGTH),
                ("a prefix of two capital letters", not PREFIX_SHAPE.fullmatch(self.prefix)),
                (f"fields drawn from {FIELDS} in that order, all but the optional ones",
                 self.fields != tuple(f for f in FIELDS
                                      if f in self.fields or f not in OPTIONAL_FIELDS)),
                ("a promise in hours, or the kind it appeals",
                 self.sla_hours is None and not self.appeals),
            ) if wrong
        ]
        if problems:
            raise ValueError(f"kind {self.code!r} needs " + "; ".join(problems))

    def answer_due(self, requested_at: datetime) -> datetime:
        """Until when an applicant may answer a request for information made at
        ``requested_at``; after it the application expires (workflow.housekeeping)."""
        return requested_at + timedelta(days=self.info_reply_days)

    @property
    def needs_imei(self) -> bool:
        return "imei" in self.fields

    @property
    def grants_unlock(self) -> bool:
        return self.permission is not None and self.permission.unlocks


RECEIPT = DocumentSlot(
    "receipt",
    N_("Purchase receipt"),
    N_("A photo or PDF of the receipt for this phone. JPEG, PNG or PDF, at most 10 MB."),
    required=True,
    photo_of_paper=True,
)

# What an approved unlock, or an approved appeal against a refused one, grants.
UNLOCK_PERMISSION = Permission(
    days=14,
    valid_until=N_("Your unlock permission is valid until %(when)s."),
    valid_until_sms=N_("Unlock allowed until %(when)s."),
    unlocks=True,
)

KINDS: dict[str, Kind] = {
    "unlock": Kind(
        code="unlock",
        prefix="UL",
        title=N_("Bootloader unlock permission"),
        summary=N_("Ask for the right to unlock your phone's bootloader."),
        reason_label=N_("Why do you want to unlock the bootloader?"),
        reason_hint=N_(
            "Write the reason in English, 30 to 2000 characters, even if you fill the rest "
            "of the form in another language: the engineers who decide read English."
        ),
        reason_example=(
            "I develop a custom kernel for this model and need to flash test builds."
        ),
        fields=BASE_FIELDS,
        unlock_rules=True,
        documents=(RECEIPT,),
        sla_hours=72,
        permission=UNLOCK_PERMISSION,
    ),
    "recovery": Kind(
        code="recovery",
        prefix="RC",
        title=N_("Account recovery"),
        summary=N_("Get back into an account when you have lost its password and every "
        "linked phone number and email."),
        reason_label=N_("What happened?"),
        reason_hint=N_("Tell us how you lost access, in any language, 30 to 2000 characters."),
        fields=FIELDS,
        unlock_rules=False,
        documents=(
            RECEIPT,
            DocumentSlot(
                "box_photo",
                N_("Photo of the phone's box (optional)"),
                N_("The label with the IMEI should be readable. JPEG, PNG or PDF, at most 10 MB."),
                required=False,
                photo_of_paper=True,
            ),
            DocumentSlot(
                "sim_proof",
                N_("Proof that the SIM card is yours (optional)"),
                N_("For example the SIM contract or a bill from your operator. At most 10 MB."),
                required=False,
            ),
        ),
        sla_hours=168,
    ),
    "appeal": Kind(
        code="appeal",
        prefix="AP",
        title=N_("Appeal against a refused unlock"),
        summary=N_("Ask us to look again at a refused bootloader-unlock application."),
        reason_label=N_("Why do you want to unlock the bootloader?"),
        reason_hint=N_(
            "Write the reason in English, 30 to 2000 characters, and say what has changed "
            "since the refusal if anything has."
        ),
        reason_example=(
            "I now run the developer build and maintain a LineageOS port for this model."
        ),
        fields=BASE_FIELDS,
        unlock_rules=True,
        documents=(),
        sla_hours=None,
        public=False,
        priority=10,
        appeals="unlock",
        permission=UNLOCK_PERMISSION,
    ),
}

# Why a refusal was made: recorded with every rejection, for the applicant and for reports.
REJECTION_REASONS: dict[str, str] = {
    "stable_firmware": N_("The phone runs a stable build; unlocking needs a developer build"),
    "reason_insufficient": N_("The reason does not explain why unlocking is needed"),
    "proof_unreadable": N_("The proof documents cannot be read"),
    "proof_mismatch": N_("The proof does not match the account or the phone"),
    "duplicate": N_("Another application covers the same request"),
    "device_reported": N_("The device is reported lost or stolen"),
    "account_too_new": N_("The account is too new"),
    "other": N_("Another reason, explained in the message"),
}

# What a reviewer can ask an applicant to add.
INFO_ITEMS: dict[str, str] = {
    "receipt": N_("A readable purchase receipt"),
    "box_photo": N_("A photo of the phone's box with the IMEI label"),
    "sim_proof": N_("Proof that the SIM card is yours"),
    "imei": N_("The phone's IMEI"),
    "firmware": N_("The exact firmware version"),
    "reason": N_("A clearer reason"),
    "other": N_("Something else, explained in the message"),
}


# Documents the applicant asks to be sent, and so those a reply may bring (the status
# page's answer form has a field for each one asked for).
UPLOADABLE = ("receipt", "box_photo", "sim_proof")
# Those whose photos are looked at for being too poor to read, in a reply as on the form.
PHOTOS_OF_PAPER = frozenset(
    slot.name for kind in KINDS.values() for slot in kind.documents if slot.photo_of_paper
)
# A document that came attached to an email, where the request left it open which of
# those it is: the reviewer sees it as sent by email (issue 23).
EMAILED = "emailed"
EMAILED_LABEL = N_("Sent by email")


def appeal_kind(kind: Kind) -> Kind | None:
    """The kind that appeals a refusal of this one; None: its refusals are final."""
    return next((other for other in KINDS.values() if other.appeals == kind.code), None)


def promised_hours(kind: Kind, overrides: Mapping[str, int]) -> int:
    """Hours from confirmation to a decision: the setting for the kind if there is one
    (``Settings.sla_hours``), else its declaration; an appeal is promised what the kind it
    appeals is."""
    if kind.code in overrides:
        return overrides[kind.code]
    if kind.sla_hours is None:
        return promised_hours(KINDS[kind.appeals], overrides)
    return kind.sla_hours


def expected_by(due: datetime, period: timedelta, now: datetime) -> datetime:
    """When an applicant may expect a decision: ``due`` while it is ahead; once the desk
    is late, the end of the next whole promise period after it (``due`` + k·``period``,
    the first still ahead). It holds still while the applicant reloads the page, and moves
    only if the desk misses it again, where "in two days from now" would slide forever."""
    if due > now or period <= timedelta(0):
        return due
    missed = (now - due) // period + 1
    return due + missed * period


def queues() -> tuple[str, ...]:
    """The queues a reviewer can work, in the order of the kinds."""
    return tuple(dict.fromkeys(kind.queue for kind in KINDS.values()))


def queue_titles() -> dict[str, str]:
    """Each queue, named by the kinds worked in it."""
    return {queue: " / ".join(kind.title for kind in KINDS.values() if kind.queue == queue)
            for queue in queues()}


def kinds_in(chosen: Iterable[str]) -> list[str]:
    """The codes of the kinds worked in these queues."""
    wanted = set(chosen)
    return [kind.code for kind in KINDS.values() if kind.queue in wanted]


def unlock_kinds() -> list[str]:
    """The kinds whose approval is a bootloader unlock."""
    return [kind.code for kind in KINDS.values() if kind.grants_unlock]


def check(kinds: Mapping[str, Kind]) -> None:
    """What no single kind can check about itself: each is filed under its code, no two
    share a reference prefix, and an appeal names a kind there is, at most one per kind."""
    problems = [f"{key!r} holds kind {kind.code!r}" for key, kind in kinds.items()
                if key != kind.code]
    prefixes = [kind.prefix for kind in kinds.values()]
    problems += [f"prefix {p} is used twice" for p in sorted(set(prefixes))
                 if prefixes.count(p) > 1]
    appealed = [kind.appeals for kind in kinds.values() if kind.appeals]
    problems += [f"{code!r} is appealed but is no kind" for code in appealed
                 if code not in kinds]
    problems += [f"{code!r} has two appeal kinds" for code in sorted(set(appealed))
                 if appealed.count(code) > 1]
    if problems:
        raise ValueError("; ".join(problems))


check(KINDS)
