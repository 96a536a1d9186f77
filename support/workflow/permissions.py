"""The permission to unlock as data: granted at approval, redeemed once by one device for a
signed grant, or revoked by a lead with a reason. Each change in one transaction with its
event, its messages and its webhook (``webhooks.emit``).

Redeeming, once only:
- the first device to redeem a live permission gets a signed grant (a compact JWS, EdDSA,
  ``signing.GRANT_LIFETIME`` long and never past the permission's end), stored with the
  device's id; ``Application.permission_used_at`` is set, so the status page says it was
  used;
- the same device asking again gets the same grant while that grant lives, and a fresh one
  for the same device while the permission itself lives (a tool that lost the grant or
  took too long); once the permission has ended or was revoked it is refused like any;
- any other device is refused (``redeemed``), as is every refusal the check would give
  (``quota_reached``, ``expired``, ``revoked``, ``no_application``...).
Of concurrent redeems exactly one claims the row: the account's permissions are locked
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time, ``BEGIN
IMMEDIATE``), and the claim is a conditional ``UPDATE ... WHERE redeemed_at IS NULL`` that
changes one row or none. A refusal writes nothing.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from support.accounts.roles import LEAD, has_role
from support.config import Settings
from support.data.models import Application, Channel, Event, Permission, SigningKey
from support.notify.outbox import notify_applicant
from support.platform import grants
from support.platform.formatting import format_when
from support.rules import permissions as rules
from support.rules.kinds import Kind
from support.rules.validation import canonical_account_id
from support.workflow import signing, webhooks
from support.workflow.machine import Actor, DomainError, locked
from support.workflow.status_links import new_status_link

log = logging.getLogger("support.workflow")

ISSUER = "support"
REASON_MIN, REASON_MAX = 10, 2000


def _now() -> datetime:
    return datetime.now(UTC)


def _account(application: Application) -> str:
    # An older row may still hold zeros in front (kept before issue 19).
    return canonical_account_id(application.account_id) or application.account_id


class Refused(DomainError):
    """A redeem the rules do not allow: ``answer`` says which code and until when."""

    def __init__(self, answer: rules.Answer) -> None:
        super().__init__(answer.message)
        self.answer = answer


class NotAllowed(DomainError):
    status_code = 403


class BadReason(DomainError):
    status_code = 422


@dataclass(frozen=True)
class Grant:
    token: str
    expires_at: datetime
    kid: str
    permission_id: int
    permission_expires_at: datetime
    fresh: bool  # False: the grant this device was given before, given again


# --- granting -------------------------------------------------------------------------


async def on_decided(application: Application, kind: Kind, action: str,
                     now: datetime) -> None:
    """After an approval or a refusal, in its transaction: the permission an approval
    grants (if its kind grants one), and the events for the maker's endpoints."""
    if action == "approve" and kind.permission is not None \
            and application.permission_expires_at is not None:
        await grant(application, now)
    await webhooks.emit("application.decided", {
        "reference": application.reference, "kind": application.kind,
        "status": str(application.status), "decided_at": now.isoformat(),
        "reason_code": application.decision_code, "account_id": _account(application),
        "model": application.model,
    })


async def grant(application: Application, now: datetime) -> Permission:
    """The permission an approved application holds, until its ``permission_expires_at``."""
    expires_at = application.permission_expires_at
    assert expires_at is not None
    permission = await Permission.create(
        application=application, account_id=_account(application), model=application.model,
        granted_at=now, expires_at=expires_at)
    await webhooks.emit("permission.granted", {
        "reference": application.reference, "account_id": permission.account_id,
        "model": permission.model, "granted_at": now.isoformat(),
        "expires_at": expires_at.isoformat(),
    })
    return permission


# --- redeeming ------------------------------------------------------------------------


def _facts(row: Permission) -> rules.PermissionFacts:
    return rules.PermissionFacts(
        id=row.id, application_id=row.application_id,  # type: ignore[attr-defined]
        model=row.model, granted_at=row.granted_at, expires_at=row.expires_at,
        redeemed_at=row.redeemed_at, device_id=row.device_id, revoked_at=row.revoked_at,
        grant_expires_at=row.grant_expires_at)


def _sign(key: SigningKey, permission: Permission, device_id: str,
          now: datetime) -> tuple[str, datetime]:
    expires_at = min(now + signing.GRANT_LIFETIME, permission.expires_at)
    claims = {
        "iss": ISSUER, "sub": permission.account_id, "model": permission.model,
        "device": device_id, "jti": f"{permission.id}.{secrets.token_urlsafe(9)}",
        "iat": int(now.timestamp()), "exp": int(expires_at.timestamp()),
        "permission_exp": int(permission.expires_at.timestamp()),
    }
    return grants.sign(key.private_jwk, claims), expires_at


def _kid(token: str) -> str:
    """The key a stored grant names (its header), for an answer that repeats it."""
    header = token.split(".", 1)[0]
    padded = header + "=" * (-len(header) % 4)
    return str(json.loads(base64.urlsafe_b64decode(padded))["kid"])


async def redeem(account_id: str, model: str, device_id: str, quota: rules.Quota, *,
                 sla: Mapping[str, int] | None = None, by: str = "api",
                 now: datetime | None = None) -> Grant:
    """The signed grant for ``device_id`` to unlock ``model`` on ``account_id`` (canonical),
    or ``Refused`` with the check's code. See the module's docstring for "once only"."""
    if not rules.DEVICE_ID.fullmatch(device_id):
        raise DomainError("A device id is 8 to 64 letters, digits or . _ : -")
    now = now or _now()
    key = await signing.current()  # made outside the transaction on first use
    wanted = rules.model_key(model)
    async with in_transaction():
        rows = await Permission.filter(account_id=account_id).select_for_update() \
            .order_by("-granted_at").limit(rules.ROWS_READ)
        again = await _same_device(rows, wanted, device_id, key, now)
        if again is not None:
            return again
        applications = await Application.filter(account_id=account_id).order_by("-id") \
            .limit(rules.ROWS_READ).values(*rules.APPLICATION_COLUMNS)
        answer = rules.answer(model, [rules.application_facts(a) for a in applications],
                              [_facts(row) for row in rows], now, quota, sla)
        if answer.code != rules.ALLOWED or answer.permission is None:
            raise Refused(answer)
        permission = next(row for row in rows if row.id == answer.permission.id)
        token, grant_expires_at = _sign(key, permission, device_id, now)
        claimed = await Permission.filter(
            id=permission.id, redeemed_at=None, revoked_at=None, expires_at__gt=now,
        ).update(redeemed_at=now, device_id=device_id, grant=token,
                 grant_expires_at=grant_expires_at)
        if claimed != 1:  # changed since it was read: whatever it is now answers
            fresh = await Permission.get(id=permission.id)
            if fresh.device_id == device_id and fresh.grant and fresh.grant_expires_at:
                return Grant(fresh.grant, fresh.grant_expires_at, _kid(fresh.grant),
                             fresh.id, fresh.expires_at, fresh=False)
            raise Refused(rules.Answer(rules.REDEEMED, rules.MESSAGES[rules.REDEEMED],
                                       fresh.redeemed_at, _facts(fresh), answer.application))
        application_id = permission.application_id  # type: ignore[attr-defined]
        await Application.filter(id=application_id).update(permission_used_at=now)
        # No message: the applicant's page says it in their words from the type.
        await Event.create(application_id=application_id, actor=by[:64],
                           type="permission_redeemed", internal=False)
        await webhooks.emit("permission.redeemed", {
            "account_id": account_id, "model": permission.model, "device_id": device_id,
            "redeemed_at": now.isoformat(), "grant_expires_at": grant_expires_at.isoformat(),
            "reference": await _reference(application_id),
        })
    log.info("permission %s redeemed", permission.id)
    return Grant(token, grant_expires_at, key.kid, permission.id, permission.expires_at,
                 fresh=True)


async def _reference(application_id: int) -> str:
    found = await Application.filter(id=application_id).values_list("reference", flat=True)
    return str(found[0]) if found else ""


async def _same_device(rows: list[Permission], wanted: str, device_id: str,
                       key: SigningKey, now: datetime) -> Grant | None:
    """This device redeemed this model's permission before: its grant again while it
    lives, else a fresh one while the permission lives; None when neither (the check's
    answer then refuses it like any device)."""
    for row in rows:
        if row.device_id != device_id or row.revoked_at is not None \
                or rules.model_key(row.model) != wanted:
            continue
        if row.grant and row.grant_expires_at and row.grant_expires_at > now:
            return Grant(row.grant, row.grant_expires_at, _kid(row.grant), row.id,
                         row.expires_at, fresh=False)
        if row.expires_at > now:
            token, expires_at = _sign(key, row, device_id, now)
            await Permission.filter(id=row.id, device_id=device_id, revoked_at=None).update(
                grant=token, grant_expires_at=expires_at)
            return Grant(token, expires_at, key.kid, row.id, row.expires_at, fresh=True)
    return None


# --- revoking -------------------------------------------------------------------------


async def revoke(settings: Settings, application: Application, actor: Actor, reason: str,
                 now: datetime | None = None) -> Permission:
    """A lead or an administrator withdraws the permission an approval granted, with a
    reason the applicant reads (by email, with their status link, and a short SMS)."""
    reviewer = actor.reviewer
    if reviewer is None or not has_role(reviewer, LEAD):
        raise NotAllowed("Only a lead reviewer or an administrator may revoke a permission.")
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN:
        raise BadReason("Write the reason the applicant will read (at least %(min)s "
                        "characters).", min=REASON_MIN)
    if len(reason) > REASON_MAX:
        raise BadReason("The reason is too long: at most %(max)s characters.", max=REASON_MAX)
    now = now or _now()
    async with in_transaction():
        fresh = await locked(application.reference)
        permission = await Permission.filter(application_id=fresh.id).select_for_update() \
            .first()
        if permission is None:
            raise DomainError("This application holds no unlock permission to revoke.")
        if permission.revoked_at is not None:
            raise DomainError("This permission was already revoked on %(when)s.",
                              when=format_when(permission.revoked_at))
        if permission.redeemed_at is None and permission.expires_at <= now:
            raise DomainError("This permission ended unused on %(when)s: there is nothing "
                              "to revoke.", when=format_when(permission.expires_at))
        permission.revoked_at = now
        permission.revoked_by = actor.label
        permission.revoked_reason = reason
        await permission.save(update_fields=["revoked_at", "revoked_by", "revoked_reason"])
        await Event.create(application=fresh, actor=actor.label, type="permission_revoked",
                           internal=False, message=reason)
        context = {"account": permission.account_id, "model": permission.model,
                   "revoked_at": now.isoformat(), "reason": reason}
        # The reason and the private link go by email; the SMS says where to read them.
        link = await new_status_link(settings, fresh)
        await notify_applicant(fresh, "permission_revoked", {**context, "status_url": link},
                               channels=(Channel.EMAIL,))
        await notify_applicant(fresh, "permission_revoked", context, channels=(Channel.SMS,))
        await webhooks.emit("permission.revoked", {
            "reference": fresh.reference, "account_id": permission.account_id,
            "model": permission.model, "revoked_at": now.isoformat(), "reason": reason,
            "was_redeemed": permission.redeemed_at is not None,
        })
    log.info("application %s: permission revoked", fresh.reference)
    return permission
