"""Documents on the desk: the download's headers, the view recorded, and 404 outside the
reviewer's queues. Who may use which route is the matrix in test_authz_matrix.py."""

from __future__ import annotations

import secrets
from typing import Any

from support.models import (
    Application,
    Document,
    Event,
)
from support.storage import DocumentStore
from tests.conftest import PDF_BYTES, jpeg_bytes
from tests.factories import make_application

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

