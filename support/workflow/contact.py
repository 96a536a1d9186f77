"""The applicant's contacts after the application: a corrected email, given once and
proved by a code sent only to it, after which the messages the old address never got are
written again to the new one (issue 21).

The code lives in the application's one ``Verification`` row with ``purpose="email"`` and
the address it proves in ``new_email``; it is checked like the first code (``applicant``):
keyed hash, a few tries, an expiry, a wait between sends.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from support.config import Settings
from support.data.models import (
    Application,
    Channel,
    DeliveryStatus,
    Event,
    Notification,
    Status,
    Verification,
)
from support.notify.outbox import SECRET_KEYS, applicant_messages
from support.platform import tokens
from support.platform.i18n import N_
from support.rules.validation import FieldError, check_email
from support.workflow.machine import APPLICANT, CodeRejected, DomainError, locked
from support.workflow.status_links import new_status_link

log = logging.getLogger("support.workflow")

EMAIL_PURPOSE = "email"
EMAIL_CODE = "email_code"
# Messages carrying a one-time code: never written again (the code is wiped once sent, and
# an old code proves nothing).
CODE_TEMPLATES = frozenset({"verification_code", EMAIL_CODE})
# Set in the context of a message written again to the corrected address: the status page
# says it was sent again. Never read by a message's template.
RESENT = "resent"


class EmailRefused(DomainError):
    """The address given cannot be used (not an address, or the one we have)."""

    status_code = 422


class TooSoon(DomainError):
    """A new code asked for too soon, or too many times."""

    status_code = 429


ALREADY_CORRECTED = N_("You have already corrected your email once. It can be changed only "
                       "once; if it is wrong again, apply again with the right address.")
ERASED = N_("Your personal data was erased, so there is no email to correct.")
ERASURE_ASKED = N_("You asked us to erase your personal data, so your email can no longer "
                   "be changed.")
NOT_CONFIRMED = N_("Confirm your application with its code first. Then you can correct "
                   "your email here.")
NOTHING_WAITING = N_("There is no new email waiting for its code. Give the corrected "
                     "address first.")


def _now() -> datetime:
    return datetime.now(UTC)


def email_correction_refusal(application: Application) -> str | None:
    """Why this application's email may not be corrected now (a msgid), or None."""
    if application.redacted_at is not None:
        return ERASED
    if application.erasure_requested_at is not None:
        return ERASURE_ASKED
    if application.email_corrected_at is not None:
        return ALREADY_CORRECTED
    if application.status is Status.SUBMITTED:
        return NOT_CONFIRMED
    return None


def can_correct_email(application: Application) -> bool:
    return email_correction_refusal(application) is None


def _ensure_allowed(application: Application) -> None:
    refusal = email_correction_refusal(application)
    if refusal is not None:
        raise DomainError(refusal)


def _hash(settings: Settings, application: Application, new_email: str, code: str) -> str:
    """The code's keyed hash, bound to the application and to the address it proves, so a
    code can confirm nothing else (the first code's hash is bound to the reference alone)."""
    return tokens.code_hash(settings.secret_key,
                            f"{application.reference}:{EMAIL_PURPOSE}:{new_email}", code)


def _code_values(settings: Settings, application: Application, new_email: str,
                 code: str) -> dict[str, Any]:
    now = _now()
    return {
        "code_hash": _hash(settings, application, new_email, code),
        "expires_at": now + timedelta(seconds=settings.code_ttl_seconds),
        "attempts": 0,
        "last_sent_at": now,
    }


def _ensure_may_send(settings: Settings, verification: Verification) -> None:
    """The same wait and count as the first code's ``resend_code``."""
    if verification.sends > settings.code_max_resends:
        raise TooSoon(N_("We have sent the code too many times. Check the address, or use "
                         "the email you have."))
    elapsed = (_now() - verification.last_sent_at).total_seconds()
    wait = math.ceil(settings.code_resend_after_seconds - elapsed)
    if wait > 0:
        raise TooSoon(N_("Please wait %(seconds)s seconds before asking for a new code."),
                      seconds=wait)


async def _send_code(settings: Settings, application: Application, new_email: str,
                     code: str) -> None:
    """The code, by email to the new address only (never to the old one or by SMS: it
    proves the new address)."""
    addressed = copy.copy(application)  # the outbox addresses messages to ``.email``
    addressed.email = new_email
    rows = applicant_messages(addressed, EMAIL_CODE, {
        "code": code, "minutes": settings.code_ttl_seconds // 60,
    }, channels=(Channel.EMAIL,))
    for row in rows:
        row.application = application
    await Notification.bulk_create(rows)


async def waiting_email(application: Application) -> Verification | None:
    """The corrected email that waits for its code, if any."""
    return await Verification.get_or_none(application=application, purpose=EMAIL_PURPOSE)


async def start_email_correction(settings: Settings, application: Application,
                                 new_email: str) -> str:
    """Hold ``new_email`` until its code comes back, and send the code to it. Returns the
    address as it will be stored. Raises ``DomainError`` (not allowed now), ``EmailRefused``
    (not an address, or the same one) or ``TooSoon`` (codes asked for too fast)."""
    async with in_transaction():
        fresh = await locked(application.reference)
        _ensure_allowed(fresh)
        try:
            email = check_email(new_email)
        except FieldError as error:
            raise EmailRefused(error.message, **error.params) from None
        if email.casefold() == fresh.email.casefold():
            raise EmailRefused(N_("This is the email we already have. Type the corrected "
                                  "address."))
        existing = await Verification.get_or_none(application=fresh)
        sends = 1
        if existing is not None:
            if existing.purpose == EMAIL_PURPOSE:  # another address: the same allowance
                _ensure_may_send(settings, existing)
                sends = existing.sends + 1
            await Verification.filter(id=existing.id).delete()
        code = tokens.new_code()
        await Verification.create(application=fresh, purpose=EMAIL_PURPOSE, new_email=email,
                                  sends=sends, **_code_values(settings, fresh, email, code))
        await _send_code(settings, fresh, email, code)
        await Event.create(application=fresh, actor=APPLICANT,
                           type="email_correction_started", internal=False,
                           message="The applicant gave a corrected email; a code was sent "
                                   "to it.")
    log.info("application %s: corrected email given, code sent", fresh.reference)
    return email


async def resend_email_code(settings: Settings, application: Application) -> None:
    """A new code to the address that waits for one, after the same wait as the first."""
    async with in_transaction():
        fresh = await locked(application.reference)
        _ensure_allowed(fresh)
        verification = await waiting_email(fresh)
        if verification is None or not verification.new_email:
            raise DomainError(NOTHING_WAITING)
        _ensure_may_send(settings, verification)
        code = tokens.new_code()
        await Verification.filter(id=verification.id).update(
            sends=verification.sends + 1,
            **_code_values(settings, fresh, verification.new_email, code))
        await _send_code(settings, fresh, verification.new_email, code)
        await Event.create(application=fresh, actor=APPLICANT, type="code_resent",
                           internal=True, message="New code for the corrected email.")


async def confirm_email_correction(settings: Settings, application: Application,
                                   code: str) -> str:
    """Check the code; if right, the new address is the application's from now on and the
    messages are written again to it (``_write_again``). Returns the new address.

    A wrong code is counted even though the action fails: the count commits before the
    refusal is raised, as in ``applicant.verify``."""
    refusal: CodeRejected | None = None
    async with in_transaction():
        fresh = await locked(application.reference)
        _ensure_allowed(fresh)
        verification = await waiting_email(fresh)
        if verification is None or not verification.new_email:
            raise DomainError(NOTHING_WAITING)
        if verification.attempts >= settings.code_attempts:
            raise CodeRejected(N_("Too many wrong codes. Ask for a new code below."))
        if verification.expires_at <= _now():
            raise CodeRejected(N_("This code has expired. Ask for a new code below."))
        expected = _hash(settings, fresh, verification.new_email, code.strip())
        if tokens.hmac_equal(expected, verification.code_hash):
            fresh.email = verification.new_email
            fresh.email_corrected_at = _now()
            await Application.filter(id=fresh.id).update(
                email=fresh.email, email_corrected_at=fresh.email_corrected_at)
            await Verification.filter(id=verification.id).delete()
            written = await _write_again(settings, fresh)
            await Event.create(application=fresh, actor=APPLICANT, type="email_corrected",
                               internal=False,
                               message=f"The applicant corrected their email; {written} "
                                       "messages were sent again to it.")
        else:
            await Verification.filter(id=verification.id).update(
                attempts=verification.attempts + 1)
            left = settings.code_attempts - verification.attempts - 1
            refusal = (
                CodeRejected(N_("That code is not right. You have %(left)s tries left."), left=left)
                if left > 0
                else CodeRejected(N_("That code is not right, and it was the last try. "
                                     "Ask for a new code below."))
            )
    if refusal is not None:
        raise refusal
    log.info("application %s: email corrected", fresh.reference)
    return fresh.email


def _kept(context: dict[str, Any]) -> dict[str, Any]:
    """What a message is made of, without its secrets and the outbox's own keys (the
    reference, kind, zone and request id are written afresh)."""
    return {key: value for key, value in context.items()
            if key not in SECRET_KEYS and not key.startswith("_")
            and key not in {"reference", "kind", "zone", RESENT}}


async def _write_again(settings: Settings, application: Application) -> int:
    """The applicant's emails that could not be delivered, written again to the
    application's (new) address; if none was lost, the most recent one, so the new address
    holds it. A code is never sent again; a private link is a fresh one (the old one may
    have been wiped once sent). The same message lost twice is written once. Returns how
    many were written."""
    emails = [row for row in await Notification.filter(
        application=application, channel=Channel.EMAIL).order_by("-id")
        if row.template not in CODE_TEMPLATES and "code" not in row.context]
    dead = [row for row in emails if row.status is DeliveryStatus.DEAD]
    chosen = dead if dead else emails[:1]
    seen: set[str] = set()
    again: list[tuple[str, dict[str, Any], bool]] = []
    for row in chosen:  # newest first: the newest of twins is the one kept
        context = _kept(row.context)
        key = row.template + json.dumps(context, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        again.append((row.template, context, "status_url" in row.context))
    link: str | None = None
    rows: list[Notification] = []
    for template, context, linked in reversed(again):  # oldest first, as they were sent
        if linked:
            link = link or await new_status_link(settings, application)
            context["status_url"] = link
        context[RESENT] = True
        rows += applicant_messages(application, template, context, channels=(Channel.EMAIL,))
    for row in rows:
        row.application = application
    if rows:
        await Notification.bulk_create(rows)
    return len(rows)
