"""Headers every page carries, the CSRF cookie, escaping of typed values, /healthz, and
the desk's JavaScript budget."""

from __future__ import annotations

import pytest

from support.app import STATIC_DIR
from tests.conftest import UNLOCK, hidden_fields, jpeg_bytes

# Issue 20: the desk's JavaScript as static files under the CSP, "small (no framework
# needed; under 30 KB)".
DESK_SCRIPT_BUDGET = 30_000

PAGES = ["/", "/apply/unlock", "/apply/recovery", "/status", "/no-such-page", "/apply/nonsense"]


def assert_security_headers(response) -> None:
    policy = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["default-src"] == ["'self'"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in {"no-referrer", "same-origin"}


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_carries_the_security_headers(client, path):
    response = await client.get(path)
    assert response.status_code in {200, 404}
    assert response.headers["content-type"].startswith("text/html")
    assert_security_headers(response)


async def test_refusals_carry_the_security_headers_too(client):
    await client.get("/apply/unlock")
    response = await client.post("/apply/unlock", data={**UNLOCK, "csrf_token": "wrong"},
                                 files={"receipt": ("r.jpg", jpeg_bytes(), "image/jpeg")})
    assert response.status_code == 403
    assert_security_headers(response)


async def test_csrf_cookie_is_httponly_and_samesite_lax(client):
    response = await client.get("/")
    cookies = [c for c in response.headers.get_list("set-cookie") if c.startswith("support_csrf=")]
    assert len(cookies) == 1
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookies[0].split(";")}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=lax"
    assert attributes["path"] == "Path=/"
    value = cookies[0].split(";")[0].split("=", 1)[1]
    assert len(value) >= 32

    again = await client.get("/apply/unlock")  # the cookie is kept, not replaced on each page
    assert not [c for c in again.headers.get_list("set-cookie") if c.startswith("support_csrf=")]
    assert hidden_fields(again.text)["csrf_token"] == value


@pytest.mark.parametrize("field", ["reason", "model", "email", "account_id"])
async def test_typed_markup_comes_back_escaped(client, field):
    script = "<script>alert(1)</script>"
    tokens = hidden_fields((await client.get("/apply/unlock")).text)
    response = await client.post(
        "/apply/unlock", data={**tokens, **UNLOCK, field: script},
        files={"receipt": ("r.jpg", jpeg_bytes(), "image/jpeg")},
    )
    assert response.status_code == 422
    assert script not in response.text
    assert "<script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


async def test_healthz_reports_the_database(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["database"] == "ok"
    assert body["status"] == "ok"


def test_the_desks_javascript_stays_within_its_budget():
    sizes = {path.name: path.stat().st_size
             for path in sorted((STATIC_DIR / "review").glob("*.js"))}
    assert sizes, f"no desk scripts under {STATIC_DIR / 'review'}"
    total = sum(sizes.values())
    assert total <= DESK_SCRIPT_BUDGET, (
        f"the desk's JavaScript is {total:,} bytes ({sizes}): issue 20's budget is under "
        f"30 KB ({DESK_SCRIPT_BUDGET:,} bytes) for all of static/review/*.js")
