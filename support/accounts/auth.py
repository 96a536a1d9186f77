"""Reviewer accounts and sign-in: roles, passwords, lock-out, server-side sessions.

No Starlette here: the web layer (``web/auth.py``) and the CLI both call these functions.

- A wrong password, an unknown email and a deactivated account all answer the same
  message, and an unknown email still costs one Argon2 verification, so neither the page
  nor its timing tells whether an address has an account.
- Wrong passwords never lock the account: a stranger's guesses would lock its owner out
  (issue 19). The web layer limits them per account and address (``Rule.LOGIN_ACCOUNT_IP``
  and its daily twin). The account is locked for 15 minutes only by five wrong codes, which
  only someone with the password can send; only someone who knows the password is told
  about a lock, anyone else keeps reading the usual message.
- A session is a random 256-bit token in the reviewer's cookie; the database holds only
  its SHA-256, so a leaked dump opens no session. Deactivating a reviewer deletes every
  session of theirs at once.
- With a second factor, the right password opens only a *pending* session (15 minutes)
  that grants nothing but the second step; the step done, it is replaced by a full
  session under a new token. Five wrong codes lock the account, and the count is reset
  only once both steps are done, so the password alone cannot buy fresh guesses at it.
- A reviewer invited from the web has no password (``NO_PASSWORD``) until they set one
  through their link (``invitations``).
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

from support.accounts import history
from support.accounts.passwords import hash_password, verify_password
from support.accounts.roles import ROLES
from support.data.models import Reviewer, ReviewerSession
from support.platform import tokens
from support.rules.countries import country_codes
from support.rules.kinds import queue_titles, queues

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # Argon2 takes any length; this only stops absurd inputs
MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
# Between the password and the second step (a code, or setting up the authenticator).
PENDING_LIFETIME = timedelta(minutes=15)
TOUCH_EVERY = timedelta(minutes=1)
USER_AGENT_CHARS = 200
# Not an Argon2 hash, so no password matches it: an invited reviewer before they chose one,
# or after an admin sent them a new link.
NO_PASSWORD = "!"  # noqa: S105 - a marker no password matches, not a password

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


def lookup_key(email: str) -> str:
    """The account an email names, as limits count it (invalid addresses included)."""
    return _lookup_email(email)


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


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AuthError(f"Unknown role {role!r}: choose among {', '.join(ROLES)}.")
    return role


def check_kinds(kinds: Iterable[str]) -> list[str]:
    """The queues chosen (``Reviewer.kinds``), in the kinds' order."""
    chosen = [kind.strip().lower() for kind in kinds if kind.strip()]
    unknown = sorted(set(chosen) - set(queues()))
    if unknown:
        raise AuthError(f"Unknown queue {', '.join(unknown)}: choose among "
                        f"{', '.join(queue_titles().values())}.")
    return [queue for queue in queues() if queue in chosen]


def check_countries(countries: Iterable[str]) -> list[str]:
    """The countries chosen, as sorted ISO codes."""
    chosen = [code.strip().upper() for code in countries if code.strip()]
    unknown = sorted(set(chosen) - country_codes())
    if unknown:
        raise AuthError(f"Unknown country code {', '.join(unknown)}: use two-letter ISO "
                        "codes like IN or RU, separated by commas.")
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
    password: str | None,
    kinds: Iterable[str] | None = None,
    countries: Iterable[str] | None = None,
    actor: str | None = None,
) -> Reviewer:
    """``password`` None: the reviewer sets their own through a link (``invitations``).
    ``actor``: who is recorded as having created the account (none: the caller records)."""
    address = normalise_email(email)
    name = name.strip()
    if not name:
        raise AuthError("Give the reviewer's name: applicants never see it, colleagues do.")
    if len(name) > 128:
        raise AuthError("The name is longer than 128 characters.")
    check_role(role)
    if password is not None:
        _check_password(password)
    chosen_kinds = check_kinds(queues() if kinds is None else kinds)
    chosen_countries = check_countries(countries or ())
    if await Reviewer.filter(email=address).exists():
        raise AuthError(f"A reviewer with the email {address} already exists.")
    password_hash = NO_PASSWORD if password is None else await _hash(password)
    try:
        reviewer = await Reviewer.create(
            email=address,
            name=name,
            role=role,
            password_hash=password_hash,
            kinds=chosen_kinds,
            countries=chosen_countries,
        )
    except IntegrityError as exc:  # created by someone else in the meantime
        raise AuthError(f"A reviewer with the email {address} already exists.") from exc
    if actor is not None:
        await history.record(reviewer, "created", f"Role {role}.", actor=actor)
    return reviewer


def _lock_message(locked_until: datetime, now: datetime) -> str:
    minutes = max(1, math.ceil((locked_until - now).total_seconds() / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return (
        f"This account is locked for {minutes} {unit} after too many wrong passwords "
        "or codes. "
        "Try again then, or ask an admin to send you a new link."
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
    if not right:
        # Not counted on the account: a stranger's guesses would lock its owner out. The
        # web layer limits them per account and address instead; a lock on the account
        # comes only from wrong codes, which only someone with the password can send.
        raise AuthError(WRONG_CREDENTIALS)
    async with in_transaction():
        current = await Reviewer.select_for_update().get(id=reviewer.id)
        if current.totp_secret is None:  # signed in: nothing else to check
            await _signed_in(current, now)
        # Else the count goes on until the code is right too (``complete_second_step``).
        return current


async def _signed_in(current: Reviewer, now: datetime) -> None:
    current.failed_logins = 0
    current.locked_until = None
    current.last_login_at = now
    await current.save(update_fields=["failed_logins", "locked_until", "last_login_at"])


async def _count_failure(current: Reviewer, now: datetime) -> bool:
    """One more failure on a row locked for update; True when it locked the account."""
    current.failed_logins += 1
    locked = current.failed_logins >= MAX_FAILED_LOGINS
    if locked:
        current.failed_logins = 0  # after the lock, a fresh series of attempts
        current.locked_until = now + LOCK_DURATION
    await current.save(update_fields=["failed_logins", "locked_until"])
    return locked


def locked_message(reviewer: Reviewer, now: datetime | None = None) -> str | None:
    """Why a reviewer who got past the password cannot go on, if they are locked."""
    now = _now(now)
    if reviewer.locked_until is not None and reviewer.locked_until > now:
        return _lock_message(reviewer.locked_until, now)
    return None


async def second_step_failed(reviewer: Reviewer, now: datetime | None = None) -> str | None:
    """A wrong code after the right password, counted as a wrong password. When it locks
    the account, the pending sessions end and the lock is recorded for the audit (someone
    knows the password); returns the lock's message then."""
    now = _now(now)
    async with in_transaction():
        current = await Reviewer.select_for_update().get(id=reviewer.id)
        if not await _count_failure(current, now):
            return None
        await ReviewerSession.filter(reviewer_id=current.id, pending=True).delete()
        await history.record(current, "locked_by_codes",
                             f"Locked for {LOCK_DURATION.seconds // 60} minutes: a wrong code "
                             "after the right password was the last of "
                             f"{MAX_FAILED_LOGINS} failures.")
    assert current.locked_until is not None
    return _lock_message(current.locked_until, now)


def clean_user_agent(value: str | None) -> str:
    """What is kept of a User-Agent: printable characters, cut to the column."""
    text = "".join(ch for ch in (value or "") if ch.isprintable())
    return " ".join(text.split())[:USER_AGENT_CHARS]


async def start_session(reviewer: Reviewer, now: datetime | None = None, *,
                        pending: bool = False, user_agent: str = "") -> str:
    """A new session (a new id at every sign-in); returns the token for the cookie.
    ``pending``: half signed in, the second step still to come (``PENDING_LIFETIME``)."""
    now = _now(now)
    token = secrets.token_urlsafe(32)
    await ReviewerSession.filter(reviewer_id=reviewer.id, expires_at__lte=now).delete()
    await ReviewerSession.create(
        token_hash=tokens.token_hash(token),
        reviewer=reviewer,
        last_seen_at=now,
        expires_at=now + (PENDING_LIFETIME if pending else SESSION_LIFETIME),
        pending=pending,
        user_agent=clean_user_agent(user_agent),
    )
    return token


async def session_of(token: str | None, now: datetime | None = None) -> ReviewerSession | None:
    """The live session a token opens, pending or not, with its active reviewer loaded
    (``session.reviewer``); else None. One statement, and a touch once a minute."""
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
    if not session.reviewer.active:
        return None
    if now - session.last_seen_at >= TOUCH_EVERY:
        await ReviewerSession.filter(id=session.id).update(last_seen_at=now)
    return session


async def session_reviewer(token: str | None, now: datetime | None = None) -> Reviewer | None:
    """The active reviewer a live, fully signed-in session belongs to, else None: a
    pending session (half signed in) is nobody's."""
    session = await session_of(token, now)
    if session is None or session.pending:
        return None
    return session.reviewer


async def complete_second_step(session: ReviewerSession, now: datetime | None = None) -> str:
    """The second step done: the pending session is replaced by a full one under a new
    token (what the half-signed-in cookie was worth ends with it), the failure count is
    reset and the sign-in recorded. Returns the new token."""
    now = _now(now)
    token = secrets.token_urlsafe(32)
    async with in_transaction():
        ended = await ReviewerSession.filter(id=session.id, pending=True).delete()
        if not ended:  # used twice at once, or ended meanwhile: only one becomes a session
            raise AuthError("This sign-in has ended. Sign in again.")
        current = await Reviewer.select_for_update().get(id=session.reviewer.id)
        await _signed_in(current, now)
        await ReviewerSession.create(
            token_hash=tokens.token_hash(token), reviewer=current, last_seen_at=now,
            expires_at=now + SESSION_LIFETIME, user_agent=session.user_agent,
        )
    return token


async def end_session(token: str | None) -> None:
    if token:
        await ReviewerSession.filter(token_hash=tokens.token_hash(token)).delete()


async def live_sessions(reviewer: Reviewer | int,
                        now: datetime | None = None) -> list[ReviewerSession]:
    """A reviewer's signed-in sessions (not pending ones), most recently used first."""
    reviewer_id = reviewer if isinstance(reviewer, int) else reviewer.id
    return await ReviewerSession.filter(
        reviewer_id=reviewer_id, pending=False, expires_at__gt=_now(now),
    ).order_by("-last_seen_at", "-id")


async def end_own_session(reviewer: Reviewer, session_id: int) -> bool:
    """A reviewer ends one of their sessions; another reviewer's id ends nothing."""
    ended: int = await ReviewerSession.filter(id=session_id, reviewer_id=reviewer.id).delete()
    return ended > 0


async def end_sessions(reviewer: Reviewer, actor: str | None = None) -> int:
    """Every session of the reviewer ends now; recorded when someone (``actor``) asked."""
    async with in_transaction():
        ended: int = await ReviewerSession.filter(reviewer_id=reviewer.id).delete()
        if actor is not None:
            await history.record(reviewer, "sessions_ended",
                                 f"{ended} session{'s' if ended != 1 else ''} ended.",
                                 actor=actor)
    return ended


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser/", "Samsung Internet"),
             ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"), ("CriOS/", "Chrome"),
             ("Chromium/", "Chromium"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
            ("CrOS", "ChromeOS"), ("Windows", "Windows"), ("Mac OS X", "macOS"),
            ("Macintosh", "macOS"), ("Linux", "Linux"))


def browser_label(user_agent: str) -> str:
    """"Firefox on Windows", from a User-Agent: enough to tell one's sessions apart."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"


async def reviewer_by_email(email: str) -> Reviewer:
    reviewer = await Reviewer.get_or_none(email=_lookup_email(email))
    if reviewer is None:
        raise AuthError(f"There is no reviewer with the email {email.strip()}.")
    return reviewer


_get = reviewer_by_email


async def deactivate(email: str, actor: str | None = None) -> int:
    """Refuse every future sign-in and end every session now; returns how many ended.
    ``actor``: recorded for the audit (an admin, or the CLI)."""
    reviewer = await _get(email)
    async with in_transaction():
        await Reviewer.filter(id=reviewer.id).update(active=False)
        ended: int = await ReviewerSession.filter(reviewer_id=reviewer.id).delete()
        if actor is not None:
            await history.record(reviewer, "deactivated", f"{ended} sessions ended.",
                                 actor=actor)
    return ended


async def set_password(email: str, password: str, actor: str | None = None) -> Reviewer:
    """A new password, the lock lifted, and every existing session ended (a reset is
    usually done because the old password may be known to someone else). The second
    factor stays: a new password is no way around it."""
    _check_password(password)
    reviewer = await _get(email)
    return await replace_password(reviewer, await _hash(password), actor)


async def replace_password(reviewer: Reviewer, password_hash: str,
                           actor: str | None = None) -> Reviewer:
    """``set_password`` with the hash made already (``NO_PASSWORD``: none works)."""
    reviewer.password_hash = password_hash
    reviewer.failed_logins = 0
    reviewer.locked_until = None
    async with in_transaction():
        await reviewer.save(update_fields=["password_hash", "failed_logins", "locked_until"])
        await ReviewerSession.filter(reviewer_id=reviewer.id).delete()
        if actor is not None and password_hash != NO_PASSWORD:
            await history.record(reviewer, "password_set", actor=actor)
    return reviewer


async def hash_new_password(password: str) -> str:
    """A password a reviewer chose, checked against the rules and hashed (off the loop)."""
    _check_password(password)
    return await _hash(password)
