"""The API keys' admin page (issue 22): only admins open it; a key made there is shown once
and works on the API; a revoked one stops at once; every form is CSRF-checked."""

from __future__ import annotations

import re
from html import unescape

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support.data.models import ApiKey
from support.web.api import auth, errors
from support.web.api.registry import SCOPES

PAGE = "/review/admin/api-keys"


def _probe(app: Starlette, scope: str) -> httpx2.AsyncClient:
    """An API endpoint needing ``scope``, with the app's own limiter (see test_api_foundation)."""
    async def probe(request: Request) -> Response:
        key = await auth.require(request, scope)
        return JSONResponse({"key": key.name})

    api = Starlette(routes=[Route("/probe", probe)],
                    exception_handlers=errors.HANDLERS)  # type: ignore[arg-type]
    api.state.limiter = app.state.limiter
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=api), base_url="http://t")


def _secret(page: str) -> str:
    match = re.search(r'id="made-secret"[^>]*value="([^"]+)"', page)
    assert match, "the new key is not on the page"
    return unescape(match.group(1))


async def test_an_admin_makes_a_key_shown_once_that_works_until_revoked(desk, app):
    admin = await desk.reviewer("Ada", role="admin")
    empty = await admin.get(PAGE)
    assert empty.status_code == 200 and "No keys yet" in empty.text
    for scope in SCOPES:
        assert f'value="{scope}"' in empty.text

    made = await admin.post(PAGE, {"name": "unlock-service",
                                   "scopes": ["permissions:read", "permissions:redeem"]})
    assert made.status_code == 201
    assert "no-store" in made.headers["cache-control"]
    secret = _secret(made.text)
    assert secret.startswith("sk_")
    assert "not shown again" in made.text
    row = await ApiKey.get(name="unlock-service")
    assert row.scopes == ["permissions:read", "permissions:redeem"]
    assert secret not in (row.key_hash, row.prefix) and secret.startswith(row.prefix)

    # Listed with its first characters only, never the key again.
    listed = await admin.get(PAGE)
    assert "unlock-service" in listed.text and f"{row.prefix}…" in listed.text
    assert secret not in listed.text
    assert "permissions:redeem" in listed.text and "never" in listed.text

    async with _probe(app, "permissions:read") as api:
        bearer = {"authorization": f"Bearer {secret}"}
        assert (await api.get("/probe", headers=bearer)).json() == {"key": "unlock-service"}
        assert "never" not in (await admin.get(PAGE)).text.split("unlock-service")[1] \
            .split("</tr>")[0]  # its last use is shown now

        asked = await admin.get(f"{PAGE}/{row.id}/revoke")
        assert asked.status_code == 200
        assert "Revoke the key “unlock-service”?" in asked.text
        assert (await api.get("/probe", headers=bearer)).status_code == 200  # not yet

        revoked = await admin.post(f"{PAGE}/{row.id}/revoke")
        assert revoked.status_code == 303
        assert revoked.headers["location"] == f"{PAGE}?notice=revoked"
        refused = await api.get("/probe", headers=bearer)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"

    after = await admin.get(revoked.headers["location"])
    assert "Key revoked" in after.text and "revoked " in after.text
    assert f"{PAGE}/{row.id}/revoke" not in after.text  # nothing left to revoke
    again = await admin.post(f"{PAGE}/{row.id}/revoke")
    assert again.headers["location"] == f"{PAGE}?notice=already-revoked"


async def test_a_key_without_scopes_a_name_or_a_new_name_is_refused_in_words(desk):
    admin = await desk.reviewer("Ada", role="admin")
    no_scope = await admin.post(PAGE, {"name": "apps"})
    assert no_scope.status_code == 422
    assert "Choose scopes among" in no_scope.text and 'value="apps"' in no_scope.text
    bogus = await admin.post(PAGE, {"name": "apps", "scopes": ["root"]})
    assert bogus.status_code == 422 and 'id="made-secret"' not in bogus.text
    no_name = await admin.post(PAGE, {"name": "  ", "scopes": ["applications:read"]})
    assert no_name.status_code == 422 and "1 to 64 characters" in no_name.text
    assert await ApiKey.all().count() == 0
    first = await admin.post(PAGE, {"name": "apps", "scopes": ["applications:read"]})
    assert first.status_code == 201
    twice = await admin.post(PAGE, {"name": "apps", "scopes": ["applications:write"]})
    assert twice.status_code == 422 and "exists already" in twice.text
    # The box ticked stays ticked on the refused form.
    assert re.search(r'value="applications:write" checked', twice.text)
    assert await ApiKey.all().count() == 1


@pytest.mark.parametrize("role", ["reviewer", "lead"])
async def test_only_admins_see_or_change_keys(desk, role):
    admin = await desk.reviewer("Ada", role="admin")
    await admin.post(PAGE, {"name": "apps", "scopes": ["applications:read"]})
    key = await ApiKey.get(name="apps")
    other = await desk.reviewer("Bo", role=role)
    for answer in (
        await other.get(PAGE),
        await other.post(PAGE, {"name": "mine", "scopes": list(SCOPES)}),
        await other.get(f"{PAGE}/{key.id}/revoke"),
        await other.post(f"{PAGE}/{key.id}/revoke"),
    ):
        assert answer.status_code == 403
        assert "apps" not in answer.text and "sk_" not in answer.text
    assert await ApiKey.filter(name="mine").count() == 0
    assert (await ApiKey.get(name="apps")).revoked_at is None


async def test_signed_out_is_sent_to_sign_in_and_a_post_is_refused(client, desk):
    admin = await desk.reviewer("Ada", role="admin")
    await admin.post(PAGE, {"name": "apps", "scopes": ["applications:read"]})
    key = await ApiKey.get(name="apps")
    page = await client.get(PAGE)
    assert page.status_code == 303 and page.headers["location"].startswith("/review/login")
    await client.get("/")
    token = client.cookies["support_csrf"]
    posted = await client.post(f"{PAGE}/{key.id}/revoke", data={"csrf_token": token})
    assert posted.status_code == 401
    assert (await ApiKey.get(name="apps")).revoked_at is None


async def test_a_form_without_its_csrf_token_changes_nothing(desk):
    admin = await desk.reviewer("Ada", role="admin")
    await admin.post(PAGE, {"name": "apps", "scopes": ["applications:read"]})
    key = await ApiKey.get(name="apps")
    made = await admin.client.post(PAGE, data={"name": "sneaky", "scopes": ["permissions:read"]})
    revoked = await admin.client.post(f"{PAGE}/{key.id}/revoke", data={"csrf_token": "forged"})
    assert made.status_code == 403 and revoked.status_code == 403
    assert "sk_" not in made.text
    assert await ApiKey.filter(name="sneaky").count() == 0
    assert (await ApiKey.get(name="apps")).revoked_at is None


async def test_an_unknown_key_is_a_404(desk):
    admin = await desk.reviewer("Ada", role="admin")
    assert (await admin.get(f"{PAGE}/999999/revoke")).status_code == 404
    assert (await admin.post(f"{PAGE}/999999/revoke")).status_code == 404
    assert (await admin.get(f"{PAGE}/{'9' * 40}/revoke")).status_code == 404
