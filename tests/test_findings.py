"""What the documents say, beside the facts (issue 26): the worker reads filed documents,
the reviewer's page compares what was read with what was typed, a different IMEI is a
risk signal the queue filters by, and what was read goes with its document.

The reading itself (barcodes, Tesseract) and its corpus are tests/test_reading.py; here
the worker reads real generated pictures once, and the rest records findings directly.
"""

from __future__ import annotations

import io
import logging
import secrets
from datetime import UTC, datetime, timedelta

import zxingcpp
from PIL import Image, ImageDraw

from support.clock.reading import read_pending
from support.data.models import Application, Document, RiskFlag, Status
from support.documents.reading import Found
from support.reads import findings
from support.workflow import readings, risk
from support.workflow.retention import redact
from tests.factories import make_application
from tests.kept import kept

TYPED_IMEI = "490154203237518"
OTHER_IMEI = "865432109876549"  # a valid Luhn digit: an IMEI a label could carry


async def _document(settings, application: Application, purpose: str, picture: bytes,
                    created_at: datetime | None = None) -> Document:
    key = secrets.token_urlsafe(24)
    kept(settings, key).write_bytes(picture)
    document = await Document.create(
        application=application, purpose=purpose, content_type="image/jpeg",
        size=len(picture), sha256=secrets.token_hex(32), storage_key=key,
        original_name=f"{purpose}.jpg", sanitised_at=datetime.now(UTC))
    if created_at is not None:
        await Document.filter(id=document.id).update(created_at=created_at)
        await document.refresh_from_db()
    return document


def box_label(imei: str) -> bytes:
    """A photographed box label: white paper with the model and an IMEI barcode, on a
    grey table, turned a little."""
    barcode = zxingcpp.create_barcode(imei, zxingcpp.BarcodeFormat.Code128)
    code = barcode.to_image(scale=3)
    symbol = Image.fromarray(code) if not isinstance(code, Image.Image) else code
    label = Image.new("RGB", (symbol.width + 80, symbol.height + 120), "white")
    draw = ImageDraw.Draw(label)
    draw.text((40, 20), "Redmi Note 10 Pro  8GB+128GB", fill="black")
    draw.text((40, 45), f"IMEI {imei}", fill="black")
    label.paste(symbol.convert("RGB"), (40, 80))
    table = Image.new("RGB", (label.width + 300, label.height + 300), (120, 116, 110))
    table.paste(label.rotate(6, expand=True, fillcolor=(120, 116, 110)), (150, 120))
    out = io.BytesIO()
    table.save(out, "JPEG", quality=85)
    return out.getvalue()


async def test_the_worker_reads_a_box_label_and_the_page_says_differs_and_flags_it(
        app, settings, desk, caplog):
    """The journey's core on both databases: a recovery application whose box label
    carries another IMEI than the one typed."""
    application = await make_application(kind="recovery", imei=TYPED_IMEI)
    box = await _document(settings, application, "box_photo", box_label(OTHER_IMEI))
    with caplog.at_level(logging.INFO):  # what the desk logs (DEBUG is Tortoise's SQL)
        assert await read_pending(settings) == 1
    assert OTHER_IMEI not in caplog.text  # read text is personal data: never logged
    await box.refresh_from_db()
    assert box.read_at is not None
    assert {"fact": "imei", "value": OTHER_IMEI} .items() <= box.findings[0].items()

    reviewer = await desk.reviewer()
    page = await reviewer.get(f"/review/applications/{application.reference}")
    assert page.status_code == 200
    assert "What the documents say" in page.text
    assert OTHER_IMEI in page.text and "on the box label" in page.text
    assert 'class="verdict verdict-differs">differs</span>' in page.text
    flags = await RiskFlag.filter(application=application).values_list("code", flat=True)
    assert "imei_differs" in flags
    queue = await reviewer.get("/review/queue?flag=imei_differs")
    assert application.reference in queue.text and "A document&#39;s IMEI differs" in queue.text
    assert await read_pending(settings) == 0  # read once


async def test_the_same_imei_on_the_label_matches_and_raises_nothing(app, settings, desk):
    application = await make_application(kind="recovery", imei=TYPED_IMEI)
    await _document(settings, application, "box_photo", box_label(TYPED_IMEI))
    await read_pending(settings)
    lines, waiting = findings.compare(application, list(await Document.filter(
        application=application)))
    assert waiting == 0
    assert [(line.fact, line.found, line.verdict) for line in lines] == [
        ("IMEI", TYPED_IMEI, "matches")]
    assert "imei_differs" not in [s.code for s in await risk.compute(application)]


async def test_a_receipt_read_model_dates_and_what_was_not_found(app, settings):
    application = await make_application(model="Redmi Note 10 Pro")
    receipt = await _document(settings, application, "receipt", b"\xff\xd8")
    await readings.record(receipt, [
        Found("shop", "Mi Store Bengaluru", "text", "printed text, line 1"),
        Found("model", "Redmi Note 10 Pro", "text", "printed text, line 4"),
        Found("purchase_date", "2026-03-02", "text", "printed text, line 2")])
    lines, _ = findings.compare(application, [receipt])
    said = {(line.fact, line.found, line.verdict) for line in lines}
    assert ("Model", "Redmi Note 10 Pro", "matches") in said
    assert ("Purchase date", "2 March 2026", "matches") in said
    assert ("Shop", "Mi Store Bengaluru", "") in said

    later = await make_application(model="POCO F5")
    after = await _document(settings, later, "receipt", b"\xff\xd8")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    await readings.record(after, [
        Found("model", "Redmi Note 10 Pro", "text", "printed text, line 3"),
        Found("purchase_date", tomorrow, "text", "printed text, line 2")])
    said = {(line.fact, line.verdict) for line in findings.compare(later, [after])[0]}
    assert said == {("Model", "differs"), ("Purchase date", "differs")}

    blank = await make_application()
    nothing = await _document(settings, blank, "receipt", b"\xff\xd8")
    await readings.record(nothing, [])
    said = {(line.fact, line.found, line.verdict) for line in findings.compare(blank, [nothing])[0]}
    assert said == {("Model", "", "not found"), ("Purchase date", "", "not found")}


async def test_a_document_sent_in_a_reply_is_marked_new_and_waiting_ones_are_counted(
        app, settings, desk):
    application = await make_application(kind="recovery", imei=TYPED_IMEI,
                                         status=Status.QUEUED)
    asked = datetime.now(UTC) - timedelta(hours=2)
    await Application.filter(id=application.id).update(info_requested_at=asked)
    await application.refresh_from_db()
    first = await _document(settings, application, "box_photo", b"\xff\xd8",
                            created_at=asked - timedelta(hours=1))
    await readings.record(first, [])
    reply = await _document(settings, application, "box_photo", b"\xff\xd8")
    await readings.record(reply, [Found("imei", TYPED_IMEI, "barcode", "Code 128 barcode")])
    await _document(settings, application, "receipt", b"\xff\xd8")  # not read yet
    lines, waiting = findings.compare(application, list(await Document.filter(
        application=application).order_by("id")))
    assert waiting == 1
    assert [(line.verdict, line.new) for line in lines] == [("not found", False),
                                                            ("matches", True)]
    reviewer = await desk.reviewer()
    page = await reviewer.get(f"/review/applications/{application.reference}")
    assert "1 document is still being read." in page.text
    assert "New since the request" in page.text


async def test_what_was_read_goes_with_its_document(app, settings, desk):
    application = await make_application(kind="recovery", imei=TYPED_IMEI,
                                         status=Status.APPROVED)
    box = await _document(settings, application, "box_photo", b"\xff\xd8")
    await readings.record(box, [Found("imei", OTHER_IMEI, "barcode", "Code 128 barcode")])
    assert [f.code for f in await RiskFlag.filter(application=application)] == ["imei_differs"]
    reason = (await RiskFlag.get(application=application)).reason
    assert OTHER_IMEI not in reason and TYPED_IMEI not in reason  # lists show it
    lead = await desk.reviewer(role="lead")
    export = await lead.get("/review/queue.csv?tab=all&contacts=1")
    assert OTHER_IMEI not in export.text
    keys = await redact([await Application.get(id=application.id)], datetime.now(UTC),
                        requested=True)
    assert keys == [box.storage_key]
    assert not await Document.filter(id=box.id).exists()  # and its findings with it
    await risk.refresh(await Application.get(id=application.id))
    assert not await RiskFlag.filter(application=application).exists()


async def test_only_documents_a_reviewer_may_still_decide_on_are_read(app, settings):
    """After an upgrade, the documents kept from closed applications are left unread."""
    closed = await make_application(kind="recovery", imei=TYPED_IMEI, status=Status.APPROVED,
                                    decided_at=datetime.now(UTC))
    kept_box = await _document(settings, closed, "box_photo", box_label(OTHER_IMEI))
    assert await read_pending(settings) == 0
    await kept_box.refresh_from_db()
    assert kept_box.read_at is None and kept_box.findings is None
