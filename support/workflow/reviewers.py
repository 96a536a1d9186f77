"""Admins' actions on reviewer accounts that reach beyond the account: inviting a reviewer
and sending one a new sign-in link (an email, through the outbox, which ``accounts`` may
not import), and changing a reviewer's role and queues (which hands back the applications
they hold and may no longer open). Each is one transaction with its account row, its
link or its applications' events, its email and its audit record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from support.accounts import auth, history, invitations, second_factor
from support.accounts.roles import ADMIN, LEAD, WORDS, has_role
from support.accounts.scope import in_scope
from support.data.models import Application, Reviewer, ReviewerSession, Status
from support.notify import outbox
from support.rules.countries import country_name
from support.rules.kinds import queue_titles
from support.workflow.machine import DomainError, reviewer_actor
from support.workflow.review import release

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
        await history.record(reviewer, "invited", f"As {role}, working "
                             f"{describe_queues(reviewer.kinds, reviewer.countries)}.",
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


class AccessRefused(auth.AuthError):
    """A change no admin may make (their own role; as an admin no longer): 409, not 422."""


@dataclass(frozen=True)
class AccessChange:
    """What ``change_access`` did, for the page to say."""

    reviewer: Reviewer
    old_role: str
    new_role: str
    queues_changed: bool
    released: int
    must_set_up_codes: bool

    @property
    def role_changed(self) -> bool:
        return self.old_role != self.new_role

    @property
    def changed(self) -> bool:
        return self.role_changed or self.queues_changed


def checked_access(role: str, kinds: Iterable[str],
                   countries: Iterable[str]) -> tuple[str, list[str], list[str]]:
    """The role, queues (in the kinds' order) and countries (sorted ISO codes) asked for,
    or AuthError naming what is not known."""
    return auth.check_role(role), auth.check_kinds(kinds), auth.check_countries(countries)


def describe_countries(countries: Iterable[str]) -> str:
    """"India (IN), Nepal (NP)"; empty for none."""
    return ", ".join(f"{country_name(code)} ({code})" for code in countries)


def describe_queues(kinds: Iterable[str], countries: Iterable[str]) -> str:
    """"Account recovery in India (IN), Nepal (NP)": queues and countries in words."""
    titles = queue_titles()
    named = ", ".join(titles.get(kind, kind) for kind in kinds) or "no queue"
    return f"{named} in {describe_countries(countries) or 'every country'}"


async def change_access(admin: Reviewer, reviewer_id: int, *, role: str, kinds: Iterable[str],
                        countries: Iterable[str], require_2fa: bool = False) -> AccessChange:
    """Give a reviewer a new role and queues, recorded in the account audit.

    An admin cannot change their own role (so the desk always keeps the admin acting); both
    rows are locked in id order and the admin's role read again inside the transaction, so
    two admins demoting each other at once cannot both succeed and leave none. Applications
    the reviewer holds and may no longer open go back to the queue now, rather than wait,
    unseen, for the claim's lease to run out. A role that needs a second factor the
    reviewer has not set up takes effect at once: ``web/auth`` sends them to set it up
    before anything else, at their next page or sign-in.
    """
    role, kinds, countries = checked_access(role, kinds, countries)
    async with in_transaction():
        rows = {r.id: r for r in await Reviewer.filter(id__in={admin.id, reviewer_id})
                .order_by("id").select_for_update()}
        acting, target = rows.get(admin.id), rows.get(reviewer_id)
        if acting is None or not acting.active or not has_role(acting, ADMIN):
            raise AccessRefused("Only an admin can change roles and queues.")
        if target is None:
            raise LookupError(reviewer_id)
        old_role = target.role
        if target.id == acting.id and role != old_role:
            raise AccessRefused("You cannot change your own role: ask another admin.")
        queues_changed = (kinds, countries) != (list(target.kinds), list(target.countries))
        before = describe_queues(target.kinds, target.countries)
        target.role, target.kinds, target.countries = role, kinds, countries
        await target.save(update_fields=["role", "kinds", "countries"])
        actor = history.actor_of(acting)
        if old_role != role:
            await history.record(target, "role_changed",
                                 f"From {WORDS.get(old_role, old_role)} to {WORDS[role]}.",
                                 actor=actor)
        if queues_changed:
            await history.record(target, "queues_changed",
                                 f"From {before} to {describe_queues(kinds, countries)}.",
                                 actor=actor)
        released = await _release_out_of_scope(acting, target)
    return AccessChange(target, old_role, role, queues_changed, released,
                        second_factor.needs_enrolment(target, require_2fa))


async def _release_out_of_scope(admin: Reviewer, reviewer: Reviewer) -> int:
    """Hand back what ``reviewer`` holds and may no longer open; the caller holds the
    transaction."""
    if has_role(reviewer, LEAD):
        return 0  # every queue is theirs
    outside = await Application.filter(
        Q(status=Status.IN_REVIEW, assignee_id=reviewer.id) & ~in_scope(reviewer))
    released = 0
    for application in outside:
        try:
            await release(application, reviewer_actor(admin),
                          f"Returned to the queue: {reviewer.name} no longer works it.")
        except DomainError:
            continue  # decided since the list was read: nothing to hand back
        released += 1
    return released
