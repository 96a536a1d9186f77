"""The document viewer's routes: thumbnails drawn with the page are not views, opening or
downloading a document is one; a PDF's pages come back as pictures, as many as it has; a
broken or slow PDF is said in words, never a 5xx; other queues' reviewers get a 404."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image, ImageDraw

from support.data.models import Document, Event
from support.documents import rendering
from tests.conftest import jpeg_bytes
from tests.factories import make_application
from tests.test_authz_matrix import attach

PDF = "application/pdf"


@pytest.fixture(autouse=True)
def _fresh_cache():
    rendering.forget()
    yield
    rendering.forget()


def pdf_bytes(pages: int = 3, size: tuple[int, int] = (300, 400)) -> bytes:
    """A real PDF of ``pages`` pages, each saying its number (Pillow writes it)."""
    drawn = []
    for number in range(1, pages + 1):
        page = Image.new("RGB", size, "white")
        ImageDraw.Draw(page).text((20, 20), f"Receipt page {number}", fill="black")
        drawn.append(page)
    out = io.BytesIO()
    drawn[0].save(out, "PDF", save_all=True, append_images=drawn[1:])
    return out.getvalue()


def picture(response) -> Image.Image:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in response.headers["cache-control"]
    assert "private" in response.headers["cache-control"]
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "JPEG"
    return image


async def views(application) -> list[str]:
    return [e.message for e in await Event.filter(
        application_id=application.id, type="document_viewed").order_by("id")]


async def test_thumbnails_drawn_with_the_page_are_not_views(desk, settings):
    ann = await desk.reviewer()
    application = await make_application()
    photo = await attach(settings, application, jpeg_bytes((1200, 900)), name="receipt.jpg")
    bill = await attach(settings, application, pdf_bytes(), name="bill.pdf", content_type=PDF)

    page = await ann.get(f"/review/applications/{application.reference}")
    assert page.status_code == 200
    for doc in (photo, bill):
        assert f'src="/review/documents/{doc.id}/thumbnail"' in page.text
        assert f'src="/review/documents/{doc.id}"' not in page.text
        small = picture(await ann.get(f"/review/documents/{doc.id}/thumbnail"))
        assert max(small.size) <= rendering.THUMBNAIL_SIDE
    # Opening links are there for a browser without JavaScript.
    assert f'href="/review/documents/{photo.id}"' in page.text
    assert f'href="/review/documents/{bill.id}/pages/1"' in page.text
    assert f'href="/review/documents/{bill.id}?download=1"' in page.text
    assert await views(application) == []


async def test_opening_and_downloading_are_views(desk, settings):
    ann = await desk.reviewer()
    application = await make_application()
    photo = await attach(settings, application, jpeg_bytes(), name="receipt.jpg")
    bill = await attach(settings, application, pdf_bytes(), name="bill.pdf", content_type=PDF)

    opened = await ann.get(f"/review/documents/{photo.id}")
    assert opened.status_code == 200 and opened.headers["content-type"] == "image/jpeg"
    downloaded = await ann.get(f"/review/documents/{bill.id}?download=1")
    assert downloaded.headers["content-disposition"].startswith("attachment")
    picture(await ann.get(f"/review/documents/{bill.id}/pages/1"))  # the viewer opens a PDF
    picture(await ann.get(f"/review/documents/{bill.id}/pages/2"))  # turning a page: not again
    assert await views(application) == [
        "Viewed receipt (receipt.jpg).", "Downloaded receipt (bill.pdf).",
        "Viewed receipt (bill.pdf).",
    ]
    viewed = await Event.filter(application_id=application.id, type="document_viewed").first()
    assert viewed is not None and viewed.internal and viewed.actor == f"reviewer:{ann.reviewer.id}"


async def test_pdf_pages_are_pictures_as_many_as_it_has(desk, settings):
    ann = await desk.reviewer()
    application = await make_application()
    bill = await attach(settings, application, pdf_bytes(3, (300, 400)), name="bill.pdf",
                        content_type=PDF)
    sizes = {picture(await ann.get(f"/review/documents/{bill.id}/pages/{n}")).size
             for n in (1, 2, 3)}
    assert len(sizes) == 1
    width, height = sizes.pop()
    assert width > 300 and abs(width / height - 0.75) < 0.01  # sharper than the page, same shape
    for beyond in (4, 0, 99, 2**31, 10**30):
        response = await ann.get(f"/review/documents/{bill.id}/pages/{beyond}")
        assert response.status_code == 404, beyond
    for junk in ("x", "-1", "1.5"):
        assert (await ann.get(f"/review/documents/{bill.id}/pages/{junk}")).status_code == 404

    page = await ann.get(f"/review/applications/{application.reference}")
    assert 'data-pages="3"' in page.text
    assert "PDF, 3 pages" in page.text
    for n in (1, 2, 3):
        assert f'href="/review/documents/{bill.id}/pages/{n}"' in page.text


async def test_a_photo_has_no_pages(desk, settings):
    ann = await desk.reviewer()
    photo = await attach(settings, await make_application(), jpeg_bytes())
    assert (await ann.get(f"/review/documents/{photo.id}/pages/1")).status_code == 404


async def test_a_huge_page_is_drawn_within_the_pixel_cap(desk, settings):
    ann = await desk.reviewer()
    poster = await attach(settings, await make_application(), pdf_bytes(1, (5000, 4000)),
                          name="poster.pdf", content_type=PDF)
    image = picture(await ann.get(f"/review/documents/{poster.id}/pages/1"))
    assert image.size[0] * image.size[1] <= rendering.PAGE_PIXELS


async def _broken_but_marked_safe(settings, application) -> Document:
    """Bytes that passed for a PDF once (marked safe) but that no renderer can draw."""
    doc = await attach(settings, application, b"%PDF-1.7\n" + b"\x00garbage" * 500,
                       name="odd.pdf", content_type=PDF)
    await Document.filter(id=doc.id).update(sanitised_at=datetime.now(UTC))
    return doc


async def test_a_pdf_that_cannot_be_drawn_is_said_in_words(desk, settings):
    ann = await desk.reviewer()
    application = await make_application()
    doc = await _broken_but_marked_safe(settings, application)
    for path in (f"/review/documents/{doc.id}/thumbnail", f"/review/documents/{doc.id}/pages/1",
                 f"/review/documents/{doc.id}/pages/2"):
        response = await ann.get(path)
        assert response.status_code == 422, path
        assert response.headers["content-type"].startswith("text/html")
        assert "could not be drawn" in response.text
        assert f"/review/documents/{doc.id}?download=1" in response.text
    page = await ann.get(f"/review/applications/{application.reference}")
    assert page.status_code == 200
    assert "cannot be drawn as pages" in page.text
    assert await views(application) == []


async def test_the_worker_counts_a_pdfs_pages_so_the_page_never_starts_pdfium(
        desk, settings, monkeypatch):
    from support.documents.filing import sanitise_pending

    ann = await desk.reviewer()
    application = await make_application()
    bill = await attach(settings, application, pdf_bytes(3), name="bill.pdf", content_type=PDF)
    photo = await attach(settings, application, jpeg_bytes(), name="receipt.jpg")
    await sanitise_pending(settings)  # the worker files them
    assert (await Document.get(id=bill.id)).page_count == 3
    assert (await Document.get(id=photo.id)).page_count is None

    rendering.forget()  # a web process that never drew it
    started: list[str] = []

    async def no_pdfium(path, arguments):
        started.append(path)
        raise AssertionError("PDFium started to count pages")

    monkeypatch.setattr(rendering, "_run", no_pdfium)
    page = await ann.get(f"/review/applications/{application.reference}")
    assert page.status_code == 200
    assert 'data-pages="3"' in page.text
    assert started == []


async def test_a_pdf_filed_before_its_count_was_kept_is_counted_once(desk, settings):
    ann = await desk.reviewer()
    application = await make_application()
    bill = await attach(settings, application, pdf_bytes(2), name="bill.pdf", content_type=PDF)
    await Document.filter(id=bill.id).update(sanitised_at=datetime.now(UTC))  # filed, uncounted
    assert (await Document.get(id=bill.id)).page_count is None
    page = await ann.get(f"/review/applications/{application.reference}")
    assert 'data-pages="2"' in page.text
    assert (await Document.get(id=bill.id)).page_count == 2
    # One that cannot be drawn is kept as 0: said in words, and not tried again.
    broken = await _broken_but_marked_safe(settings, application)
    page = await ann.get(f"/review/applications/{application.reference}")
    assert "cannot be drawn as pages" in page.text
    assert (await Document.get(id=broken.id)).page_count == 0


async def test_a_pdf_that_takes_too_long_is_stopped(desk, settings, monkeypatch):
    ann = await desk.reviewer()
    bill = await attach(settings, await make_application(), pdf_bytes(), name="bill.pdf",
                        content_type=PDF)
    monkeypatch.setattr(rendering, "RENDER_SECONDS", 0.001)
    response = await ann.get(f"/review/documents/{bill.id}/pages/1")
    assert response.status_code == 422
    assert "could not be drawn" in response.text


async def test_other_queues_and_strangers_get_nothing(desk, settings, client):
    other = await desk.reviewer(kinds=["recovery"])
    application = await make_application(kind="unlock")
    photo = await attach(settings, application, jpeg_bytes())
    bill = await attach(settings, application, pdf_bytes(), name="bill.pdf", content_type=PDF)
    for path in (f"/review/documents/{photo.id}/thumbnail",
                 f"/review/documents/{bill.id}/thumbnail",
                 f"/review/documents/{bill.id}/pages/1",
                 f"/review/documents/{bill.id + 1000}/pages/1"):
        response = await other.get(path)
        assert response.status_code == 404, path
        assert not response.headers["content-type"].startswith("image/")
        anonymous = await client.get(path)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/review/login?next=")
    assert await views(application) == []


async def test_documents_sent_in_a_reply_are_new_since_the_request(desk, settings):
    ann = await desk.reviewer()
    asked = datetime.now(UTC) - timedelta(hours=2)
    application = await make_application(info_requested_at=asked)
    first = await attach(settings, application, jpeg_bytes(), name="first.jpg")
    await Document.filter(id=first.id).update(created_at=asked - timedelta(days=1))
    await attach(settings, application, jpeg_bytes(), name="second.jpg")

    page = await ann.get(f"/review/applications/{application.reference}")
    items = re.findall(r'<li class="document viewer-item".*?</li>', page.text, re.S)
    assert len(items) == 2
    marked = {("first.jpg" in item, "New since the request" in item) for item in items}
    assert marked == {(True, False), (False, True)}


async def test_a_hostile_pdf_is_never_drawn(desk, settings):
    ann = await desk.reviewer()
    application = await make_application()
    scripted = pdf_bytes(1).replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction "
                                    b"<< /S /JavaScript /JS (app.alert(1)) >>", 1)
    assert scripted != pdf_bytes(1)
    doc = await attach(settings, application, scripted, name="trap.pdf", content_type=PDF)
    for path in (f"/review/documents/{doc.id}/thumbnail", f"/review/documents/{doc.id}/pages/1"):
        response = await ann.get(path)
        assert response.status_code == 409, path
        assert "could not be made safe" in response.text
    page = await ann.get(f"/review/applications/{application.reference}")
    assert page.status_code == 200
    assert "this document could not be made safe" in page.text
    assert f"/review/documents/{doc.id}/thumbnail" not in page.text
    assert await views(application) == []


async def test_a_long_pdf_offers_only_the_pages_the_viewer_draws(desk, settings):
    """Past MAX_PAGES the viewer would ask for pages the server refuses: the page offers the
    first ones and says the rest are in the download."""
    from support.documents.rendering import MAX_PAGES

    ann = await desk.reviewer()
    application = await make_application()
    long = await attach(settings, application, pdf_bytes(MAX_PAGES + 2, (60, 80)),
                        name="long.pdf", content_type=PDF)
    page = (await ann.get(f"/review/applications/{application.reference}")).text
    assert f'data-pages="{MAX_PAGES}"' in page
    assert f"{MAX_PAGES + 2} pages" in page
    assert f"the first {MAX_PAGES} shown here; download it for the rest" in page
    assert f"/review/documents/{long.id}/pages/{MAX_PAGES}\"" in page
    assert f"/review/documents/{long.id}/pages/{MAX_PAGES + 1}\"" not in page
    beyond = await ann.get(f"/review/documents/{long.id}/pages/{MAX_PAGES + 1}")
    assert beyond.status_code == 404
