"""Reviewer accounts and sign-in: roles, passwords, lock-out, server-side sessions.

No Starlette here: the web layer (``web/auth.py``) and the CLI both call these functions.

- A wrong password, an unknown email and a deactivated account all answer the same
  message, and an unknown email still costs one Argon2 verification, so neither the page
  nor its timing tells whether an address has an account.
- Five wrong passwords in a row lock the account for 15 minutes. Only someone who knows
  the right password is told about the lock; anyone else keeps reading the usual message.
- A session is a random 256-bit token in the reviewer's cookie; the database holds only
  its SHA-256, so a leaked dump opens no session. Deactivating a reviewer deletes every
  session of theirs at once.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from support.accounts.passwords import hash_password, verify_password
from support.accounts.roles import ROLES
from support.data.models import Reviewer, ReviewerSession
from support.platform import tokens
from support.rules.countries import country_codes
from support.rules.kinds import queues

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # Argon2 takes any length; this only stops absurd inputs
MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)

WRONG_CREDENTIALS = "Wrong email or password."


class AuthError(Exception):
    """A refusal with a message meant for the person at the keyboard."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _now(now: datetime | None = None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def normalise_email(email: str) -> str:
    """Validated (syntax only, no DNS) and lower-cased, so sign-in ignores case."""
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise AuthError(f"{email.strip()!r} is not a valid email address.") from exc
    return str(result.normalized).lower()


def _lookup_email(email: str) -> str:
    """For look-ups: never refuse, an invalid address simply matches nobody."""
    try:
        return normalise_email(email)
    except AuthError:
        return email.strip().lower()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AuthError(
            f"The password is {len(password)} characters long; it needs at least "
            f"{MIN_PASSWORD}. A few unrelated words make a long password easy to remember."
        )
    if len(password) > MAX_PASSWORD:
        raise AuthError(f"The password is longer than {MAX_PASSWORD} characters.")


def _check_kinds(kinds: Iterable[str]) -> list[str]:
    """The queues chosen (``Reviewer.kinds``), in the kinds' order."""
    chosen = [kind.strip().lower() for kind in kinds if kind.strip()]
    unknown = sorted(set(chosen) - set(queues()))
    if unknown:
        raise AuthError(
            f"Unknown queue {', '.join(unknown)}: choose among {', '.join(queues())}."
        )
    return [queue for queue in queues() if queue in chosen]


def _check_countries(countries: Iterable[str]) -> list[str]:
    chosen = [code.strip().upper() for code in countries if code.strip()]
    unknown = sorted(set(chosen) - country_codes())
    if unknown:
        raise AuthError(
            f"Unknown country code {', '.join(unknown)}: use two-letter ISO codes like IN or RU."
        )
    return sorted(set(chosen))


async def _hash(password: str) -> str:
    # Argon2 is deliberately slow: keep it off the event loop.
    return await asyncio.to_thread(hash_password, password)


async def _verify(password_hash: str, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash nobody knows the password of, verified for unknown emails."""
    return hash_password(secrets.token_urlsafe(32))


def _verify_dummy(password: str) -> None:
    verify_password(_dummy_hash(), password)


async def create_reviewer(
    email: str,
    name: str,
    role: str,
    password: str,
    kinds: Iterable[str] | None = None,
    countries: Iterable[str] | None = None,
) -> Reviewer:
    address = normalise_email(email)
    name = name.strip()
    if not name:
        raise AuthError("Give the reviewer's name: applicants never see it, colleagues do.")
    if len(name) > 128:
        raise AuthError("The name is longer than 128 characters.")
    if role not in ROLES:
        raise AuthError(f"Unknown role {role!r}: choose among {', '.join(ROLES)}.")
    _check_password(password)
    chosen_kinds = _check_kinds(queues() if kinds is None else kinds)
    chosen_countries = _check_countries(countries or ())
    if await Reviewer.filter(email=address).exists():
        raise AuthError(f"A reviewer with the email {address} already exists.")
    password_hash = await _hash(password)
    try:
        return await Reviewer.create(
            email=address,
            name=name,
            role=role,
            password_hash=password_hash,
            kinds=chosen_kinds,
            countries=chosen_countries,
        )
    except IntegrityError as exc:  # created by someone else in the meantime
        raise AuthError(f"A reviewer with the email {address} already exists.") from exc


def _lock_message(locked_until: datetime, now: datetime) -> str:
    minutes = max(1, math.ceil((locked_until - now).total_seconds() / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return (
        f"This account is locked for {minutes} {unit} after too many wrong passwords. "
        "Try again then, or ask an admin to set a new password."
    )


async def authenticate(email: str, password: str, now: datetime | None = None) -> Reviewer:
    """The reviewer with this email and password, or AuthError."""
    now = _now(now)
    reviewer = await Reviewer.get_or_none(email=_lookup_email(email))
    if reviewer is None:
        await asyncio.to_thread(_verify_dummy, password)  # as slow as a real check
        raise AuthError(WRONG_CREDENTIALS)
    right = await _verify(reviewer.password_hash, password)
    if not reviewer.active:
        raise AuthError(WRONG_CREDENTIALS)
    if reviewer.locked_until is not None and reviewer.locked_until > now:
        # Only someone who knows the password learns that the account exists and is locked.
        raise AuthError(_lock_message(reviewer.locked_until, now) if right else WRONG_CREDENTIALS)
    async with in_transaction():
        current = await Reviewer.select_for_update().get(id=reviewer.id)
        if right:
            current.failed_logins = 0
            current.locked_until = None
            current.last_login_at = now
            await current.save(update_fields=["failed_logins", "locked_until", "last_login_at"])
            return current
        current.failed_logins += 1
        if current.failed_logins >= MAX_FAILED_LOGINS:
            current.failed_logins = 0  # after the lock, a fresh series of attempts
            current.locked_until = now + LOCK_DURATION
        await current.save(update_fields=["failed_logins", "locked_until"])
    raise AuthError(WRONG_CREDENTIALS)


async def start_session(reviewer: Reviewer, now: datetime | None = None) -> str:
    """A new session (a new id at every sign-in); returns the token for the cookie."""
    now = _now(now)
    token = secrets.token_urlsafe(32)
    await ReviewerSession.filter(reviewer_id=reviewer.id, expires_at__lte=now).delete()
    await ReviewerSession.create(
        token_hash=tokens.token_hash(token),
        reviewer=reviewer,
        last_seen_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    return token


async def session_reviewer(token: str | None, now: datetime | None = None) -> Reviewer | None:
    """The active reviewer a live session token belongs to, else None."""
    if not token:
        return None
    now = _now(now)
    session = await ReviewerSession.filter(
        token_hash=tokens.token_hash(token)
    ).select_related("reviewer").first()
    if session is None:
        return None
    if session.expires_at <= now:
        await ReviewerSession.filter(id=session.id).delete()
        return None
    reviewer = session.reviewer
    if not reviewer.active:
        return None
    if now - session.last_seen_at >= TOUCH_EVERY:
        await ReviewerSession.filter(id=session.id).update(last_seen_at=now)
    return reviewer


async def end_session(token: str | None) -> None:
    if token:
        await ReviewerSession.filter(token_hash=tokens.token_hash(token)).delete()


async def _get(email: str) -> Reviewer:
    reviewer = await Reviewer.get_or_none(email=_lookup_email(email))
    if reviewer is None:
        raise AuthError(f"There is no reviewer with the email {email.strip()}.")
    return reviewer


async def deactivate(email: str) -> int:
    """Refuse every future sign-in and end every session now; returns how many ended."""
    reviewer = await _get(email)
    async with in_transaction():
        await Reviewer.filter(id=reviewer.id).update(active=False)
        ended: int = await ReviewerSession.filter(reviewer_id=reviewer.id).delete()
    return ended


async def set_password(email: str, password: str) -> Reviewer:
    """A new password, the lock lifted, and every existing session ended (a reset is
    usually done because the old password may be known to someone else)."""
    _check_password(password)
    reviewer = await _get(email)
    reviewer.password_hash = await _hash(password)
    reviewer.failed_logins = 0
    reviewer.locked_until = None
    async with in_transaction():
        await reviewer.save(update_fields=["password_hash", "failed_logins", "locked_until"])
        await ReviewerSession.filter(reviewer_id=reviewer.id).delete()
    return reviewer
