"""Appeals: a refused application's second look, filed as a new application linked to it,
queued at once (its account and contacts are the original's, confirmed back then) and
never decided by the reviewer who refused the original."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from support.config import Settings
from support.data.models import Application, Event, Status
from support.notify.outbox import notify_applicant
from support.platform import metrics
from support.rules.kinds import KINDS, appeal_kind, promised_hours
from support.rules.validation import canonical_account_id
from support.workflow import applicant, risk
from support.workflow.applicant import ApplicationInput
from support.workflow.machine import APPLICANT, DomainError, locked
from support.workflow.status_links import new_status_link

log = logging.getLogger("support.workflow")


def appealable(application: Application) -> bool:
    """A refusal can be appealed if its kind has an appeal kind (once: checked in
    ``appeal``)."""
    return application.status is Status.REJECTED and \
        appeal_kind(KINDS[application.kind]) is not None


def appeal_facts(original: Application) -> dict[str, str]:
    """What an appeal takes from the refused application and never from its form: the
    account and the contacts confirmed for it. Another account would dodge that account's
    limits and its one open application; another phone or email would get the appeal's
    messages without ever being confirmed (an appeal is queued at once); another country
    would pick the reviewers who see it."""
    # An older row may still hold zeros in front (kept before issue 19), or zeros alone.
    account = canonical_account_id(original.account_id) or original.account_id
    return {"account_id": account, "country": original.country, "phone": original.phone,
            "email": original.email}


def appeal_key(original: Application) -> str:
    """The appeal's submission key, one per refusal; the abuse limits count it once."""
    return f"appeal-{original.id}"


async def appeal(settings: Settings, original: Application, data: ApplicationInput) -> str:
    """A new application linked to the refused one, served first, never decided by the
    reviewer who refused the original. Returns the appeal's private status link.

    Its account and contacts are the original's (``appeal_facts``), whatever ``data``
    says; like any application it is refused while the account has an open one of its
    kind."""
    async with in_transaction() as connection:
        fresh = await locked(original.reference)
        if not appealable(fresh) or data.kind.appeals != fresh.kind:
            raise DomainError("Only a refused unlock application can be appealed.")
        if await Application.exists(appeal_of=fresh):
            raise DomainError("This refusal has already been appealed. Follow the appeal "
                              "with the link we sent you.")
        facts = appeal_facts(fresh)
        # The applicant's clock too: the original's form asked it, the appeal's does not.
        data = replace(data, account_id=facts["account_id"], country=facts["country"],
                       phone=facts["phone"], email=facts["email"], time_zone=fresh.time_zone)
        await applicant.ensure_none_open(connection, data.kind.code, data.account_id)
        appeal_row = applicant.new_application(data, appeal_key(fresh),
                                      await applicant.free_reference(data.kind), appeal_of=fresh)
        # Queued from the start: its contact is the original's, confirmed back then.
        now = datetime.now(UTC)
        appeal_row.status = Status.QUEUED
        appeal_row.verified_at = now
        appeal_row.due_at = now + timedelta(hours=promised_hours(data.kind, settings.sla_hours))
        await appeal_row.save()
        await Event.bulk_create([
            Event(application=appeal_row, actor=APPLICANT, type="submitted",
                  to_status=Status.QUEUED.value,
                  message=f"Appeal against the refusal of {fresh.reference}."),
            Event(application=fresh, actor=APPLICANT, type="appealed",
                  message=f"Appealed: {appeal_row.reference}."),
        ])
        link = await new_status_link(settings, appeal_row)
        await notify_applicant(appeal_row, "received", {
            "status_url": link, "decide_by": appeal_row.due_at.isoformat()})
    await risk.refresh(appeal_row)
    log.info("application %s appealed as %s", original.reference, appeal_row.reference)
    metrics.submitted(appeal_row.kind)
    return link
