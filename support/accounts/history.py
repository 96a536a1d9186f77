"""What happened to reviewer accounts, and who did it: ``AccountEvent`` rows, read by the
audit page next to the reviewers' actions on applications (``reads/audit.py``).

An ``Event`` belongs to an application's timeline; an invitation, a reset or a second
factor set up belongs to no application, so they are rows of their own. The actor is
written as on events (``reviewer:{id}``), or ``cli`` for a command run on the server, or
``system`` for what the desk did by itself (a lock after wrong codes).
"""

from __future__ import annotations

from support.data.models import AccountEvent, Reviewer

CLI = "cli"
SYSTEM = "system"

# Each type, as the audit page names it.
ACTIONS: dict[str, str] = {
    "created": "Account created",
    "invited": "Invited",
    "link_sent": "Sent a new sign-in link",
    "password_set": "Password set",
    "second_factor_on": "Second factor set up",
    "second_factor_reset": "Second factor removed",
    "recovery_codes_renewed": "New recovery codes",
    "recovery_code_used": "Signed in with a recovery code",
    "locked_by_codes": "Locked after wrong codes",
    "sessions_ended": "Sessions ended",
    "deactivated": "Deactivated",
    "role_changed": "Role changed",
    "queues_changed": "Queues changed",
}


def actor_of(reviewer: Reviewer) -> str:
    return f"reviewer:{reviewer.id}"


async def record(subject: Reviewer | int, type: str, message: str = "",
                 actor: str = SYSTEM) -> None:
    if type not in ACTIONS:
        raise ValueError(f"unknown account event {type!r}")
    subject_id = subject if isinstance(subject, int) else subject.id
    await AccountEvent.create(reviewer_id=subject_id, type=type, message=message, actor=actor)
