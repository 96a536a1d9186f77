"""Status links: the private link to an application's page, made when it is confirmed (or
appealed), sent again to a contact of its own, and read back from its token. Only the
token's hash is stored."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from support.config import Settings
from support.data.models import AccessToken, Application, Channel, Event, Status
from support.notify.outbox import notify_applicant
from support.platform import tokens
from support.rules.validation import FieldError, check_email, check_phone
from support.workflow.machine import APPLICANT


async def new_status_link(settings: Settings, application: Application) -> str:
    token = tokens.new_status_token()
    await AccessToken.create(application=application, token_hash=tokens.token_hash(token))
    return f"{settings.base_url}/status/{token}"


async def request_status_link(settings: Settings, reference: str, contact: str) -> bool:
    """Send a fresh status link to the contact when it is the application's own.

    Returns whether one was sent, for tests and logs only: the page shows the same answer
    either way, so nobody learns which references exist.
    """
    application = await Application.get_or_none(reference=reference)
    if application is None or application.status is Status.SUBMITTED:
        return False
    channel = _matching_channel(application, contact)
    if channel is None:
        return False
    async with in_transaction():
        link = await new_status_link(settings, application)
        await notify_applicant(application, "status_link", {"status_url": link},
                               channels=(channel,))
        await Event.create(application=application, actor=APPLICANT, type="status_link_sent",
                           internal=True, message=f"New status link sent by {channel.value}.")
    return True


def _matching_channel(application: Application, contact: str) -> Channel | None:
    contact = contact.strip()
    if "@" in contact:
        try:  # as the form stored it: a domain in another script as IDNA
            email = check_email(contact)
        except FieldError:
            return None
        return Channel.EMAIL if email.casefold() == application.email.casefold() else None
    try:
        phone = check_phone(contact, application.country)
    except FieldError:
        return None
    return Channel.SMS if phone == application.phone else None


async def application_for_token(token: str) -> Application | None:
    access = await AccessToken.get_or_none(token_hash=tokens.token_hash(token)).prefetch_related(
        "application"
    )
    return access.application if access else None
