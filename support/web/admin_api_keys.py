"""Admin page: the maker's API keys (issue 22). Admins see every key (its name, the first
characters that name it in logs, its scopes, when it was made, last used and revoked), make
one (the key itself shown once, on the page that answers the form, never again), and revoke
one after a confirmation. Every change goes through ``workflow.api_keys``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from support.accounts import history
from support.data.models import ApiKey
from support.web import params
from support.web.api.registry import SCOPES
from support.web.auth import render_review, requires
from support.web.forms import read_small_form
from support.workflow import api_keys

PAGE = "/review/admin/api-keys"


async def _page(request: Request, *, status: int = 200, error: str = "",
                values: dict[str, Any] | None = None, made: api_keys.NewKey | None = None,
                confirm: ApiKey | None = None) -> Response:
    return render_review(request, "review/admin_api_keys.html", {
        "keys": await api_keys.listed(), "scopes": SCOPES, "error": error,
        "values": values or {}, "made": made, "confirm": confirm,
        "notice": request.query_params.get("notice", ""),
    }, status)


async def _key(request: Request) -> ApiKey | None:
    key_id = params.path_id(request, "key_id")
    if key_id is None:
        return None
    return next((k for k in await api_keys.listed() if k.id == key_id), None)


@requires("admin")
async def keys_page(request: Request) -> Response:
    return await _page(request)


@requires("admin")
async def make_key(request: Request) -> Response:
    """The new key on the answer's page (no redirect: nothing may carry it further)."""
    form = await read_small_form(request)
    name = form.get("name").strip()
    scopes = form.fields.get("scopes", [])
    try:
        made = await api_keys.create(name, scopes, SCOPES,
                                     by=history.actor_of(request.state.reviewer))
    except api_keys.KeyRefused as refused:
        return await _page(request, status=422, error=str(refused),
                           values={"name": name[:64], "scopes": scopes})
    return await _page(request, status=201, made=made)


@requires("admin")
async def confirm_revoke(request: Request) -> Response:
    key = await _key(request)
    if key is None:
        return render_review(request, "errors/404.html", {}, 404)
    if key.revoked_at is not None:
        return RedirectResponse(f"{PAGE}?notice=already-revoked", 303)
    return await _page(request, confirm=key)


@requires("admin")
async def revoke_key(request: Request) -> Response:
    await read_small_form(request)
    key = await _key(request)
    if key is None:
        return render_review(request, "errors/404.html", {}, 404)
    try:
        await api_keys.revoke(key.name, by=history.actor_of(request.state.reviewer))
    except api_keys.KeyRefused:  # revoked by someone else meanwhile: the same outcome
        return RedirectResponse(f"{PAGE}?notice=already-revoked", 303)
    return RedirectResponse(f"{PAGE}?notice=revoked", 303)


def routes() -> list[Route]:
    return [
        Route(PAGE, keys_page, methods=["GET"]),
        Route(PAGE, make_key, methods=["POST"]),
        Route(PAGE + "/{key_id:int}/revoke", confirm_revoke, methods=["GET"]),
        Route(PAGE + "/{key_id:int}/revoke", revoke_key, methods=["POST"]),
    ]
