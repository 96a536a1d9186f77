"""Who may do what on the reviewer desk: every /review route against anonymous, each role,
and a reviewer of another queue; and the document download's headers."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from starlette.routing import BaseRoute, Mount, Route

from support.app import routes
from support.models import (
    Application,
    CannedResponse,
    Document,
    Event,
    Notification,
    Reviewer,
    Status,
)
from support.storage import DocumentStore
from tests.conftest import jpeg_bytes
from tests.factories import make_application

_numbers = itertools.count(1)

PRINCIPALS = ("anonymous", "reviewer", "lead", "admin", "other_queue")
SIGNED_IN = PRINCIPALS[1:]
EXCLUDED = {"/review/login", "/review/logout"}
REF = "/review/applications/{reference}"
DOC = "/review/documents/{document_id:int}"
LOGIN = (303, "/review/login?next=")


def _all(value: Any, **overrides: Any) -> dict[str, Any]:
    """The same answer for every signed-in principal, except the overrides; anonymous is
    derived from the method (sign-in redirect for GET, 401 for anything else)."""
    return {name: overrides.get(name, value) for name in SIGNED_IN}


# Every /review route, by (method, path), with the answer each principal gets: a status
# code, or (status, start of the Location header) for redirects.
EXPECTED: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/review"): _all((303, "/review/queue")),
    ("GET", "/review/queue"): _all(200),
    ("POST", "/review/next"): _all((303, "/review/applications/"),
                                   other_queue=(303, "/review/queue?notice=empty")),
    ("GET", REF): _all(200, other_queue=404),
    ("POST", REF + "/claim"): _all((303, "/review/applications/"), other_queue=404),
    ("POST", REF + "/release"): _all((303, "/review/queue?notice=released"), other_queue=404),
    ("POST", REF + "/reassign"): _all(403, lead=(303, "/review/applications/"),
                                      admin=(303, "/review/applications/")),
    ("POST", REF + "/notes"): _all((303, "/review/applications/"), other_queue=404),
    ("POST", REF + "/decide"): _all((303, "/review/applications/"), other_queue=404),
    ("GET", DOC): _all(200, other_queue=404),
    # Admin only: everyone else is refused, whatever their queues.
    ("GET", "/review/admin/reviewers"): _all(403, admin=200),
    ("POST", "/review/admin/reviewers"): _all(
        403, admin=(303, "/review/admin/reviewers?notice=created")),
    ("POST", "/review/admin/reviewers/{reviewer_id:int}/deactivate"): _all(
        403, admin=(303, "/review/admin/reviewers?notice=deactivated")),
    ("GET", "/review/admin/responses"): _all(403, admin=200),
    ("POST", "/review/admin/responses"): _all(
        403, admin=(303, "/review/admin/responses?notice=saved")),
    ("POST", "/review/admin/responses/{response_id:int}"): _all(
        403, admin=(303, "/review/admin/responses?notice=saved")),
    # The delivery log: leads and admins.
    ("GET", "/review/admin/deliveries"): _all(403, lead=200, admin=200),
    ("POST", "/review/admin/deliveries/{notification_id:int}/retry"): _all(
        403, lead=(303, "/review/admin/deliveries?notice=retrying"),
        admin=(303, "/review/admin/deliveries?notice=retrying")),
}

# What state the application must be in for the route to make sense to its holder.
NEEDS_IN_REVIEW = {REF + "/release", REF + "/reassign", REF + "/decide"}
CANNED = {"kind": "unlock", "action": "approve", "title": "Approved",
          "body": "Your request is approved."}
FORMS: dict[str, dict[str, str]] = {
    REF + "/notes": {"note": "Checked the receipt against the account."},
    REF + "/decide": {"action": "approve", "message": "Your request is approved."},
    "/review/admin/reviewers": {"email": "new.reviewer@example.com", "name": "New Reviewer",
                                "role": "reviewer", "password": "a long enough password",
                                "kinds": "unlock", "countries": ""},
    "/review/admin/responses": CANNED,
    "/review/admin/responses/{response_id:int}": {**CANNED, "title": "Approved (edited)"},
}


def _walk(entries: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    for entry in entries:
        if isinstance(entry, Route):
            path = prefix + entry.path
            for method in sorted((entry.methods or {"GET"}) - {"HEAD"}):
                yield method, path
        elif isinstance(entry, Mount) and (prefix + entry.path).startswith("/review"):
            yield from _walk(list(entry.routes), prefix + entry.path)


def review_routes() -> set[tuple[str, str]]:
    return {
        (method, path) for method, path in _walk(routes())
        if (path == "/review" or path.startswith("/review/")) and path not in EXCLUDED
    }


def test_the_table_covers_every_review_route():
    found = review_routes()
    assert found, "no /review routes found"
    assert found - set(EXPECTED) == set(), "a /review route has no entry in EXPECTED"
    assert set(EXPECTED) - found == set(), "EXPECTED lists a route that no longer exists"
    for (method, path), answers in EXPECTED.items():
        assert set(answers) == set(SIGNED_IN), (method, path)
        if path.startswith("/review/admin"):
            refused = ("reviewer", "other_queue") if "deliveries" in path else (
                "reviewer", "lead", "other_queue")
            for name in refused:
                assert answers[name] == 403, (method, path, name)


def _expected(method: str, path: str, principal: str) -> Any:
    if principal == "anonymous":
        return LOGIN if method == "GET" else 401
    return EXPECTED[(method, path)][principal]


make = make_application


async def attach(settings: Any, application: Application, content: bytes,
                 name: str = "receipt.jpg", content_type: str = "image/jpeg") -> Document:
    """A stored document, written where the store keeps it."""
    store = DocumentStore(settings.documents_dir)
    key = secrets.token_urlsafe(24)
    target = store.path(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return await Document.create(
        application=application, purpose="receipt", content_type=content_type,
        size=len(content), sha256="0" * 64, storage_key=key, original_name=name,
    )


@dataclass
class Browser:
    """A principal's browser: signed in or not, always with a CSRF cookie, so a refusal
    is about who they are and never about the form."""

    client: httpx2.AsyncClient
    reviewer: Reviewer | None

    async def send(self, method: str, path: str, data: dict[str, str]) -> httpx2.Response:
        if method == "GET":
            return await self.client.get(path)
        token = self.client.cookies.get("support_csrf")
        if token is None:
            await self.client.get("/")
            token = self.client.cookies["support_csrf"]
        return await self.client.post(path, data={"csrf_token": token, **data})


async def browser_for(principal: str, client: httpx2.AsyncClient, desk: Any) -> Browser:
    if principal == "anonymous":
        return Browser(client, None)
    if principal == "other_queue":
        signed = await desk.reviewer(kinds=["recovery"])
    else:
        signed = await desk.reviewer(role=principal)
    return Browser(signed.client, signed.reviewer)


CASES = [
    pytest.param(method, path, principal, id=f"{method} {path} {principal}")
    for (method, path) in EXPECTED
    for principal in PRINCIPALS
]


@pytest.mark.parametrize("method, path, principal", CASES)
async def test_route_access(client, desk, settings, method, path, principal):
    browser = await browser_for(principal, client, desk)
    holder = browser.reviewer if principal in {"reviewer", "lead", "admin"} else (
        await desk.reviewer()).reviewer
    now = datetime.now(UTC)
    values: dict[str, Any] = {"kind": "unlock"}
    if path in NEEDS_IN_REVIEW:
        values.update(status=Status.IN_REVIEW, assignee=holder, claimed_at=now,
                      last_activity_at=now)
    application = await make(**values)
    document = await attach(settings, application, jpeg_bytes())
    target = (await desk.reviewer()).reviewer
    canned = await CannedResponse.create(kind="unlock", action="approve", title="Yes",
                                         body="Approved.")
    notification = await Notification.create(
        application=application, channel="email", recipient=application.email,
        template="received", context={}, next_attempt_at=now, status="dead", attempts=6,
        idempotency_key=f"authz-{application.id}.email")
    data = dict(FORMS.get(path, {}))
    if path == REF + "/reassign":
        data["reviewer_id"] = str(target.id)
    params = {"{reference}": application.reference, "{document_id:int}": str(document.id),
              "{reviewer_id:int}": str(target.id), "{response_id:int}": str(canned.id),
              "{notification_id:int}": str(notification.id)}
    url = path
    for placeholder, value in params.items():
        url = url.replace(placeholder, value)
    assert "{" not in url, f"no value for the path parameters of {path}"
    before = await _snapshot()

    response = await browser.send(method, url, data)

    expected = _expected(method, path, principal)
    status, location = expected if isinstance(expected, tuple) else (expected, None)
    assert response.status_code == status, response.text[:500]
    if location is not None:
        assert response.headers["location"].startswith(location), response.headers["location"]
    if status in {401, 403, 404}:
        assert "no-store" in response.headers.get("cache-control", "")
    if principal == "anonymous" and method != "GET":
        assert "/review/login" in response.text  # a way back in, not a bare code
    if status in {401, 403, 404} and method == "POST":
        # A refused request changed nothing: no event, no row, the status as it was.
        fresh = await Application.get(id=application.id)
        assert fresh.status is values.get("status", Status.QUEUED)
        assert not await Event.filter(application_id=application.id).exists()
        assert await _snapshot() == before


async def _snapshot() -> tuple[Any, ...]:
    return (
        await Reviewer.filter(active=True).count(),
        await Reviewer.all().count(),
        sorted(await CannedResponse.all().values_list("id", "title", "active")),
    )


# Document download

async def test_document_download_headers(desk, settings):
    signed = await desk.reviewer()
    application = await make()
    content = jpeg_bytes()
    document = await attach(settings, application, content, name="receipt.jpg")
    response = await signed.get(f"/review/documents/{document.id}")
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("inline") and "receipt.jpg" in disposition
    assert "private" in response.headers["cache-control"]
    assert "no-store" in response.headers["cache-control"]
    assert "sandbox" in response.headers["content-security-policy"]
    viewed = await Event.filter(application_id=application.id, type="document_viewed").first()
    assert viewed is not None and viewed.actor == f"reviewer:{signed.reviewer.id}"


async def test_document_download_as_attachment(desk, settings):
    signed = await desk.reviewer()
    application = await make()
    document = await attach(settings, application, b"%PDF-1.4\n%%EOF\n",
                            name="bill.pdf", content_type="application/pdf")
    response = await signed.get(f"/review/documents/{document.id}?download=1")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert "bill.pdf" in response.headers["content-disposition"]


async def test_document_of_another_queue_is_404(desk, settings):
    signed = await desk.reviewer(kinds=["recovery"])
    application = await make(kind="unlock")
    document = await attach(settings, application, jpeg_bytes())
    response = await signed.get(f"/review/documents/{document.id}")
    assert response.status_code == 404
    assert response.content != jpeg_bytes()
    assert not await Event.filter(type="document_viewed").exists()


async def test_document_of_another_country_is_404(desk, settings):
    signed = await desk.reviewer(countries=["RU"])
    application = await make(country="IN")
    document = await attach(settings, application, jpeg_bytes())
    assert (await signed.get(f"/review/documents/{document.id}")).status_code == 404


async def test_guessed_document_ids_are_404(desk, settings):
    signed = await desk.reviewer()
    document = await attach(settings, await make(), jpeg_bytes())
    for guess in (document.id + 1, document.id + 1000, 0, 2**31 - 1):
        response = await signed.get(f"/review/documents/{guess}")
        assert response.status_code == 404, guess
    for junk in ("abc", "-1", "1.5"):
        assert (await signed.get(f"/review/documents/{junk}")).status_code == 404, junk


async def test_anonymous_document_request_goes_to_sign_in(client, settings):
    document = await attach(settings, await make(), jpeg_bytes())
    response = await client.get(f"/review/documents/{document.id}")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/review/login?next=")
    assert response.content != jpeg_bytes()


async def test_application_page_of_another_queue_is_404_even_by_exact_reference(desk):
    signed = await desk.reviewer(kinds=["recovery"])
    application = await make(kind="unlock")
    unknown = await signed.get("/review/applications/UL-2222-2222")
    hidden = await signed.get(f"/review/applications/{application.reference}")
    assert unknown.status_code == hidden.status_code == 404
    assert application.reference not in hidden.text

