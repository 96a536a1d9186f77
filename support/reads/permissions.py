"""The permission check the maker's unlock tool asks (``GET /api/v1/accounts/{id}/
permission``) and the account's quota the reviewer sees before approving.

Two indexed reads per check: the account's applications (``application_account_idx``) and
its permissions (``permission_account_idx``), newest first and bounded; the answer itself
is support/rules/permissions.py, the same function the redeem asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from support.config import Settings
from support.data.models import Application, Permission
from support.rules import permissions as rules
from support.rules.kinds import KINDS
from support.rules.validation import canonical_account_id


def quota_of(settings: Settings) -> rules.Quota:
    return rules.Quota(settings.unlock_quota, settings.unlock_quota_days)


# Both reads as one statement on PostgreSQL: the check is the API's busiest call, and each
# statement costs a round trip and the ORM's building of it; this is nearly half of a
# check's CPU (bench/README.md, B8). Each branch reads its own index, newest first.
_FACTS_POSTGRES = f"""
(SELECT TRUE AS is_application, id, kind, status, model, created_at, due_at,
        info_requested_at, permission_expires_at, country, time_zone,
        NULL::int AS application_id, NULL::timestamptz AS granted_at,
        NULL::timestamptz AS expires_at, NULL::timestamptz AS redeemed_at,
        NULL::varchar AS device_id, NULL::timestamptz AS revoked_at,
        NULL::timestamptz AS grant_expires_at
   FROM application WHERE account_id = $1 ORDER BY id DESC LIMIT {rules.ROWS_READ})
UNION ALL
(SELECT FALSE, id, NULL, NULL, model, NULL, NULL, NULL, NULL, NULL, NULL, application_id,
        granted_at, expires_at, redeemed_at, device_id, revoked_at, grant_expires_at
   FROM permission WHERE account_id = $1 ORDER BY granted_at DESC LIMIT {rules.ROWS_READ})
"""  # noqa: S608 - the only value is a parameter; ROWS_READ is a constant


async def facts(account_id: str) -> tuple[list[rules.ApplicationFacts],
                                          list[rules.PermissionFacts]]:
    """The account's applications and permissions, newest first (at most
    ``rules.ROWS_READ`` of each)."""
    client = Application._meta.db
    if client.capabilities.dialect == "postgres":
        rows = await client.execute_query_dict(_FACTS_POSTGRES, [account_id])
        return ([rules.application_facts(row) for row in rows if row["is_application"]],
                [rules.permission_facts(row) for row in rows if not row["is_application"]])
    # SQLite answers on this process's thread: two short reads cost no round trip.
    applications = await Application.filter(account_id=account_id).order_by("-id") \
        .limit(rules.ROWS_READ).values(*rules.APPLICATION_COLUMNS)
    permissions = await Permission.filter(account_id=account_id) \
        .order_by("-granted_at").limit(rules.ROWS_READ).values(*rules.PERMISSION_COLUMNS)
    return ([rules.application_facts(row) for row in applications],
            [rules.permission_facts(row) for row in permissions])


async def check(settings: Settings, account_id: str, model: str,
                now: datetime) -> rules.Answer:
    """May ``account_id`` (canonical: no zeros in front) unlock ``model`` now? An account
    the desk has never seen is an answer too: ``no_application``."""
    applications, permissions = await facts(account_id)
    return rules.answer(model, applications, permissions, now, quota_of(settings),
                        settings.sla_hours)


@dataclass(frozen=True)
class QuotaStanding:
    """What the reviewer reads before approving: the account's redeemed unlocks in the
    window, its quota, and when a permission granted now could first be redeemed."""

    used: int
    allowed: int
    days: int
    frees_at: datetime | None  # None: a permission granted now can be redeemed at once
    would_end: datetime | None  # when a permission granted now would end

    @property
    def blocked(self) -> bool:
        return self.frees_at is not None

    @property
    def never_usable(self) -> bool:
        """Approving now grants a permission that ends before the quota frees."""
        return (self.frees_at is not None and self.would_end is not None
                and self.would_end <= self.frees_at)


async def quota_standing(settings: Settings, application: Application,
                         now: datetime) -> QuotaStanding | None:
    """For an application whose approval grants an unlock; None for any other."""
    kind = KINDS.get(application.kind)
    if kind is None or kind.permission is None or not kind.grants_unlock:
        return None
    quota = quota_of(settings)
    redeemed = await Permission.filter(
        account_id=canonical_account_id(application.account_id) or application.account_id,
        redeemed_at__gt=now - timedelta(days=quota.days),
    ).values_list("redeemed_at", flat=True)
    times: list[datetime] = [when for when in redeemed  # type: ignore[misc]
                             if isinstance(when, datetime)]
    return QuotaStanding(used=quota.used(times, now), allowed=quota.count, days=quota.days,
                         frees_at=quota.frees_at(times, now),
                         would_end=now + timedelta(days=kind.permission.days))
