"""Documents on the desk: the download's headers, the view recorded, 404 outside the
reviewer's queues, and no way to reach one by guessing (static paths, status tokens,
references, storage keys). Who may use which route is the matrix in test_authz_matrix.py."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.staticfiles import StaticFiles

from support.app import STATIC_DIR
from support.data.models import Application, Document, Event, Status
from support.documents.filing import sanitise_pending
from support.documents.storage import StagedFile
from support.documents.store import DocumentStore
from tests.conftest import BASE, PDF_BYTES, UNLOCK, jpeg_bytes
from tests.factories import make_application
from tests.kept import kept
from tests.test_authz_matrix import attach, new_token, no_leak, route_table

make = make_application


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
    document = await attach(settings, application, PDF_BYTES,  # parses: served only once checked
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


# Documents cannot be reached by guessing

async def _stored(settings: Any) -> tuple[Application, Document, bytes, str]:
    application = await make_application()
    content = jpeg_bytes((50, 70))
    document = await attach(settings, application, content, name="passport.jpg")
    return application, document, content, await new_token(application)


async def test_no_static_path_serves_the_data_dir(client, settings):
    application, document, content, _ = await _stored(settings)
    canary = b"canary-" + secrets.token_hex(8).encode()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "canary.txt").write_bytes(canary)
    key = document.storage_key
    mount = next(m for m in route_table()[1] if m.path == "/static")
    assert isinstance(mount.app, StaticFiles)
    static = Path(str(mount.app.directory)).resolve()
    data = settings.data_dir.resolve()
    assert static == STATIC_DIR.resolve()
    assert not data.is_relative_to(static) and not static.is_relative_to(data)
    relative_to_data = f"documents/{key[:2]}/{key}"  # where the disk store keeps it
    stored = data / relative_to_data
    guesses = [
        f"/static/{key}", f"/static/{key[:2]}/{key}", f"/static/documents/{key[:2]}/{key}",
        f"/static/{relative_to_data}", "/static/canary.txt", f"/{relative_to_data}",
        f"/documents/{key[:2]}/{key}", f"/data/documents/{key[:2]}/{key}", f"/{key}",
        "/canary.txt", "/data/canary.txt", "/var/canary.txt", f"/static/{stored}",
        f"/static//{stored}", "/static/%2e%2e/%2e%2e/canary.txt",
        "/static/..%2f..%2fcanary.txt", "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        f"/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e{stored}",
        f"/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e{data}/canary.txt",
        "/static/..%5c..%5ccanary.txt", "/static/%252e%252e/canary.txt",
    ]
    for guess in guesses:
        response = await client.get(guess)
        assert response.status_code == 404, (guess, response.status_code)
        no_leak(response, content, canary, b"root:x:0:0")
    assert (await client.get("/static/site.css")).status_code == 200  # it does serve


async def test_status_tokens_and_references_do_not_open_documents(app, client, desk, settings):
    application, document, content, token = await _stored(settings)
    admin = await desk.reviewer(role="admin")
    doc = f"/review/documents/{document.id}"
    status_page = await client.get(f"/status/{token}")
    assert status_page.status_code == 200
    assert document.storage_key not in status_page.text and doc not in status_page.text
    # The token as a query, a header, the session cookie; the reference as the cookie.
    attempts = [(f"{doc}?token={token}", {}, {}),
                (doc, {"authorization": f"Bearer {token}"}, {}),
                (doc, {}, {"support_session": token}),
                (doc, {}, {"support_session": application.reference})]
    for url, headers, cookies in attempts:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE,
                                      cookies=cookies) as browser:
            response = await browser.get(url, headers=headers)
        assert response.status_code == 303, url
        assert response.headers["location"].startswith("/review/login?next=")
        no_leak(response, content)
    for guess in (f"/status/{token}/documents/{document.id}", f"/status/{token}/{document.id}",
                  f"/status/{token}/documents/{document.storage_key}",
                  f"/status/{document.storage_key}", f"/status/{application.reference}",
                  f"/applications/{application.reference}/documents/{document.id}",
                  f"/applications/{application.reference}/verify/{document.id}"):
        response = await client.get(guess)
        assert response.status_code in {404, 405}, guess
        no_leak(response, content)
    # Even signed in as an admin, a document is addressed by its id and nothing else.
    for guess in (f"/review/documents/{application.reference}",
                  f"/review/documents/{document.storage_key}",
                  f"/review/documents/{document.original_name}",
                  f"/review/applications/{application.reference}/documents/{document.id}"):
        response = await admin.get(guess)
        assert response.status_code == 404, guess
        no_leak(response, content)


async def test_a_document_of_another_queue_reads_exactly_like_a_missing_one(desk, settings):
    """404, not 403: the answer must not confirm that the id exists."""
    other = await desk.reviewer(kinds=["unlock"], countries=["RU"])
    _, document, content, _ = await _stored(settings)
    hidden = await other.get(f"/review/documents/{document.id}")
    missing = await other.get(f"/review/documents/{document.id + 10_000}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text == missing.text
    assert hidden.headers.get("content-type") == missing.headers.get("content-type")
    no_leak(hidden, content)


async def test_storage_keys_are_random_and_long(settings, tmp_path, applicant, outbox):
    """At least 128 bits from the system's CSPRNG, nothing derived from the file, its name,
    its application or the time."""
    store = DocumentStore.of(settings)
    keys = []
    for i in range(200):
        staged = tmp_path / f"upload-{i}"
        staged.write_bytes(b"same content")
        keys.append((await store.put(StagedFile(
            field="receipt", path=staged, original_name="receipt.jpg", size=12,
            sha256="0" * 64, too_large=False, head=b""))).key)
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", key)
        assert len(key) * 6 >= 128, key  # base64url: six bits a character
        assert "receipt" not in key
    # Every position varies (a counter, a timestamp or a hash of the content would not).
    for position in range(22):
        assert len({key[position] for key in keys}) > 20, position
    # And through the form, as an applicant's document is really stored.
    response = await applicant.submit("unlock", UNLOCK)
    assert response.status_code == 303
    stored = await Document.get(original_name="receipt.jpg")
    assert len(stored.storage_key) * 6 >= 128
    assert stored.storage_key not in keys
    await sanitise_pending(settings)  # the worker writes its file under the key
    assert kept(settings, stored.storage_key).exists()
    if settings.storage is None:  # on disk, no folder on the way names the file either
        path = DocumentStore.of(settings).path(stored.storage_key)
        assert "receipt" not in path.as_posix().removeprefix(settings.data_dir.as_posix())



@pytest.mark.parametrize("reference", [
    pytest.param("A" * 17, id="17 characters"),
    pytest.param("UL-%00", id="NUL"),
])
async def test_a_malformed_reference_is_a_404_not_a_500(app, desk, reference):
    admin = await desk.reviewer(role="admin")
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url=BASE) as browser:
        browser.cookies.set("support_session", admin.client.cookies["support_session"])
        for path in (f"/applications/{reference}/verify", f"/review/applications/{reference}"):
            response = await browser.get(path)
            assert response.status_code == 404, (path, response.status_code)


@pytest.mark.parametrize("number", [
    pytest.param(str(2**31), id="2**31 (past int4, PostgreSQL)"),
    pytest.param(str(2**63), id="2**63 (past SQLite's integers)"),
    pytest.param("9" * 30, id="30 digits"),
    pytest.param("0" * 40 + "7", id="leading zeros"),
])
async def test_ids_past_what_the_columns_hold_are_404s_not_500s(app, desk, number):
    """Starlette's ``{id:int}`` takes any run of digits, and the database refused them: a
    500 page for a reviewer's document link, an admin's deactivation, a lead's retry and
    a reassignment (issue 19). Each names nothing: a 404, or "nothing to retry"."""
    admin = await desk.reviewer(role="admin")
    held = await make(status=Status.IN_REVIEW, assignee=admin.reviewer)
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url=BASE) as browser:
        browser.cookies.set("support_session", admin.client.cookies["support_session"])
        await browser.get("/")
        csrf = {"csrf_token": browser.cookies["support_csrf"]}
        document = await browser.get(f"/review/documents/{number}")
        assert document.status_code == 404, document.status_code
        for path in (f"/review/admin/reviewers/{number}/deactivate",
                     f"/review/admin/responses/{number}"):
            answer = await browser.post(path, data={
                **csrf, "kind": "unlock", "action": "approve", "title": "T", "body": "B"})
            assert answer.status_code == 404, (path, answer.status_code)
        retried = await browser.post(f"/review/admin/deliveries/{number}/retry", data=csrf)
        assert retried.status_code == 303, retried.status_code
        assert retried.headers["location"].endswith("notice=nothing")
        reassigned = await browser.post(f"/review/applications/{held.reference}/reassign",
                                         data={**csrf, "reviewer_id": number})
        assert reassigned.status_code == 404, reassigned.status_code
