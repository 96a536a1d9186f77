"""Writing to the outbox. Called only from workflow actions, inside their transaction,
so a message exists exactly when the change it announces was committed."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from support.data.models import Application, Channel, DeliveryStatus, Notification
from support.platform import logs
from support.rules import zones

# Context keys that carry something secret (a code, a private link). They are wiped from
# the row once the message is delivered, so the outbox does not keep them in the clear.
SECRET_KEYS = frozenset({"code", "status_url", "invitation_url"})

# Messages the applicant waits for on the page they are looking at: delivered first, never
# held back behind bulk work (``Notification.urgent``).
URGENT_TEMPLATES = frozenset({"verification_code", "email_code", "status_link",
                              "reviewer_invitation"})

# A failed message is tried again after each of these steps (with jitter, at delivery);
# one more failure after the last and it is dead.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
           timedelta(hours=2), timedelta(hours=12))


def _row(
    application: Application | None,
    channel: Channel,
    recipient: str,
    template: str,
    context: dict[str, Any],
    locale: str,
) -> Notification:
    return Notification(
        application=application,
        channel=channel,
        recipient=recipient,
        template=template,
        context=context,
        locale=locale,
        next_attempt_at=datetime.now(UTC),
        idempotency_key=f"{secrets.token_hex(16)}.{channel.value}",
        urgent=template in URGENT_TEMPLATES,
    )


def applicant_messages(
    application: Application,
    template: str,
    context: dict[str, Any],
    channels: Iterable[Channel] = (Channel.EMAIL, Channel.SMS),
) -> list[Notification]:
    """One message per channel: a lost SMS must never be the only word an applicant gets.
    The rows are not linked or saved: ``notify_applicant`` does that, or, for a new
    application, ``workflow.submit`` inserts them with it (``rows.insert_with_children``)."""
    # ``zone``: every date in the message is on the applicant's clock (notify.render).
    base = {"reference": application.reference, "kind": application.kind,
            "zone": zones.zone_name(application.country, application.time_zone), **context}
    if (request_id := logs.request_id.get()) is not None:
        base[logs.PRIVATE_REQUEST_ID] = request_id  # the worker logs its sends under it
    return [
        _row(None, channel, recipient, template, base, application.locale)
        for channel in channels
        if (recipient := application.email if channel is Channel.EMAIL else application.phone)
    ]


async def notify_applicant(
    application: Application,
    template: str,
    context: dict[str, Any],
    channels: Iterable[Channel] = (Channel.EMAIL, Channel.SMS),
) -> list[Notification]:
    """``applicant_messages`` for a saved application, written with one statement (they
    are written on every applicant action)."""
    rows = applicant_messages(application, template, context, channels)
    for row in rows:
        row.application = application
    if rows:
        await Notification.bulk_create(rows)
    return rows


async def email_reviewer(recipient: str, template: str,
                         context: dict[str, Any]) -> Notification:
    """An email to a reviewer (an invitation, a new sign-in link), written by the action
    that needs it, in its transaction. It belongs to no application and is in English, as
    the desk is; it goes through the outbox like any message (retries, the delivery log,
    secrets wiped once sent)."""
    base = dict(context)
    if (request_id := logs.request_id.get()) is not None:
        base[logs.PRIVATE_REQUEST_ID] = request_id
    row = _row(None, Channel.EMAIL, recipient, template, base, "en")
    await row.save()
    return row


async def write_email(recipient: str, template: str, context: dict[str, Any],
                      locale: str) -> Notification:
    """An email to someone who has no application we know of (an answer to mail the desk
    could not place, issue 23), in the language they wrote in."""
    base = dict(context)
    if (request_id := logs.request_id.get()) is not None:
        base[logs.PRIVATE_REQUEST_ID] = request_id
    row = _row(None, Channel.EMAIL, recipient, template, base, locale)
    await row.save()
    return row


async def retry_now(notification_id: int) -> bool:
    """A person asked for one more try now (after fixing an address or a relay). A dead
    row gets exactly one more attempt before it is dead again."""
    row = await Notification.get_or_none(id=notification_id)
    if row is None or row.status is DeliveryStatus.SENT:
        return False
    await Notification.filter(id=row.id).update(
        status=DeliveryStatus.PENDING, next_attempt_at=datetime.now(UTC),
        attempts=min(row.attempts, len(BACKOFF)),
    )
    return True
