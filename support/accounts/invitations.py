"""Links that let a reviewer choose their own password: no password is ever handed over.

An admin adds a reviewer by email (``workflow/reviewers.py`` writes the account, the link
and the email in one transaction); "send a new link" does the same for an existing
reviewer, whose old password stops working. A link is a random 256-bit token: only its
SHA-256 is stored, it works once, for 24 hours, and a newer link replaces any older one.
Using it sets the password and ends every session of the reviewer; it does not touch the
second factor, so a stolen mailbox alone does not open an account that has one.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from support.accounts import auth, history
from support.data.models import Reviewer, ReviewerLink, ReviewerSession
from support.platform import tokens

LINK_LIFETIME = timedelta(hours=24)
INVITATION, RESET = "invitation", "reset"
# The page's one answer to a link that does not work, whatever the reason: it tells a
# guesser nothing, and the reviewer what to do.
UNUSABLE = ("This link cannot be used: it was used already, it is older than 24 hours, or "
            "a newer one was sent. Ask an admin to send you a new link.")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def path(token: str) -> str:
    return f"/review/invitation/{token}"


async def issue(reviewer: Reviewer, purpose: str, created_by: Reviewer | None,
                now: datetime | None = None) -> str:
    """A new link for the reviewer (inside the caller's transaction); older unused links
    stop working. Returns the token, which only the email will carry."""
    now = _now(now)
    token = secrets.token_urlsafe(32)
    await ReviewerLink.filter(reviewer_id=reviewer.id, used_at__isnull=True).delete()
    await ReviewerLink.create(
        reviewer=reviewer, token_hash=tokens.token_hash(token), purpose=purpose,
        created_by=created_by, expires_at=now + LINK_LIFETIME,
    )
    return token


def _well_formed(token: str) -> bool:
    """Our tokens are 43 URL-safe characters; anything else is looked up nowhere."""
    return 20 <= len(token) <= 64 and token.isascii() and all(
        ch.isalnum() or ch in "-_" for ch in token)


async def find(token: str, now: datetime | None = None) -> ReviewerLink | None:
    """The link if it can still be used (unused, not expired, its reviewer active), with
    its reviewer loaded."""
    if not _well_formed(token):
        return None
    link = await ReviewerLink.filter(
        token_hash=tokens.token_hash(token), used_at__isnull=True, expires_at__gt=_now(now),
    ).select_related("reviewer").first()
    if link is None or not link.reviewer.active:
        return None
    return link


async def use(token: str, password: str, now: datetime | None = None) -> Reviewer:
    """Set the reviewer's password through their link, once: AuthError with what to do
    when the password breaks a rule or the link cannot be used (any more)."""
    now = _now(now)
    if await find(token, now) is None:
        raise auth.AuthError(UNUSABLE)
    password_hash = await auth.hash_new_password(password)  # slow: before the transaction
    async with in_transaction():
        link = await find(token, now)
        # Spent by whoever gets here first: a second request with the same link finds it
        # used and changes nothing.
        spent = link is not None and await ReviewerLink.filter(
            id=link.id, used_at__isnull=True).update(used_at=now)
        if link is None or not spent:
            raise auth.AuthError(UNUSABLE)
        reviewer = link.reviewer
        await Reviewer.filter(id=reviewer.id).update(
            password_hash=password_hash, failed_logins=0, locked_until=None)
        await ReviewerSession.filter(reviewer_id=reviewer.id).delete()
        await history.record(reviewer, "password_set",
                             "Through an invitation." if link.purpose == INVITATION
                             else "Through a link an admin sent.",
                             actor=history.actor_of(reviewer))
    await reviewer.refresh_from_db()
    return reviewer
