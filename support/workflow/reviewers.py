"""Admins' actions on reviewer accounts that send an email: inviting a reviewer, and sending
one a new sign-in link. Here rather than in ``accounts`` because the email goes through the
outbox, which ``accounts`` may not import; each action is one transaction with its
account row, its link, its email and its audit record, so a link exists exactly when its
email will be sent.
"""

from __future__ import annotations

from collections.abc import Iterable

from tortoise.transactions import in_transaction

from support.accounts import auth, history, invitations, second_factor
from support.data.models import Reviewer, ReviewerSession
from support.notify import outbox

TEMPLATE = "reviewer_invitation"


async def _email(reviewer: Reviewer, purpose: str, admin: Reviewer, base_url: str,
                 require_2fa: bool) -> None:
    token = await invitations.issue(reviewer, purpose, admin)
    await outbox.email_reviewer(reviewer.email, TEMPLATE, {
        "name": reviewer.name, "role": reviewer.role, "purpose": purpose,
        "invited_by": admin.name, "invitation_url": base_url + invitations.path(token),
        "hours": int(invitations.LINK_LIFETIME.total_seconds() // 3600),
        "second_factor": second_factor.must_have(reviewer, require_2fa)
        and not second_factor.enrolled(reviewer),
    })


async def invite(admin: Reviewer, email: str, name: str, role: str, *,
                 kinds: Iterable[str] | None, countries: Iterable[str],
                 base_url: str, require_2fa: bool = False) -> Reviewer:
    """A new reviewer without a password, and the email with their link (AuthError with
    what to change when a value is refused)."""
    async with in_transaction():
        reviewer = await auth.create_reviewer(email, name, role, None, kinds=kinds,
                                              countries=countries)
        queues = ", ".join(reviewer.kinds) or "none"
        await history.record(reviewer, "invited", f"As {role}, queues {queues}.",
                             actor=history.actor_of(admin))
        await _email(reviewer, invitations.INVITATION, admin, base_url, require_2fa)
    return reviewer


async def send_new_link(admin: Reviewer, reviewer: Reviewer, *, base_url: str,
                        require_2fa: bool = False) -> int:
    """"Reset": the old password stops working, every session ends, and a new link goes
    to the reviewer's email. The second factor stays. Returns how many sessions ended."""
    async with in_transaction():
        await Reviewer.filter(id=reviewer.id).update(
            password_hash=auth.NO_PASSWORD, failed_logins=0, locked_until=None)
        ended: int = await ReviewerSession.filter(reviewer_id=reviewer.id).delete()
        await history.record(reviewer, "link_sent",
                             f"Password cleared, {ended} session{'s' if ended != 1 else ''} "
                             "ended.", actor=history.actor_of(admin))
        await _email(reviewer, invitations.RESET, admin, base_url, require_2fa)
    return ended
