"""On an appeal's page, the refused original beside it: the refusal in words and as the
applicant read it, who refused it and when, its facts next to the appeal's (what changed
marked), and its documents as thumbnails that are not views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.data.models import Application, Document, Event, Status
from tests.conftest import jpeg_bytes
from tests.factories import make_application
from tests.test_audit import _text
from tests.test_authz_matrix import attach

REFUSED = datetime(2026, 12, 5, 22, 40, tzinfo=UTC)


async def _refused(reviewer, **overrides) -> Application:
    return await make_application(
        status=Status.REJECTED, decided_at=REFUSED, decided_by=reviewer,
        decision_code="stable_firmware", firmware="V14.0.2.0.TKFMIXM",
        firmware_channel="stable", decision_text="Your phone runs a stable build.",
        reason="I want to try a custom ROM on this phone, it would be fun to learn.",
        **overrides)


async def _appeal(original: Application, **overrides) -> Application:
    return await make_application(
        kind="appeal", appeal_of=original, account_id=original.account_id,
        phone=original.phone, email=original.email, imei=original.imei,
        firmware="21.3.17", firmware_channel="developer", **overrides)


def _section(page: str) -> str:
    assert 'id="original-h"' in page, "no original on the page"
    return page.split('id="original-h"', 1)[1].split("</section>", 1)[0]


async def test_the_original_refusal_facts_and_documents_are_beside_the_appeal(desk, settings):
    ravi = await desk.reviewer("Ravi Refuser")
    original = await _refused(ravi.reviewer)
    receipt = await attach(settings, original, jpeg_bytes(), name="receipt-2026.jpg")
    appeal = await _appeal(original)
    other = await desk.reviewer("Asha")
    page = await other.get(f"/review/applications/{appeal.reference}")
    assert page.status_code == 200
    section = _section(page.text)
    text = _text(section)
    # The refusal: reason in words, the text the applicant read, who and when (UTC and
    # the applicant's clock: India, so 04:10 the next morning).
    assert "The phone runs a stable build; unlocking needs a developer build" in text
    assert "stable_firmware" not in text
    assert "Your phone runs a stable build." in text
    assert "Ravi Refuser" in text
    assert "5 December 2026, 22:40 UTC · 04:10 on 6 December in the applicant's time" in text
    # Facts then and now, side by side; what changed is marked.
    assert "V14.0.2.0.TKFMIXM (stable build)" in text and "21.3.17 (developer build)" in text
    firmware_row = next(row for row in section.split("<tr") if "Firmware" in row)
    assert 'class="changed"' in firmware_row and "changed" in _text(firmware_row)
    model_row = next(row for row in section.split("<tr") if ">Model<" in row)
    assert 'class="changed"' not in model_row
    assert "I want to try a custom ROM" in text  # their reason then
    # Its documents: a thumbnail (not a view) and a link that opens it (a view).
    assert f'src="/review/documents/{receipt.id}/thumbnail"' in section
    assert f'href="/review/documents/{receipt.id}"' in section
    assert f'src="/review/documents/{receipt.id}"' not in page.text
    assert "receipt-2026.jpg" in text and "Purchase receipt" in text
    assert not await Event.filter(type="document_viewed").exists()
    thumbnail = await other.get(f"/review/documents/{receipt.id}/thumbnail")
    assert thumbnail.status_code == 200
    assert not await Event.filter(type="document_viewed").exists()
    # The facts panel names the original and its reason in words too.
    facts = page.text.split('id="facts-h"', 1)[1].split("</section>", 1)[0]
    assert original.reference in facts and "stable_firmware" not in facts
    assert "The phone runs a stable build" in _text(facts)


async def test_an_application_that_is_no_appeal_has_no_original(desk):
    asha = await desk.reviewer("Asha")
    application = await make_application()
    page = await asha.get(f"/review/applications/{application.reference}")
    assert page.status_code == 200 and 'id="original-h"' not in page.text


async def test_a_redacted_original_by_a_reviewer_since_removed(desk, settings):
    ravi = await desk.reviewer("Ravi")
    original = await _refused(ravi.reviewer, imei="490154203237518")
    appeal = await _appeal(original)
    now = datetime.now(UTC)
    await Application.filter(id=original.id).update(
        decided_by_id=None, redacted_at=now, imei=None, reason="",
        documents_purged_at=now - timedelta(days=1))
    asha = await desk.reviewer("Asha")
    text = _text(_section((await asha.get(f"/review/applications/{appeal.reference}")).text))
    assert "a reviewer no longer on the desk" in text
    assert "Redacted." in text and "redacted 490154203237518" in text  # then, now
    assert "Deleted on" in text and "under the retention policy" in text
    assert "The phone runs a stable build" in text  # the decision is kept for statistics


async def test_an_unsafe_document_of_the_original_is_named_not_linked(desk, settings):
    ravi = await desk.reviewer("Ravi")
    original = await _refused(ravi.reviewer)
    bad = await Document.create(application=original, purpose="receipt",
                                content_type="unsafe:image/jpeg", size=10, sha256="1" * 64,
                                storage_key="k" * 32, original_name="evil.jpg")
    appeal = await _appeal(original)
    asha = await desk.reviewer("Asha")
    section = _section((await asha.get(f"/review/applications/{appeal.reference}")).text)
    assert "evil.jpg could not be made safe" in _text(section)
    assert f"/review/documents/{bad.id}" not in section
