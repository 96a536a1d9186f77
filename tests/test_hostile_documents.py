"""Hostile documents (issue 7), sent through the real form, and what reviewers are given.

At upload: each refusal is a specific message next to its field, everything typed is kept,
and nothing of the request stays on disk. Before a reviewer: photos are re-encoded
without metadata (by the worker, or on demand by the document route), PDFs checked again,
and a document that cannot be made safe is shown as such instead of the file.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import threading
from typing import Any

import pytest
from PIL import ExifTags, Image

from support import workflow
from support.clock import worker
from support.config import Settings
from support.data.models import Application, Document, Event, Status
from support.documents import pdfs
from support.documents.filing import sanitise_document, sanitise_pending
from support.documents.refusals import Reason, Refused
from support.notify import delivery
from tests import hostile
from tests.conftest import RECOVERY, UNLOCK, jpeg_bytes
from tests.factories import make_application, uploaded
from tests.kept import everything_kept, kept
from tests.test_apply import (
    Page,
    assert_error_next_to,
    assert_values_kept,
    leftovers,
    post_apply,
    receipt,
)

BOMB = "more than 64 million pixels"
HIDDEN = "something else hidden inside it"
SCRIPTS = "scripts or actions that run by themselves"
ATTACHED = "other files attached inside it"
PASSWORD = "protected by a password"
DAMAGED = "damaged or incomplete"

TYPED = {**UNLOCK, "reason": UNLOCK["reason"] + " Ich tippe das nur einmal: ещё раз не хочу."}

REFUSED = [
    pytest.param("r.png", hostile.png_bomb(), BOMB, id="png-bomb-50000x50000"),
    pytest.param("r.jpg", hostile.jpeg_bomb(), BOMB, id="jpeg-bomb-60000x60000"),
    pytest.param("r.pdf", hostile.pdf_open_action_javascript(), SCRIPTS, id="pdf-openaction-js"),
    pytest.param("r.pdf", hostile.pdf_names_javascript(), SCRIPTS, id="pdf-names-tree-js"),
    pytest.param("r.pdf", hostile.pdf_page_additional_action(), SCRIPTS, id="pdf-aa-beacon"),
    pytest.param("r.pdf", hostile.pdf_open_action_uri(), SCRIPTS, id="pdf-openaction-uri"),
    pytest.param("r.pdf", hostile.pdf_launch(), SCRIPTS, id="pdf-launch"),
    pytest.param("r.pdf", hostile.pdf_hex_obfuscated(), SCRIPTS, id="pdf-hex-obfuscated-js"),
    pytest.param("r.pdf", hostile.pdf_javascript_in_object_stream(), SCRIPTS,
                 id="pdf-js-in-compressed-object-stream"),
    pytest.param("r.pdf", hostile.pdf_embedded_file(), ATTACHED, id="pdf-embedded-file"),
    pytest.param("r.pdf", hostile.pdf_file_attachment_annotation(), ATTACHED,
                 id="pdf-file-attachment-annotation"),
    pytest.param("r.pdf", hostile.pdf_encrypted("secret"), PASSWORD, id="pdf-user-password"),
    pytest.param("r.pdf", hostile.pdf_unparseable(), DAMAGED, id="pdf-unparseable"),
    pytest.param("r.pdf", hostile.pdf_broken_xref(), DAMAGED, id="pdf-broken-xref"),
    pytest.param("r.jpg", hostile.jpeg() + hostile.jar(), HIDDEN, id="jpeg+zip"),
    pytest.param("r.png", hostile.png() + hostile.jar(), HIDDEN, id="gifar-style-png+jar"),
    pytest.param("r.png", hostile.png() + hostile.HTML, HIDDEN, id="png+html"),
    pytest.param("r.jpg", hostile.jpeg() + hostile.GOOD_PDF, HIDDEN, id="jpeg+pdf"),
    pytest.param("r.jpg", hostile.jpeg() + hostile.SCRIPT, HIDDEN, id="jpeg+script"),
    pytest.param("r.jpg", hostile.jpeg_with_html_comment(), HIDDEN, id="jpeg-html-in-comment"),
    pytest.param("r.pdf", hostile.GOOD_PDF + hostile.jar(), HIDDEN, id="pdf+zip-appended"),
    pytest.param("r.pdf", hostile.pdf_with_zip_inside(), HIDDEN, id="pdf-with-zip-inside"),
    pytest.param("r.pdf", hostile.pdf_with_html_at_start(), HIDDEN, id="pdf-html-at-start"),
    # issue 19: what runs by itself behind a harmless move to page 1
    pytest.param("r.pdf", hostile.pdf_open_action_then(hostile.BEACON), SCRIPTS,
                 id="pdf-openaction-goto-then-uri"),
    pytest.param("r.pdf", hostile.pdf_open_action_then(hostile.SUBMIT), SCRIPTS,
                 id="pdf-openaction-goto-then-submitform"),
    pytest.param("r.pdf", hostile.pdf_open_action_then(hostile.REMOTE), SCRIPTS,
                 id="pdf-openaction-goto-then-gotor"),
    pytest.param("r.pdf", hostile.pdf_open_action_next_array(), SCRIPTS,
                 id="pdf-openaction-next-array"),
    pytest.param("r.pdf", hostile.pdf_open_action_indirect_chain(), SCRIPTS,
                 id="pdf-openaction-indirect-chain"),
    pytest.param("r.pdf", hostile.pdf_page_aa_chain(), SCRIPTS, id="pdf-page-aa-chain"),
    pytest.param("r.pdf", hostile.pdf_annotation_aa_chain(), SCRIPTS,
                 id="pdf-annotation-aa-chain"),
    pytest.param("r.pdf", hostile.pdf_form_field_aa_chain(), SCRIPTS,
                 id="pdf-form-field-kid-aa-chain"),
    pytest.param("r.pdf", hostile.pdf_go_to_chain(pdfs.MAX_CHAIN + 1), SCRIPTS,
                 id="pdf-goto-chain-beyond-the-bound"),
    pytest.param("r.pdf", hostile.pdf_go_to_loop(), SCRIPTS, id="pdf-goto-loop"),
]


def assert_nothing_kept(settings: Settings) -> None:
    assert leftovers(settings.upload_tmp_dir) == []
    assert everything_kept(settings) == []


@pytest.mark.parametrize(("name", "data", "says"), REFUSED)
async def test_hostile_upload_is_refused_next_to_the_field(client, settings, name, data, says):
    response = await post_apply(client, "unlock", TYPED, receipt(data, name, "image/jpeg"))

    assert response.status_code == 422, response.text[:300]
    page = Page(response.text)
    assert page.errors() == {"receipt"}
    assert says in assert_error_next_to(page, "receipt")
    assert_values_kept(page, TYPED)
    assert await Application.all().count() == 0
    assert await Document.all().count() == 0
    assert_nothing_kept(settings)


async def test_every_staged_file_goes_when_another_field_fails(client, settings):
    """A good receipt, two hostile documents and a wrong email: three messages, and none
    of the three files stays behind."""
    fields = {**RECOVERY, "email": "asha.example.com"}
    files = {
        "receipt": ("receipt.jpg", hostile.photo_with_gps(), "image/jpeg"),
        "box_photo": ("box.jpg", hostile.jpeg() + hostile.jar(), "image/jpeg"),
        "sim_proof": ("sim.pdf", hostile.pdf_hex_obfuscated(), "application/pdf"),
    }
    response = await post_apply(client, "recovery", fields, files)

    assert response.status_code == 422
    page = Page(response.text)
    assert page.errors() == {"email", "box_photo", "sim_proof"}
    assert HIDDEN in assert_error_next_to(page, "box_photo")
    assert SCRIPTS in assert_error_next_to(page, "sim_proof")
    assert_values_kept(page, fields)
    assert_nothing_kept(settings)


async def test_hostile_reply_is_refused_and_the_answer_kept(client, settings):
    """The reply to a request for information runs the same checks, with the setting."""
    application = await make_application(
        status=Status.NEEDS_INFO,
        info_request={"items": ["receipt"], "message": "Please send the receipt again."},
    )
    path = (await workflow.new_status_link(settings, application)).removeprefix(settings.base_url)
    await client.get(path)
    answer = "Here is the receipt you asked for, photographed again."
    response = await client.post(
        path + "/reply", data={"csrf_token": client.cookies["support_csrf"], "message": answer},
        files={"receipt": ("receipt.png", hostile.png_bomb(), "image/png")},
    )
    assert response.status_code == 422
    page = Page(response.text)
    assert BOMB in page.error_for("receipt")
    assert page.by_id("message").text == answer
    assert (await Application.get(id=application.id)).status is Status.NEEDS_INFO
    assert_nothing_kept(settings)


ACCEPTED = [
    pytest.param("receipt.pdf", hostile.GOOD_PDF, id="pdf"),
    pytest.param("receipt.pdf", hostile.pdf_open_at_first_page(), id="pdf-opening-at-page-1"),
    pytest.param("receipt.pdf", hostile.pdf_open_action_then(hostile.go_to()),
                 id="pdf-goto-then-goto"),
    pytest.param("receipt.pdf", hostile.pdf_go_to_chain(pdfs.MAX_CHAIN),
                 id="pdf-goto-chain-at-the-bound"),
    pytest.param("receipt.pdf", hostile.pdf_encrypted(""), id="pdf-with-owner-password-only"),
    pytest.param("receipt.jpg", hostile.photo_with_gps(), id="phone-photo-with-gps"),
    pytest.param("receipt.png", hostile.png_with_text(), id="png-with-text-chunks"),
    pytest.param("receipt.jpg", hostile.motion_photo(), id="motion-photo-with-gain-map"),
    pytest.param("receipt.jpg", hostile.samsung_photo(), id="samsung-sef-trailer"),
]


@pytest.mark.parametrize(("name", "data"), ACCEPTED)
async def test_honest_documents_are_accepted_as_sent(client, settings, name, data):
    """Accepted, and stored untouched: cleaning happens later, off the submission path."""
    response = await post_apply(client, "unlock", UNLOCK, receipt(data, name))

    assert response.status_code == 303, response.text[:300]
    document = await Document.get()
    assert document.sanitised_at is None
    assert await uploaded(settings, document) == data
    assert leftovers(settings.upload_tmp_dir) == []


async def test_pixel_limit_is_the_setting(app, client, settings):
    app.state.settings = settings.with_(max_image_pixels=2_000_000)
    over = await post_apply(client, "unlock", TYPED, receipt(hostile.jpeg((2000, 1001))))
    assert over.status_code == 422
    assert "more than 2 million pixels" in Page(over.text).error_for("receipt")
    assert_nothing_kept(settings)

    under = await post_apply(client, "unlock", UNLOCK, receipt(hostile.jpeg((2000, 1000))))
    assert under.status_code == 303, under.text[:300]


def test_pixel_limit_is_read_from_the_environment(tmp_path):
    env = {"SUPPORT_DATA_DIR": str(tmp_path), "SUPPORT_SECRET_KEY": "k" * 48}
    assert Settings.from_env(env).max_image_pixels == 64_000_000
    assert Settings.from_env({**env, "SUPPORT_MAX_IMAGE_PIXELS": "24000000"}).max_image_pixels \
        == 24_000_000


# --- what reviewers are given ----------------------------------------------------------------


def assert_clean_upright_photo(data: bytes) -> None:
    """No EXIF (so no GPS, serial or make), no comment, no XMP; turned as the phone showed
    it: 40 × 80, red half on the right."""
    for secret in (b"Exif", b"xmpmeta", hostile.SECRET_COMMENT, b"Redmi", b"SN-8823"):
        assert secret not in data, secret
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert not image.getexif()
        assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert not {"exif", "comment", "xmp", "icc_profile"} & set(image.info)
        assert image.size == (40, 80)
        rgb = image.convert("RGB")
        right, left = rgb.getpixel((32, 40)), rgb.getpixel((8, 40))
    assert right[0] > 180 and right[2] < 80, right  # red
    assert left[2] > 180 and left[0] < 80, left  # blue


def assert_clean_png(data: bytes) -> None:
    assert set(hostile.png_chunks(data)) <= {b"IHDR", b"IDAT", b"IEND"}
    for secret in (hostile.SECRET_COMMENT, b"xmpmeta", b"Exif"):
        assert secret not in data, secret
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (48, 24) and not image.text and not image.getexif()


async def submit_documents(applicant: Any, outbox: Any, files: dict[str, Any]) -> Application:
    """Through the form and the code, to the queue."""
    response = await applicant.submit("recovery", RECOVERY, files)
    assert response.status_code == 303, response.text[:300]
    code = await outbox.last_code()
    confirmed = await applicant.post_form(response.headers["location"], {"code": code})
    assert confirmed.status_code == 303
    return await Application.get()


async def run_worker_until(settings: Settings, done: Any, timeout: float = 20) -> None:
    """The worker's real loop, stopped once ``done()`` holds; it must still be running."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(settings, delivery.Backends.from_settings(settings), stop))
    try:
        async with asyncio.timeout(timeout):
            while not await done():
                assert not task.done(), "the worker loop ended"
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def test_worker_strips_metadata_and_keeps_the_receipt_hash(applicant, outbox, settings):
    photo, screenshot = hostile.photo_with_gps(), hostile.png_with_text()
    application = await submit_documents(applicant, outbox, {
        "receipt": ("receipt.jpg", photo, "image/jpeg"),
        "box_photo": ("box.png", screenshot, "image/png"),
    })

    async def all_sanitised() -> bool:
        return not await Document.filter(sanitised_at=None).exists()

    await run_worker_until(settings, all_sanitised)

    documents = {d.purpose: d for d in await Document.filter(application=application)}
    for purpose, original in (("receipt", photo), ("box_photo", screenshot)):
        document = documents[purpose]
        stored = kept(settings, document.storage_key).read_bytes()
        assert stored != original
        assert document.size == len(stored)
        # risk signals compare receipts by their hash as uploaded
        assert document.sha256 == hashlib.sha256(original).hexdigest()
    assert_clean_upright_photo(kept(settings, documents["receipt"].storage_key).read_bytes())
    assert_clean_png(kept(settings, documents["box_photo"].storage_key).read_bytes())
    # the clean copies replaced the originals: no other file, no temporary left over
    assert everything_kept(settings) == sorted(
        (kept(settings, d.storage_key) for d in documents.values()), key=lambda k: k.key)


async def test_reviewer_gets_a_clean_copy_before_the_worker_runs(applicant, outbox, desk, settings):
    photo = hostile.photo_with_gps()
    application = await submit_documents(applicant, outbox, {
        "receipt": ("receipt.jpg", photo, "image/jpeg")})
    document = await Document.get(application=application)
    assert document.sanitised_at is None
    reviewer = await desk.reviewer()

    response = await reviewer.get(f"/review/documents/{document.id}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert_clean_upright_photo(response.content)
    await document.refresh_from_db()
    assert document.sanitised_at is not None
    assert document.size == len(response.content)
    assert document.sha256 == hashlib.sha256(photo).hexdigest()
    assert kept(settings, document.storage_key).read_bytes() \
        == response.content


async def store_directly(settings: Settings, application: Application, data: bytes,
                         content_type: str, name: str) -> Document:
    """A document that never met the upload checks (stored before them, or by a bug)."""
    key = f"legacy-{hashlib.sha256(data).hexdigest()[:24]}"
    file = kept(settings, key)
    file.write_upload(data)
    return await Document.create(
        application=application, purpose="receipt", content_type=content_type,
        size=len(data), sha256=hashlib.sha256(data).hexdigest(), storage_key=key,
        original_name=name, spooled=file.upload_place,
    )


async def test_worker_marks_what_it_cannot_make_safe_and_carries_on(settings, desk, app):
    application = await make_application()
    cut = hostile.photo_with_gps()
    bad = [
        await store_directly(settings, application, cut[: len(cut) // 2], "image/jpeg", "cut.jpg"),
        await store_directly(settings, application, hostile.png_bomb(), "image/png", "bomb.png"),
        await store_directly(settings, application, hostile.pdf_launch(), "application/pdf",
                             "bill.pdf"),
    ]
    good = await store_directly(settings, application, hostile.photo_with_gps(), "image/jpeg",
                                "photo.jpg")

    async def none_pending() -> bool:
        return not await Document.filter(sanitised_at=None).exists()

    await run_worker_until(settings, none_pending)

    await good.refresh_from_db()
    assert good.content_type == "image/jpeg"
    assert_clean_upright_photo(kept(settings, good.storage_key).read_bytes())
    for document in bad:
        await document.refresh_from_db()
        assert document.content_type.startswith("unsafe:"), document.original_name
        assert not kept(settings, document.storage_key).exists(), document.original_name
    events = await Event.filter(application=application, type="document_unsafe").order_by("id")
    assert len(events) == 3 and all(e.internal for e in events)
    assert "too many pixels" in events[1].message
    assert "scripts or actions" in events[2].message

    reviewer = await desk.reviewer()
    response = await reviewer.get(f"/review/documents/{bad[2].id}")
    assert response.status_code == 409
    assert "could not be made safe" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert not await Event.filter(type="document_viewed").exists()

    page = await reviewer.get(f"/review/applications/{application.reference}")
    assert page.text.count("this document could not be made safe") == 3
    for document in bad:
        assert f'src="/review/documents/{document.id}/thumbnail"' not in page.text
    assert f'src="/review/documents/{good.id}/thumbnail"' in page.text


async def test_reviewer_route_checks_an_unchecked_pdf_first(settings, desk, app):
    application = await make_application()
    hostile_pdf = await store_directly(settings, application,
                                       hostile.pdf_javascript_in_object_stream(),
                                       "application/pdf", "bill.pdf")
    honest_pdf = await store_directly(settings, application, hostile.GOOD_PDF,
                                      "application/pdf", "statement.pdf")
    reviewer = await desk.reviewer()

    refused = await reviewer.get(f"/review/documents/{hostile_pdf.id}?download=1")
    assert refused.status_code == 409
    assert b"app.alert" not in refused.content
    assert "could not be made safe" in refused.text

    served = await reviewer.get(f"/review/documents/{honest_pdf.id}?download=1")
    assert served.status_code == 200
    assert served.content == hostile.GOOD_PDF  # a PDF is checked, not rewritten
    assert served.headers["content-type"] == "application/pdf"
    await honest_pdf.refresh_from_db()
    assert honest_pdf.sanitised_at is not None


async def test_a_chained_action_stored_before_the_check_is_never_served(settings, desk, app):
    """A PDF accepted before chains were walked is checked again before a reviewer opens it."""
    application = await make_application()
    chained = await store_directly(settings, application,
                                   hostile.pdf_open_action_then(hostile.BEACON),
                                   "application/pdf", "bill.pdf")
    reviewer = await desk.reviewer()

    response = await reviewer.get(f"/review/documents/{chained.id}?download=1")

    assert response.status_code == 409
    assert b"tracker.example" not in response.content
    await chained.refresh_from_db()
    assert chained.content_type == "unsafe:application/pdf"


def test_a_chain_that_loops_back_is_refused_without_hanging() -> None:
    """An action whose ``/Next`` is itself is followed only as far as the bound."""
    outcome: list[BaseException | None] = []

    def check() -> None:
        try:
            pdfs.check_pdf(hostile.pdf_go_to_loop())
            outcome.append(None)
        except Refused as refusal:
            outcome.append(refusal)

    thread = threading.Thread(target=check, daemon=True)  # a hang must not hold the run
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the check went round the loop"
    assert isinstance(outcome[0], Refused) and outcome[0].reason is Reason.SCRIPTS


def test_many_short_chains_add_up_to_the_bound() -> None:
    """No chain is too long, but a document's triggers together are bounded too."""
    per_chain = pdfs.MAX_CHAIN - 1
    triggers = pdfs.MAX_ACTIONS // per_chain + 1
    with pytest.raises(Refused) as refused:
        pdfs.check_pdf(hostile.pdf_many_open_actions(triggers, per_chain))
    assert refused.value.reason is Reason.SCRIPTS
    pdfs.check_pdf(hostile.pdf_many_open_actions(2, 3))  # a few short ones are harmless


async def test_sanitising_twice_changes_nothing_more(settings, app):
    """Two workers, or a worker and a reviewer, may meet the same document."""
    application = await make_application()
    document = await store_directly(settings, application, hostile.photo_with_gps(),
                                    "image/jpeg", "photo.jpg")
    assert await sanitise_pending(settings) == 1
    path = kept(settings, document.storage_key)
    first = path.read_bytes()
    await Document.filter(id=document.id).update(sanitised_at=None)  # as if not yet marked
    assert await sanitise_pending(settings) == 1
    assert_clean_upright_photo(path.read_bytes())
    with Image.open(io.BytesIO(first)) as before, Image.open(io.BytesIO(path.read_bytes())) as after:
        assert before.size == after.size == (40, 80)


async def test_document_deleted_while_being_sanitised_leaves_no_file(settings, app):
    """Expiry or erasure may delete the row while the photo is re-encoded: the clean copy
    must not outlive it."""
    application = await make_application()
    document = await store_directly(settings, application, jpeg_bytes((400, 300)),
                                    "image/jpeg", "photo.jpg")
    await Document.filter(id=document.id).delete()  # gone after the worker read it

    assert await sanitise_document(settings, document)
    assert everything_kept(settings) == []


@pytest.mark.parametrize("make", [
    lambda: hostile.GOOD_PDF, hostile.pdf_javascript_in_object_stream, hostile.pdf_unparseable,
], ids=["accepted", "refused-by-a-rule", "refused-by-the-parser"])
def test_a_checked_pdf_is_let_go_when_the_check_ends(make: Any) -> None:
    """The parser's objects point to each other; if they still held the file after the
    check, 50 concurrent 10 MB PDFs kept 300 MB alive until the cycle collector ran (B4).
    A refusal is handed back without the traceback whose frames hold the file."""
    import gc
    import sys

    from support.documents.storage import StagedFile, _refusal_of

    data = bytes(make())  # its own object, so its reference count is ours alone
    staged = StagedFile(field="receipt", original_name="r.pdf", size=len(data),
                        sha256="0" * 64, too_large=False, head=data[:16], content=data)
    gc.disable()  # a collection would hide a cycle that still holds the file
    try:
        before = sys.getrefcount(data)
        refused = _refusal_of(staged, "application/pdf", 64_000_000)
        assert sys.getrefcount(data) == before
    finally:
        gc.enable()
    if refused is not None:
        assert refused.__traceback__ is None and refused.__context__ is None
