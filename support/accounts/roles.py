"""Reviewer roles, ordered: each can do everything the ones before it can. Every check of
a role goes through ``has_role``; no code names a set of roles."""

from __future__ import annotations

from support.data.models import Reviewer

ROLES = ("reviewer", "lead", "admin")
REVIEWER, LEAD, ADMIN = ROLES
# How pages and the account audit name each role (reads.wording.role_word shows them).
WORDS: dict[str, str] = {
    "reviewer": "Reviewer",
    "lead": "Lead reviewer",
    "admin": "Administrator",
}


def has_role(reviewer: Reviewer, role: str) -> bool:
    """admin ⊇ lead ⊇ reviewer. An unknown role on either side grants nothing."""
    if role not in ROLES or reviewer.role not in ROLES:
        return False
    return ROLES.index(reviewer.role) >= ROLES.index(role)
