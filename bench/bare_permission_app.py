"""The stack's own limit for B8: Starlette answers the permission check's JSON from one
indexed statement through an asyncpg pool, and nothing else: no key, scope or allowance,
no validation of the account or the model, no ORM, no pydantic models, none of the desk's
middleware (request ids, access log, security headers, metrics).

Run by b8_permission_api.py as ``uvicorn bench.bare_permission_app:app`` with BENCH_DB_URL.

"The same JSON": the answer is decided and worded by the same pure code support's check
calls (support/rules/permissions.py ``answer``, the messages through gettext and
``format_applicant``, both in the asked language and in English), from the same rows, so the
bytes match (b8_permission_api.py compares 300 of them). What differs is how the rows are
read: one ``UNION ALL`` statement over ``application_account_idx`` and
``permission_account_idx`` instead of two ORM queries, and everything around it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support.platform import i18n
from support.platform.formatting import format_applicant
from support.rules import permissions as rules
from support.rules import zones

QUOTA = rules.Quota()
NO_STORE = {"cache-control": "no-store"}

CHECK = """
(SELECT true AS is_application, id, kind, status, model, created_at, due_at,
        info_requested_at, permission_expires_at, country, time_zone,
        NULL::int AS application_id, NULL::timestamptz AS granted_at,
        NULL::timestamptz AS expires_at, NULL::timestamptz AS redeemed_at,
        NULL::varchar AS device_id, NULL::timestamptz AS revoked_at,
        NULL::timestamptz AS grant_expires_at
   FROM application WHERE account_id = $1 ORDER BY id DESC LIMIT 100)
UNION ALL
(SELECT false, id, NULL, NULL, model, NULL, NULL, NULL, NULL, NULL, NULL, application_id,
        granted_at, expires_at, redeemed_at, device_id, revoked_at, grant_expires_at
   FROM permission WHERE account_id = $1 ORDER BY granted_at DESC LIMIT 100)
"""


def _iso(value: datetime | None) -> str | None:
    """As pydantic writes a UTC datetime in JSON."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _words(answer: rules.Answer, model: str, lang: str) -> str:
    zone = (zones.zone_name(answer.application.country, answer.application.time_zone)
            if answer.application is not None and answer.application.country else None)
    params = {"model": model, "when": format_applicant(answer.until, zone, lang),
              **answer.params}
    return i18n.translations(lang).gettext(answer.message) % params


async def check(request: Request) -> Response:
    account_id = request.path_params["account_id"]
    model = request.query_params.get("model", "")
    lang = i18n.choose(request.query_params.get("lang"), None,
                       request.headers.get("accept-language", ""))
    pool: asyncpg.Pool = request.app.state.pool
    rows = await pool.fetch(CHECK, account_id)
    applications = [rules.ApplicationFacts(**{c: row[c] for c in rules.APPLICATION_COLUMNS})
                    for row in rows if row["is_application"]]
    permissions = [rules.PermissionFacts(**{c: row[c] for c in rules.PERMISSION_COLUMNS})
                   for row in rows if not row["is_application"]]
    answer = rules.answer(model, applications, permissions, datetime.now(UTC), QUOTA)
    p = answer.permission
    body: dict[str, Any] = {
        "account_id": account_id, "model": model, "may_unlock": answer.may_unlock,
        "code": answer.code, "message": _words(answer, model, lang),
        "message_en": _words(answer, model, "en"), "lang": lang, "until": _iso(answer.until),
        "permission": None if p is None else {
            "model": p.model, "granted_at": _iso(p.granted_at),
            "expires_at": _iso(p.expires_at), "redeemed_at": _iso(p.redeemed_at),
            "revoked_at": _iso(p.revoked_at)},
    }
    return JSONResponse(body, headers=NO_STORE)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """As support's pool (support/data/db.py): no reset round trip when a connection
    comes back, so the bare app is not measured at an advantage or a disadvantage."""


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(
        os.environ["BENCH_DB_URL"], min_size=1, max_size=20, reset=_keep_session,
        server_settings={"plan_cache_mode": "force_custom_plan",
                         "max_parallel_workers_per_gather": "0"})
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(routes=[Route("/api/v1/accounts/{account_id}/permission", check)],
                lifespan=lifespan)
