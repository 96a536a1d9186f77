"""Whether an account may unlock a model now, and if not why and until when: the small set
of codes the maker's unlock tool receives (``GET /api/v1/accounts/{id}/permission``, the
redeem's refusals, docs/api.md), each with a message for the applicant in plain words.

Pure: ``answer`` decides from the account's applications and permissions as plain facts
(``ApplicationFacts``, ``PermissionFacts``) read by the caller (support/reads/permissions.py
for the check, support/workflow/permissions.py for the redeem), so both give one answer.

Which story answers, for the model asked about (names compared as the form compares them,
``model_key``):
1. a live permission (not used, not revoked, not ended): ``allowed`` until it ends, or
   ``quota_reached`` until the account's quota frees if it has redeemed its unlocks;
2. else the newest application of an unlocking kind for that model that is not withdrawn
   or lapsed: still open → ``under_review``; refused → ``refused``; approved → what became
   of its permission (``revoked``, ``redeemed``, ``expired``);
3. else a live permission or an open application for another model → ``model_mismatch``;
4. else ``no_application``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from support.platform.i18n import N_
from support.rules import catalogue
from support.rules.kinds import KINDS, expected_by, promised_hours

ALLOWED = "allowed"
NO_APPLICATION = "no_application"
UNDER_REVIEW = "under_review"
REFUSED = "refused"
EXPIRED = "expired"
REDEEMED = "redeemed"
REVOKED = "revoked"
MODEL_MISMATCH = "model_mismatch"
QUOTA_REACHED = "quota_reached"

# Every code, what its ``until`` means (docs/api.md's table is written from this).
CODES: dict[str, str] = {
    ALLOWED: "The account may unlock this model now; `until`: when the permission ends.",
    NO_APPLICATION: "No application to unlock this model for this account (none, or "
                    "withdrawn, or lapsed unconfirmed); `until`: none.",
    UNDER_REVIEW: "An application is waiting: to be confirmed, decided, or answered; "
                  "`until`: the promised decision date (or the date to answer by).",
    REFUSED: "The application was refused; `until`: none (the applicant may appeal or "
             "apply again at once).",
    EXPIRED: "The permission ended unused; `until`: when it ended.",
    REDEEMED: "The permission was used, by one device, once; `until`: when it was used.",
    REVOKED: "The permission was withdrawn by the desk; `until`: when.",
    MODEL_MISMATCH: "The account's permission or application is for another model; "
                    "`until`: none.",
    QUOTA_REACHED: "The account has redeemed its unlocks for the period; `until`: when "
                   "it may redeem again.",
}

# The applicant's messages. "%(when)s" is ``until`` on the applicant's clock; a code with
# no date at hand has its message without one.
MESSAGES: dict[str, str] = {
    ALLOWED: N_("This account may unlock the %(model)s until %(when)s. The permission "
                "works once, on one phone."),
    NO_APPLICATION: N_("This account has no approved application to unlock the %(model)s. "
                       "Apply for permission on the support site first."),
    UNDER_REVIEW: N_("The application to unlock the %(model)s is being reviewed. Expect a "
                     "decision by %(when)s."),
    REFUSED: N_("The application to unlock the %(model)s was refused. Your application's "
                "page says why; you can appeal or apply again."),
    EXPIRED: N_("The permission to unlock the %(model)s ended on %(when)s without being "
                "used. You can apply again."),
    REDEEMED: N_("The permission to unlock the %(model)s was already used on %(when)s. It "
                 "works once, on one phone only."),
    REVOKED: N_("The permission to unlock the %(model)s was withdrawn on %(when)s. We sent "
                "you the reason by email and SMS."),
    MODEL_MISMATCH: N_("This account's application is for the %(other)s, not the "
                       "%(model)s. Each model needs its own application."),
    QUOTA_REACHED: N_("This account has already unlocked as many phones as allowed for "
                      "now. It can unlock again from %(when)s."),
}
UNDER_REVIEW_LATE = N_("The application to unlock the %(model)s is being reviewed. We are "
                       "late with it; expect a decision by %(when)s.")
UNDER_REVIEW_NO_DATE = N_("The application to unlock the %(model)s is being reviewed.")
UNCONFIRMED = N_("The application to unlock the %(model)s is not confirmed yet: enter the "
                 "code we sent to your phone by SMS.")
WAITING_FOR_ANSWER = N_("We asked you for more information about the application to "
                        "unlock the %(model)s. Answer on your application's page by "
                        "%(when)s.")

# A device identifier as the unlock tool sends it: 8 to 64 of letters, digits and
# ``. _ : -`` (a serial number, a hash of one, a MAC-like id). Nothing else is stored.
DEVICE_ID_PATTERN = r"^[A-Za-z0-9._:-]{8,64}$"
DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
# A model as asked about: what the form's field holds (Application.model's 64 characters),
# printable, not blank.
MODEL_MAX = 64


def model_problem(text: str) -> str | None:
    """Why ``text`` cannot be a model name (English, for the integrator), or None."""
    if not text.strip():
        return "Give the phone's model, for example Redmi Note 10 Pro."
    if len(text) > MODEL_MAX:
        return f"A model name has at most {MODEL_MAX} characters."
    if not text.isprintable():
        return "A model name has no control characters."
    return None


_OPEN = frozenset({"submitted", "queued", "in_review", "needs_info"})
_GONE = frozenset({"withdrawn", "expired"})  # an application that ended without a decision


@dataclass(frozen=True)
class Quota:
    """How many unlocks an account may redeem in a moving window of ``days`` days."""

    count: int = 1
    days: int = 365

    def frees_at(self, redeemed: Iterable[datetime], now: datetime) -> datetime | None:
        """None while the account may redeem another; else when it may again (the day the
        redemption that keeps it at its quota leaves the window)."""
        window = timedelta(days=self.days)
        recent = sorted(when for when in redeemed if when > now - window)
        if len(recent) < self.count:
            return None
        return recent[len(recent) - self.count] + window

    def used(self, redeemed: Iterable[datetime], now: datetime) -> int:
        window = timedelta(days=self.days)
        return sum(1 for when in redeemed if when > now - window)


@dataclass(frozen=True)
class ApplicationFacts:
    id: int
    kind: str
    status: str
    model: str
    created_at: datetime
    due_at: datetime | None = None
    info_requested_at: datetime | None = None
    permission_expires_at: datetime | None = None
    country: str = ""
    time_zone: str | None = None


@dataclass(frozen=True)
class PermissionFacts:
    id: int
    application_id: int
    model: str
    granted_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None = None
    device_id: str | None = None
    revoked_at: datetime | None = None
    grant_expires_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        """May still be redeemed: not used, not revoked, not ended."""
        return self.redeemed_at is None and self.revoked_at is None and self.expires_at > now


# The columns the facts are read from (``values(*COLUMNS)``), so the check and the redeem
# read the same ones.
APPLICATION_COLUMNS = ("id", "kind", "status", "model", "created_at", "due_at",
                       "info_requested_at", "permission_expires_at", "country", "time_zone")
PERMISSION_COLUMNS = ("id", "application_id", "model", "granted_at", "expires_at",
                      "redeemed_at", "device_id", "revoked_at", "grant_expires_at")
# At most this many of an account's rows are read (newest first): a person applies a few
# times; an account with more is not one the answer depends on the oldest rows of.
ROWS_READ = 100


def application_facts(row: Mapping[str, object]) -> ApplicationFacts:
    values = {name: row[name] for name in APPLICATION_COLUMNS}
    # The status as its plain value: an enum member hashes by its name, so it would never
    # be found in a set of values.
    values["status"] = str(values["status"])
    return ApplicationFacts(**values)  # type: ignore[arg-type]


def permission_facts(row: Mapping[str, object]) -> PermissionFacts:
    return PermissionFacts(**{name: row[name] for name in PERMISSION_COLUMNS})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Answer:
    code: str
    message: str  # a msgid, with %(model)s, and %(when)s where ``until`` is given
    until: datetime | None = None
    permission: PermissionFacts | None = None
    application: ApplicationFacts | None = None  # whose clock the dates are read on
    params: dict[str, str] = field(default_factory=dict)  # beyond model and when

    @property
    def may_unlock(self) -> bool:
        return self.code == ALLOWED


def model_key(text: str) -> str:
    """One shape for a model name, as the form compares them: a catalogue name, its
    "Xiaomi" form or its codename lead to the catalogue's name; anything else is compared
    by case and spacing alone."""
    device = catalogue.find_device(text)
    return _shape(device.name if device is not None else text)


def _shape(text: str) -> str:
    """Case and spacing aside, as support/rules/catalogue.py compares typed names."""
    return " ".join(text.split()).casefold()


def canonical_model(text: str) -> str:
    """The catalogue's name for ``text`` if it has one, else ``text`` tidied."""
    device = catalogue.find_device(text)
    return device.name if device is not None else " ".join(text.split())


def _unlocking(kind: str) -> bool:
    known = KINDS.get(kind)
    return known is not None and known.grants_unlock


def _open_answer(application: ApplicationFacts, sla: Mapping[str, int],
                 now: datetime) -> Answer:
    kind = KINDS[application.kind]
    if application.status == "submitted":
        return Answer(UNDER_REVIEW, UNCONFIRMED, application=application)
    if application.status == "needs_info" and application.info_requested_at is not None:
        return Answer(UNDER_REVIEW, WAITING_FOR_ANSWER,
                      kind.answer_due(application.info_requested_at), application=application)
    if application.due_at is None:
        return Answer(UNDER_REVIEW, UNDER_REVIEW_NO_DATE, application=application)
    period = timedelta(hours=promised_hours(kind, sla))
    expected = expected_by(application.due_at, period, now)
    late = expected != application.due_at
    return Answer(UNDER_REVIEW, UNDER_REVIEW_LATE if late else MESSAGES[UNDER_REVIEW],
                  expected, application=application)


def _approved_answer(application: ApplicationFacts, permission: PermissionFacts | None,
                     now: datetime) -> Answer | None:
    if permission is None:
        # Approved before permissions were rows (issue 22): it can be shown as ended, never
        # redeemed; one still running has nothing to redeem, so it says nothing here.
        ends = application.permission_expires_at
        if ends is not None and ends <= now:
            return Answer(EXPIRED, MESSAGES[EXPIRED], ends, application=application)
        return None
    if permission.revoked_at is not None:
        return Answer(REVOKED, MESSAGES[REVOKED], permission.revoked_at, permission,
                      application)
    if permission.redeemed_at is not None:
        return Answer(REDEEMED, MESSAGES[REDEEMED], permission.redeemed_at, permission,
                      application)
    return Answer(EXPIRED, MESSAGES[EXPIRED], permission.expires_at, permission, application)


def answer(model: str, applications: Sequence[ApplicationFacts],
           permissions: Sequence[PermissionFacts], now: datetime, quota: Quota,
           sla: Mapping[str, int] | None = None) -> Answer:
    """May the account whose rows these are unlock ``model`` at ``now``? (See the module's
    docstring for the order.) ``sla``: the promise overrides (``Settings.sla_hours``)."""
    key = model_key(model)
    by_application = {application.id: application for application in applications}
    same = [p for p in permissions if model_key(p.model) == key]
    live = [p for p in same if p.live(now)]
    if live:
        permission = max(live, key=lambda p: (p.expires_at, p.id))
        owner = by_application.get(permission.application_id)
        frees = quota.frees_at((p.redeemed_at for p in permissions if p.redeemed_at), now)
        if frees is not None:
            return Answer(QUOTA_REACHED, MESSAGES[QUOTA_REACHED], frees, permission, owner)
        return Answer(ALLOWED, MESSAGES[ALLOWED], permission.expires_at, permission, owner)
    permission_of = {p.application_id: p for p in permissions}
    ours = sorted((a for a in applications if _unlocking(a.kind) and a.status not in _GONE
                   and model_key(a.model) == key),
                  key=lambda a: (a.created_at, a.id), reverse=True)
    for application in ours:
        if application.status in _OPEN:
            return _open_answer(application, sla or {}, now)
        if application.status == "rejected":
            return Answer(REFUSED, MESSAGES[REFUSED], application=application)
        if application.status == "approved":
            found = _approved_answer(application, permission_of.get(application.id), now)
            if found is not None:
                return found
    elsewhere = [p for p in permissions if p.live(now) and model_key(p.model) != key]
    if elsewhere:
        other = max(elsewhere, key=lambda p: (p.expires_at, p.id))
        return Answer(MODEL_MISMATCH, MESSAGES[MODEL_MISMATCH], None, other,
                      by_application.get(other.application_id), {"other": other.model})
    pending = sorted((a for a in applications if _unlocking(a.kind) and a.status in _OPEN
                      and model_key(a.model) != key),
                     key=lambda a: (a.created_at, a.id), reverse=True)
    if pending:
        return Answer(MODEL_MISMATCH, MESSAGES[MODEL_MISMATCH], application=pending[0],
                      params={"other": pending[0].model})
    return Answer(NO_APPLICATION, MESSAGES[NO_APPLICATION])
