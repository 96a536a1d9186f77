import hashlib
from support.models import Document
from support.storage import DocumentStore
from tests import hostile
from tests.factories import make_application
from tests.browser.test_pages import reviewer_page
from tests.browser.conftest import DESKTOP


async def test_tmp_unsafe(new_context, live, recorder, settings):
    application = await make_application()
    store = DocumentStore(settings.documents_dir)
    for name, data, ct in (("receipt photo.jpg", hostile.photo_with_gps(), "image/jpeg"),
                           ("bill.pdf", hostile.pdf_launch(), "application/pdf")):
        key = "tmpvisual-" + hashlib.sha256(data).hexdigest()[:20]
        store.path(key).parent.mkdir(parents=True, exist_ok=True)
        store.path(key).write_bytes(data)
        await Document.create(application=application, purpose="receipt" if ct.startswith("image") else "sim_proof",
                              content_type=ct, size=len(data), sha256="0" * 64, storage_key=key, original_name=name)
    page = await reviewer_page(new_context, live, DESKTOP)
    pdf = await Document.get(original_name="bill.pdf")
    await page.goto(f"{live}/review/documents/{pdf.id}")
    await recorder.step(page, "unsafe-document")
    await page.goto(f"{live}/review/applications/{application.reference}")
    await page.wait_for_timeout(1000)
    await recorder.step(page, "application-with-unsafe")
