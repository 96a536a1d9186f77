"""The second factor: TOTP codes from an authenticator app (RFC 6238 through pyotp: 30-second
steps, six digits, SHA-1, as every app expects), and ten single-use recovery codes.

- Leads and admins must have one; everyone when ``Settings.require_2fa``
  (``SUPPORT_REQUIRE_2FA=1``). Whoever must and has none is sent to set it up and can do
  nothing else (``web/auth.py``).
- Setting it up: a secret is drawn and kept as *pending* until a first code made from it
  is typed, so a scan that failed changes nothing; then it becomes the secret and ten
  recovery codes are drawn, shown once.
- A code is accepted one step either side of now (±30 s, for clocks that drift) and only
  once: the step it matched is kept, and a code of that step or an earlier one is refused,
  in one conditional ``UPDATE`` so that two requests racing with the same code cannot both
  win.
- Recovery codes are 80 random bits (16 characters): only their SHA-256 is stored, which
  nobody can reverse at that length; each is spent by a conditional ``UPDATE`` too.
- The TOTP secret itself must be readable to check codes, so it is stored as it is: a
  copy of the database gives the codes (docs/security.md, what is not defended).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pyotp
from pyotp.exceptions import OTPVerificationError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from support.accounts import history
from support.accounts.roles import LEAD, has_role
from support.data.models import RecoveryCode, Reviewer, ReviewerSession
from support.platform import tokens

ISSUER = "Support desk"
WINDOW = 1  # steps accepted either side of now
RECOVERY_CODES = 10
# 32 characters, so each is 5 bits: no 0/o or 1/l to misread from paper.
RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
RECOVERY_LENGTH = 16


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def must_have(reviewer: Reviewer, require_all: bool) -> bool:
    """Leads and admins always; everyone when the setting says so."""
    return require_all or has_role(reviewer, LEAD)


def enrolled(reviewer: Reviewer) -> bool:
    return reviewer.totp_secret is not None


def needs_enrolment(reviewer: Reviewer, require_all: bool) -> bool:
    """Must have a second factor and has none yet: nothing but setting it up is open."""
    return must_have(reviewer, require_all) and not enrolled(reviewer)


def provisioning_uri(reviewer: Reviewer, secret: str, issuer: str = ISSUER) -> str:
    """What the QR code carries (``otpauth://totp/...``): the app files it under the issuer
    and the reviewer's email."""
    return pyotp.TOTP(secret).provisioning_uri(name=reviewer.email, issuer_name=issuer)


def _digits(code: str) -> str | None:
    """Six ASCII digits, spaces and dashes people type between them dropped."""
    cleaned = "".join(ch for ch in code if ch not in " -\u00a0")
    if len(cleaned) != 6 or not cleaned.isascii() or not cleaned.isdigit():
        return None
    return cleaned


def matching_step(secret: str, code: str, now: datetime | None = None) -> int | None:
    """The time-step (now ±``WINDOW``) the code belongs to, or None."""
    digits = _digits(code)
    if digits is None:
        return None
    try:
        step = pyotp.TOTP(secret).verify_and_get_timecode(digits, for_time=_now(now),
                                                          valid_window=WINDOW)
    except OTPVerificationError:
        return None
    return int(step)


async def start_enrolment(reviewer: Reviewer) -> str:
    """The secret being set up: drawn once and kept until a code confirms it, so the page
    can be shown again (a reload, a second try) with the same QR code."""
    if reviewer.totp_pending_secret:
        return reviewer.totp_pending_secret
    secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
    updated = await Reviewer.filter(id=reviewer.id, totp_pending_secret__isnull=True).update(
        totp_pending_secret=secret)
    if not updated:  # drawn by another request meanwhile: show that one
        await reviewer.refresh_from_db(fields=["totp_pending_secret"])
        assert reviewer.totp_pending_secret is not None
        return reviewer.totp_pending_secret
    reviewer.totp_pending_secret = secret
    return secret


def _new_recovery_code() -> str:
    chars = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return "-".join(chars[i:i + 4] for i in range(0, RECOVERY_LENGTH, 4))


def normalise_recovery_code(code: str) -> str:
    """As typed (capitals, spaces, dashes or none) to the form that is hashed."""
    return "".join(ch for ch in code.lower() if ch in RECOVERY_ALPHABET)


def _recovery_hash(code: str) -> str:
    return tokens.token_hash(normalise_recovery_code(code))


async def _replace_recovery_codes(reviewer: Reviewer) -> list[str]:
    """Inside the caller's transaction: the old codes go, ten new ones are returned."""
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    await RecoveryCode.filter(reviewer_id=reviewer.id).delete()
    await RecoveryCode.bulk_create([
        RecoveryCode(reviewer_id=reviewer.id, code_hash=_recovery_hash(code)) for code in codes
    ])
    return codes


async def confirm_enrolment(reviewer: Reviewer, code: str,
                            now: datetime | None = None) -> list[str] | None:
    """The first code from the pending secret: it becomes the second factor and the ten
    recovery codes are returned (to be shown once). None when the code is wrong."""
    secret = reviewer.totp_pending_secret
    if secret is None or enrolled(reviewer):
        return None
    step = matching_step(secret, code, now)
    if step is None:
        return None
    async with in_transaction():
        updated = await Reviewer.filter(
            id=reviewer.id, totp_pending_secret=secret, totp_secret__isnull=True,
        ).update(totp_secret=secret, totp_pending_secret=None, totp_enabled_at=_now(now),
                 totp_last_step=step)
        if not updated:  # confirmed by another request meanwhile
            return None
        codes = await _replace_recovery_codes(reviewer)
        await history.record(reviewer, "second_factor_on", actor=history.actor_of(reviewer))
    reviewer.totp_secret, reviewer.totp_pending_secret = secret, None
    reviewer.totp_enabled_at, reviewer.totp_last_step = _now(now), step
    return codes


async def check_code(reviewer: Reviewer, code: str, now: datetime | None = None) -> bool:
    """A code from the reviewer's app, accepted once: its step must be later than the last
    step accepted, and becomes the last, in one statement."""
    secret = reviewer.totp_secret
    if secret is None:
        return False
    step = matching_step(secret, code, now)
    if step is None:
        return False
    later = Q(totp_last_step__isnull=True) | Q(totp_last_step__lt=step)
    updated = await Reviewer.filter(later, id=reviewer.id, totp_secret=secret).update(
        totp_last_step=step)
    if updated:
        reviewer.totp_last_step = step
    return bool(updated)


async def use_recovery_code(reviewer: Reviewer, code: str,
                            now: datetime | None = None) -> int | None:
    """Spend one recovery code; returns how many are left, or None when it is not one of
    the reviewer's unused codes."""
    if not enrolled(reviewer) or not normalise_recovery_code(code):
        return None
    async with in_transaction():
        spent = await RecoveryCode.filter(
            reviewer_id=reviewer.id, code_hash=_recovery_hash(code), used_at__isnull=True,
        ).update(used_at=_now(now))
        if not spent:
            return None
        left = await recovery_codes_left(reviewer)
        await history.record(reviewer, "recovery_code_used", f"{left} left.",
                             actor=history.actor_of(reviewer))
    return left


async def recovery_codes_left(reviewer: Reviewer) -> int:
    return await RecoveryCode.filter(reviewer_id=reviewer.id, used_at__isnull=True).count()


async def renew_recovery_codes(reviewer: Reviewer) -> list[str]:
    """Ten new codes; the old ones, used or not, stop working."""
    async with in_transaction():
        codes = await _replace_recovery_codes(reviewer)
        await history.record(reviewer, "recovery_codes_renewed",
                             actor=history.actor_of(reviewer))
    return codes


async def reset(reviewer: Reviewer, actor: str) -> int:
    """Remove the second factor (a lost phone): the secret and recovery codes go and every
    session ends; the reviewer sets a new one up at their next sign-in (if they must have
    one). Returns how many sessions ended."""
    async with in_transaction():
        await Reviewer.filter(id=reviewer.id).update(
            totp_secret=None, totp_pending_secret=None, totp_enabled_at=None,
            totp_last_step=None)
        await RecoveryCode.filter(reviewer_id=reviewer.id).delete()
        ended: int = await ReviewerSession.filter(reviewer_id=reviewer.id).delete()
        await history.record(reviewer, "second_factor_reset",
                             f"{ended} session{'s' if ended != 1 else ''} ended.", actor=actor)
    reviewer.totp_secret = reviewer.totp_pending_secret = None
    reviewer.totp_enabled_at = None
    reviewer.totp_last_step = None
    return ended
