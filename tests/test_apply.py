"""Applying through the real form: GET the page, read its hidden fields, POST multipart.

Everything here is what an applicant would notice: which page comes back, what it says
next to which field, what was kept, and what ended up in the database and on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from support.data.models import Application, Channel, Document, Event, Notification
from support.documents.filing import sanitise_pending
from support.documents.storage import SPOOL_BYTES
from support.documents.store import DocumentStore
from support.platform import tokens
from tests.conftest import PDF_BYTES, RECOVERY, UNLOCK, hidden_fields, jpeg_bytes, png_bytes
from tests.factories import uploaded
from tests.kept import everything_kept, kept

MB = 1024 * 1024
REFERENCE = re.compile(r"^UL-[23456789ABCDEFGHJKMNPQRSTWXYZ]{4}-[23456789ABCDEFGHJKMNPQRSTWXYZ]{4}$")
VERIFY_PATH = re.compile(r"^/applications/([A-Z]{2}-[A-Z0-9]{4}-[A-Z0-9]{4})/verify$")
DEVANAGARI_REASON = "मेरा फ़ोन नंबर बदल गया और मैं पासवर्ड भूल गया हूँ; पुराना ईमेल भी बंद हो चुका है।"


# --- reading pages ----------------------------------------------------------------------

VOID = {"input", "meta", "link", "br", "img", "hr", "source", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def has(self, attribute: str) -> bool:
        return attribute in self.attrs

    def get(self, attribute: str) -> str:
        return self.attrs.get(attribute) or ""


class Page(HTMLParser):
    """The elements of a page with their attributes and text, as a browser would see them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        for parent in self._open:
            parent.children.append(element)
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    def find(self, tag: str | None = None, **attrs: str) -> list[Element]:
        return [
            e for e in self.elements
            if (tag is None or e.tag == tag)
            and all(e.attrs.get(name.rstrip("_")) == value for name, value in attrs.items())
        ]

    def by_id(self, element_id: str) -> Element:
        found = self.find(id=element_id)
        assert len(found) == 1, f"expected one element #{element_id}, found {len(found)}"
        return found[0]

    def controls(self) -> list[Element]:
        """What the applicant fills in: every visible input, select and textarea."""
        return [
            e for e in self.elements
            if e.tag in {"input", "select", "textarea"} and e.get("type") != "hidden"
        ]

    def error_for(self, name: str) -> str:
        """The error shown next to a field; fails if there is none."""
        error = self.by_id(f"{name}-error")
        assert error.tag == "p" and "error" in error.get("class").split()
        return " ".join(error.text.split())

    def errors(self) -> set[str]:
        return {e.get("id").removesuffix("-error") for e in self.find("p", class_="error")}


def text_of(html: str) -> str:
    """The page's words, without tags, whitespace collapsed."""
    return " ".join(Page(html).find("html")[0].text.split())


# --- sending the form ----------------------------------------------------------------------


def receipt(data: bytes | None = None, name: str = "receipt.jpg",
            content_type: str = "image/jpeg") -> dict[str, tuple[str, bytes, str]]:
    return {"receipt": (name, jpeg_bytes() if data is None else data, content_type)}


def noisy_png(size: tuple[int, int] = (320, 240)) -> bytes:
    """A screenshot-like PNG whose image data spans many bytes (and several chunks)."""
    rng = random.Random(8)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def flipped_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def noisy_jpeg(size: tuple[int, int] = (320, 240)) -> bytes:
    """A photo with real detail, so that half of it is a lot of missing image data."""
    rng = random.Random(7)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def big_jpeg(size: int) -> bytes:
    """A JPEG header followed by padding: large enough to trip the size limits."""
    return b"\xff\xd8\xff\xe0" + b"\0" * (size - 4)


async def post_apply(client, kind: str, fields: dict[str, str], files=None, *,
                     tokens: dict[str, str] | None = None, headers: dict[str, str] | None = None):
    """GET the form (unless tokens are given), then POST it back with the fields and files."""
    if tokens is None:
        page = await client.get(f"/apply/{kind}")
        assert page.status_code == 200
        tokens = hidden_fields(page.text)
    data = {**tokens, **fields}
    files = receipt() if files is None else files
    return await client.post(f"/apply/{kind}", data=data, files=files, headers=headers or {})


def browser_body(fields: dict[str, str], empty_files: list[str]) -> tuple[bytes, str]:
    """A multipart body exactly as a browser sends it for file inputs left empty:
    a part with filename="" and no content."""
    boundary = "----form" + secrets.token_hex(8)
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    for name in empty_files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename=""\r\nContent-Type: application/octet-stream\r\n\r\n\r\n'.encode())
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


async def chunks(body: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def leftovers(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


def assert_refused_page(response, status: int) -> Page:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = Page(response.text)
    assert page.find("h1"), "a refusal must be a readable page with a heading"
    return page


def assert_values_kept(page: Page, fields: dict[str, str]) -> None:
    """Every value typed is back in its control, so nothing has to be typed twice."""
    for name, value in fields.items():
        control = page.by_id(name)
        if control.tag == "textarea":
            assert control.text == value, name
        elif control.tag == "select":
            chosen = [o.get("value") for o in control.children if o.tag == "option" and o.has("selected")]
            assert chosen == ([value] if value else []), name
        else:
            assert control.get("value") == value, name


def assert_error_next_to(page: Page, name: str) -> str:
    """The message sits by its field and the field points at it, for screen readers too."""
    message = page.error_for(name)
    control = page.by_id(name)
    assert f"{name}-error" in control.get("aria-describedby").split(), name
    assert control.get("aria-invalid") == "true", name
    return message


# --- 1. the empty forms -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["unlock", "recovery"])
async def test_every_control_has_a_label_and_helpers(client, kind):
    response = await client.get(f"/apply/{kind}")
    assert response.status_code == 200
    page = Page(response.text)

    labelled = {label.get("for") for label in page.find("label")}
    controls = page.controls()
    assert len(controls) >= 8
    for control in controls:
        assert control.get("id"), f"{control.get('name')} has no id"
        assert control.get("id") in labelled, f"{control.get('name')} has no <label for>"

    country = page.by_id("country")
    assert country.tag == "select"
    options = {o.get("value"): " ".join(o.text.split()) for o in country.children if o.tag == "option"}
    assert options["IN"] == "India"
    assert options["RU"] == "Russia"
    assert len(options) > 150

    model = page.by_id("model")
    datalist = page.by_id(model.get("list"))
    assert datalist.tag == "datalist"
    assert "Redmi Note 10 Pro" in {o.get("value") for o in datalist.children}

    assert page.find("input", type="hidden", name="csrf_token")[0].get("value")
    assert page.find("input", type="hidden", name="submission_token")[0].get("value")


async def test_recovery_asks_for_imei_and_optional_documents_unlock_does_not(client):
    recovery = Page((await client.get("/apply/recovery")).text)
    unlock = Page((await client.get("/apply/unlock")).text)
    for name in ("imei", "box_photo", "sim_proof"):
        assert recovery.find(name=name), name
        assert not unlock.find(name=name), name
    assert recovery.by_id("box_photo").get("type") == "file"
    assert not recovery.by_id("box_photo").has("required")
    assert recovery.by_id("receipt").has("required")


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_unknown_kind_is_a_readable_404(client, method):
    response = await client.request(method, "/apply/nonsense")
    page = assert_refused_page(response, 404)
    assert "Page not found" in page.find("h1")[0].text
    assert await Application.all().count() == 0


# --- 2. many mistakes at once ---------------------------------------------------------------

MISTAKES = {
    "account_id": "asha@example.com",
    "country": "",
    "phone": "+91 12",
    "email": "asha.example.com",
    "model": "Nokia 3310",
    "firmware": "V12.5.3.0.RKHMIXM",
    "reason": "Want root.",
}


async def test_every_mistake_is_shown_next_to_its_field_and_nothing_is_lost(client):
    tokens_ = hidden_fields((await client.get("/apply/unlock")).text)
    body, content_type = browser_body({**tokens_, **MISTAKES}, empty_files=["receipt"])
    response = await client.post("/apply/unlock", content=body,
                                 headers={"content-type": content_type})

    assert response.status_code == 422, response.text
    page = Page(response.text)
    wrong = set(MISTAKES) | {"receipt"}
    assert page.errors() == wrong
    for name in wrong:
        assert assert_error_next_to(page, name)

    summary = page.by_id("error-summary")
    assert summary.get("role") == "alert"
    links = {a.get("href") for a in summary.children if a.tag == "a"}
    assert links == {f"#{name}" for name in wrong}
    assert "8 problems" in " ".join(summary.text.split())

    assert_values_kept(page, MISTAKES)
    assert "files must be chosen again" in text_of(response.text)
    assert await Application.all().count() == 0


async def test_chosen_country_stays_selected_when_another_field_is_wrong(client):
    fields = {**UNLOCK, "email": "asha.example.com", "reason": UNLOCK["reason"] + "\nSecond line."}
    response = await post_apply(client, "unlock", fields)
    assert response.status_code == 422
    page = Page(response.text)
    assert page.errors() == {"email"}
    assert_values_kept(page, fields)


# --- 3. unlock rules ------------------------------------------------------------------------


async def test_unlock_refuses_stable_firmware_and_says_which_build_is_needed(client):
    response = await post_apply(client, "unlock", {**UNLOCK, "firmware": "V12.5.3.0.RKHMIXM"})
    assert response.status_code == 422
    page = Page(response.text)
    message = assert_error_next_to(page, "firmware")
    assert "stable build" in message
    assert "weekly (developer) build" in message
    assert page.errors() == {"firmware"}
    assert await Application.all().count() == 0


async def test_unlock_reason_must_be_in_english(client):
    response = await post_apply(client, "unlock", {**UNLOCK, "reason": DEVANAGARI_REASON})
    assert response.status_code == 422
    page = Page(response.text)
    assert "must be written in English" in assert_error_next_to(page, "reason")
    assert page.by_id("reason").text == DEVANAGARI_REASON
    assert await Application.all().count() == 0


async def test_recovery_reason_may_be_in_any_language(client):
    response = await post_apply(client, "recovery", {**RECOVERY, "reason": DEVANAGARI_REASON})
    assert response.status_code == 303, response.text
    application = await Application.get()
    assert application.reason == DEVANAGARI_REASON
    assert application.kind == "recovery"


# --- 4. phone numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("98765 43210", "+919876543210"),
        ("+91 98765 43210", "+919876543210"),
        ("+7 912 345-67-89", "+79123456789"),  # a Russian SIM while living in India
    ],
)
async def test_phone_is_stored_with_its_country_code(client, typed, stored):
    response = await post_apply(client, "unlock", {**UNLOCK, "country": "IN", "phone": typed})
    assert response.status_code == 303, response.text
    application = await Application.get()
    assert application.phone == stored
    assert application.country == "IN"


# --- 5. IMEI --------------------------------------------------------------------------------


async def test_imei_with_a_wrong_check_digit_is_refused(client):
    fields = {**RECOVERY, "imei": "490154203237517"}
    response = await post_apply(client, "recovery", fields)
    assert response.status_code == 422
    page = Page(response.text)
    assert "IMEI is not valid" in assert_error_next_to(page, "imei")
    assert page.errors() == {"imei"}
    assert_values_kept(page, fields)
    assert await Application.all().count() == 0


@pytest.mark.parametrize("typed", ["49 015420 323751 8", "49-015420-323751-8", " 490154203237518 "])
async def test_imei_is_stored_bare(client, typed):
    response = await post_apply(client, "recovery", {**RECOVERY, "imei": typed})
    assert response.status_code == 303, response.text
    assert (await Application.get()).imei == "490154203237518"


# --- 6. documents ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "claimed", "stored_type"),
    [
        ("receipt.pdf", png_bytes(), "application/pdf", "image/png"),  # the name lies
        ("receipt.pdf", PDF_BYTES, "application/pdf", "application/pdf"),
        ("IMG_2041.JPG", jpeg_bytes(), "application/octet-stream", "image/jpeg"),
    ],
)
async def test_document_type_comes_from_its_content(client, settings, name, data, claimed, stored_type):
    response = await post_apply(client, "unlock", UNLOCK, receipt(data, name, claimed))
    assert response.status_code == 303, response.text
    document = await Document.get()
    assert document.content_type == stored_type
    assert document.purpose == "receipt"
    assert document.original_name == name
    assert await uploaded(settings, document) == data


@pytest.mark.parametrize(
    ("name", "data", "claimed", "says"),
    [
        ("receipt.jpg", b"", "image/jpeg", "This file is empty"),
        ("receipt.jpg", b"Bought at the shop, 12 March, Rs 19999\n", "image/jpeg",
         "Only photos (JPEG or PNG) and PDF files"),
        ("receipt.jpg", b"\xff\xd8\xff\xe0" + b"this is not image data at all " * 40, "image/jpeg",
         "damaged or incomplete"),
        ("receipt.jpg", noisy_jpeg()[: len(noisy_jpeg()) // 2], "image/jpeg",
         "damaged or incomplete"),  # the second half of the photo never arrived
        ("receipt.png", png_bytes()[:-30], "image/png", "damaged or incomplete"),
        # A PNG is checked by its chunks' CRCs, not decoded: these prove the check holds.
        ("receipt.png", noisy_png()[: len(noisy_png()) // 2], "image/png",
         "damaged or incomplete"),
        ("receipt.png", flipped_byte(noisy_png(), len(noisy_png()) // 2), "image/png",
         "damaged or incomplete"),
        ("receipt.pdf", PDF_BYTES[:40], "application/pdf", "damaged or incomplete"),
    ],
    ids=["empty", "text-named-jpg", "jpeg-garbage", "jpeg-cut-in-half", "png-cut",
         "png-cut-in-half", "png-corrupted-inside", "pdf-cut"],
)
async def test_unusable_document_is_refused_next_to_the_field(client, settings, name, data, claimed, says):
    response = await post_apply(client, "unlock", UNLOCK, receipt(data, name, claimed))
    assert response.status_code == 422, response.text[:200]
    page = Page(response.text)
    assert page.errors() == {"receipt"}
    assert says in assert_error_next_to(page, "receipt")
    assert_values_kept(page, UNLOCK)
    assert await Application.all().count() == 0
    assert await Document.all().count() == 0
    assert leftovers(settings.upload_tmp_dir) == []
    assert everything_kept(settings) == []


async def test_file_over_10_mb_is_refused_next_to_the_field_keeping_every_value(client, settings):
    fields = {**UNLOCK, "reason": UNLOCK["reason"] + " Thanks!"}
    response = await post_apply(client, "unlock", fields, receipt(big_jpeg(11 * MB)))
    assert response.status_code == 422  # not 413: the applicant keeps the page they typed
    page = Page(response.text)
    assert page.errors() == {"receipt"}
    assert "larger than 10 MB" in assert_error_next_to(page, "receipt")
    assert_values_kept(page, fields)
    assert await Application.all().count() == 0
    assert leftovers(settings.upload_tmp_dir) == []


@pytest.mark.parametrize("name", ["../../etc/passwd.jpg", "..\\..\\windows\\receipt.jpg", "..", "/etc/"])
async def test_file_name_never_becomes_a_path(client, settings, name):
    data = jpeg_bytes()
    response = await post_apply(client, "unlock", UNLOCK, receipt(data, name))
    assert response.status_code == 303, response.text
    document = await Document.get()
    assert "/" not in document.original_name and "\\" not in document.original_name
    assert ".." not in document.original_name.split("/")
    assert document.original_name not in {"", ".", ".."}

    assert await uploaded(settings, document) == data
    assert await sanitise_pending(settings) == 1  # the worker writes its file
    if settings.storage is None:  # on disk: under documents/, whatever the name said
        stored = DocumentStore.of(settings).path(document.storage_key).resolve()
        assert stored.is_relative_to(settings.documents_dir.resolve())
    assert everything_kept(settings) == [kept(settings, document.storage_key)]
    assert not (settings.data_dir.parent / "etc").exists()


async def test_recovery_keeps_its_optional_documents(client, settings):
    files = {
        "receipt": ("receipt.pdf", PDF_BYTES, "application/pdf"),
        "box_photo": ("box.png", png_bytes(), "image/png"),
        "sim_proof": ("sim.jpg", jpeg_bytes(), "image/jpeg"),
    }
    response = await post_apply(client, "recovery", RECOVERY, files)
    assert response.status_code == 303, response.text
    documents = {d.purpose: d for d in await Document.all()}
    assert set(documents) == set(files)
    for purpose, (_, data, _) in files.items():
        assert documents[purpose].sha256 == hashlib.sha256(data).hexdigest()
    assert leftovers(settings.upload_tmp_dir) == []


async def test_photos_small_and_large_are_stored_whole(client, settings):
    """A receipt under the spooling size is kept in memory and appended to the spool; a
    photo over it streams through tmp/ and is moved to its key. Both arrive byte for byte,
    and a small one creates no file of its own, temporary or not (B1: creating a file was
    the dearest part of a submission)."""
    small = jpeg_bytes()
    noise = random.Random(9).randbytes(1400 * 1100 * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (1400, 1100), noise).save(buffer, "JPEG", quality=90)
    large = buffer.getvalue()
    assert len(small) < SPOOL_BYTES < len(large) < settings.max_file_bytes
    response = await post_apply(client, "unlock", UNLOCK, receipt(small))
    assert response.status_code == 303, response.text
    assert not settings.upload_tmp_dir.exists(), "a small upload went through tmp/"

    files = {"receipt": ("receipt.jpg", large, "image/jpeg"),
             "box_photo": ("box.jpg", small, "image/jpeg")}
    response = await post_apply(client, "recovery", RECOVERY, files)
    assert response.status_code == 303, response.text
    documents = await Document.all()
    assert {(d.purpose, await uploaded(settings, d)) for d in documents} == {
        ("receipt", small), ("receipt", large), ("box_photo", small)}
    assert leftovers(settings.upload_tmp_dir) == []
    # On disk a large one is already under its key and a small one waits in the spool; in a
    # bucket every upload waits under uploads/ for the worker.
    assert everything_kept(settings) == sorted(
        (kept(settings, d.storage_key) for d in documents
         if d.size > SPOOL_BYTES or settings.storage is not None), key=lambda k: k.key)


# --- 7. bodies too large to read ----------------------------------------------------------

THREE_BIG_FILES = {
    slot: (f"{slot}.jpg", big_jpeg(11 * MB), "image/jpeg")
    for slot in ("receipt", "box_photo", "sim_proof")
}


async def test_body_over_the_limit_gets_a_readable_413(client, settings):
    response = await post_apply(client, "recovery", RECOVERY, THREE_BIG_FILES)
    page = assert_refused_page(response, 413)
    words = text_of(response.text)
    assert "10 MB" in words and "32 MB" in words
    assert "too large" in page.find("h1")[0].text
    # the server hangs up instead of reading the rest of the body (bench/b4_uploads.py)
    assert response.headers["connection"] == "close"
    assert await Application.all().count() == 0
    assert leftovers(settings.upload_tmp_dir) == []


async def test_streamed_body_over_the_limit_stops_being_read(client, settings):
    """No Content-Length to refuse up front: the limit must hold while the body arrives."""
    tokens_ = hidden_fields((await client.get("/apply/recovery")).text)
    request = client.build_request("POST", "/apply/recovery", data={**tokens_, **RECOVERY},
                                   files=THREE_BIG_FILES)
    body = request.read()
    assert len(body) > settings.max_body_bytes
    response = await client.post("/apply/recovery", content=chunks(body),
                                 headers={"content-type": request.headers["content-type"]})
    assert_refused_page(response, 413)
    assert "MB" in text_of(response.text)
    assert await Application.all().count() == 0
    assert leftovers(settings.upload_tmp_dir) == []


# --- 8. forms from elsewhere ------------------------------------------------------------------


def _without_csrf(tokens_):
    return {k: v for k, v in tokens_.items() if k != "csrf_token"}, {}


def _wrong_csrf(tokens_):
    return {**tokens_, "csrf_token": secrets.token_urlsafe(32)}, {}


def _evil_origin(tokens_):
    return tokens_, {"origin": "https://evil.example"}


def _cross_site_fetch(tokens_):
    return tokens_, {"sec-fetch-site": "cross-site"}


def _same_site_fetch(tokens_):
    return tokens_, {"sec-fetch-site": "same-site"}  # a sibling subdomain is another site


@pytest.mark.parametrize("tamper", [_without_csrf, _wrong_csrf, _evil_origin, _cross_site_fetch,
                                    _same_site_fetch])
async def test_forged_form_is_refused(client, settings, tamper):
    tokens_ = hidden_fields((await client.get("/apply/unlock")).text)
    sent_tokens, headers = tamper(tokens_)
    response = await post_apply(client, "unlock", UNLOCK, tokens=sent_tokens, headers=headers)
    page = assert_refused_page(response, 403)
    assert "send the form again" in page.find("h1")[0].text
    assert await Application.all().count() == 0
    assert leftovers(settings.upload_tmp_dir) == []


@pytest.mark.parametrize("headers", [
    {"origin": "http://testserver"},
    {"sec-fetch-site": "same-origin"},
    {"sec-fetch-site": "none"},
    {"origin": "null"},
])
async def test_form_from_our_own_page_is_accepted(client, headers):
    response = await post_apply(client, "unlock", UNLOCK, headers=headers)
    assert response.status_code == 303, response.text


async def test_form_without_the_cookie_is_refused(client):
    tokens_ = hidden_fields((await client.get("/apply/unlock")).text)
    client.cookies.clear()
    response = await post_apply(client, "unlock", UNLOCK, tokens=tokens_)
    assert_refused_page(response, 403)
    assert await Application.all().count() == 0


# --- 9. the same form sent twice ------------------------------------------------------------


async def assert_one_application_with_one_set_of_codes(settings) -> Application:
    assert await Application.all().count() == 1
    application = await Application.get()
    notifications = await Notification.filter(application_id=application.id)
    assert sorted(n.channel for n in notifications) == [Channel.EMAIL, Channel.SMS]
    assert {n.template for n in notifications} == {"verification_code"}
    assert await Document.filter(application_id=application.id).count() == 1
    assert await Event.filter(application_id=application.id, type="submitted").count() == 1
    await sanitise_pending(settings)  # the worker files what the application kept
    assert len(everything_kept(settings)) == 1
    assert leftovers(settings.upload_tmp_dir) == []
    return application


async def test_double_submit_creates_one_application(client, settings, outbox):
    tokens_ = hidden_fields((await client.get("/apply/unlock")).text)
    first = await post_apply(client, "unlock", UNLOCK, tokens=tokens_)
    second = await post_apply(client, "unlock", UNLOCK, tokens=tokens_)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]

    application = await assert_one_application_with_one_set_of_codes(settings)
    assert first.headers["location"] == f"/applications/{application.reference}/verify"
    await outbox.deliver()
    assert len([m for m in outbox.sms() if "Code " in m["text"]]) == 1
    assert len(outbox.emails()) == 1


async def test_concurrent_double_submit_creates_one_application(client, settings):
    tokens_ = hidden_fields((await client.get("/apply/unlock")).text)
    first, second = await asyncio.gather(
        post_apply(client, "unlock", UNLOCK, tokens=tokens_),
        post_apply(client, "unlock", UNLOCK, tokens=tokens_),
    )
    assert first.status_code == second.status_code == 303, (first.text, second.text)
    assert first.headers["location"] == second.headers["location"]
    await assert_one_application_with_one_set_of_codes(settings)


async def test_two_forms_make_two_applications(client):
    first = await post_apply(client, "unlock", UNLOCK)
    second = await post_apply(client, "unlock", UNLOCK)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] != second.headers["location"]
    assert await Application.all().count() == 2


async def test_sixteen_applicants_at_once_each_get_their_application(client, settings):
    """On SQLite these share group commits (``sqlite_client.GroupCommit``), on PostgreSQL
    the pool: every one is answered with its own reference, and every one is stored."""
    async def one(n: int):  # noqa: ANN202
        return await post_apply(client, "unlock", {
            **UNLOCK, "account_id": f"61234567{n:02d}", "phone": f"+9198765432{n:02d}"})
    answers = await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(16))), 60)
    assert [answer.status_code for answer in answers] == [303] * 16
    references = {answer.headers["location"].split("/")[2] for answer in answers}
    assert len(references) == 16
    stored = await Application.filter(reference__in=references).values_list("account_id", flat=True)
    assert sorted(stored) == [f"61234567{n:02d}" for n in range(16)]
    assert await Document.all().count() == 16
    assert await Notification.all().count() == 32  # a code by email and by SMS each


async def test_a_reference_already_taken_is_drawn_again(client, monkeypatch):
    """The unique reference is checked by its constraint, not by a query before the insert:
    a clash (rare: 8 characters of 32) must still end in a new application, not a 500."""
    first = await post_apply(client, "unlock", UNLOCK)
    taken = first.headers["location"].split("/")[2]
    draws = iter([taken, taken])
    real = tokens.new_reference
    monkeypatch.setattr(tokens, "new_reference", lambda prefix: next(draws, None) or real(prefix))
    second = await post_apply(client, "unlock", {**UNLOCK, "account_id": "6123456780"})
    assert second.status_code == 303, second.text
    fresh = second.headers["location"].split("/")[2]
    assert fresh != taken
    assert await Application.filter(reference=fresh, account_id="6123456780").exists()
    assert await Application.all().count() == 2
    assert await Document.all().count() == 2  # no file left over from the refused draws


# --- 10. a form left open too long -----------------------------------------------------------


def _expired(settings, token):
    return tokens.new_submission_token(settings.secret_key, now=time.time() - 2 * 86400)


def _tampered(settings, token):
    nonce, issued, mac = token.split(".")
    return f"{nonce}.{int(issued) + 3600}.{mac}"


def _foreign(settings, token):
    return tokens.new_submission_token("another-secret-" + "y" * 40)


def _missing(settings, token):
    return ""


@pytest.mark.parametrize("spoil", [_expired, _tampered, _foreign, _missing])
async def test_stale_or_forged_submission_token_keeps_the_values(client, settings, spoil):
    tokens_ = hidden_fields((await client.get("/apply/unlock")).text)
    tokens_["submission_token"] = spoil(settings, tokens_["submission_token"])
    response = await post_apply(client, "unlock", UNLOCK, tokens=tokens_)

    assert response.status_code == 422, response.text[:300]
    page = Page(response.text)
    notice = page.find("div", class_="notice")
    assert notice and "open for too long" in notice[0].text
    assert_values_kept(page, UNLOCK)
    assert await Application.all().count() == 0

    again = hidden_fields(response.text)  # the page carries a fresh token: sending again works
    assert again["submission_token"] != tokens_["submission_token"]
    retry = await post_apply(client, "unlock", UNLOCK, tokens=again)
    assert retry.status_code == 303, retry.text[:300]
    assert await Application.all().count() == 1


# --- 11. a good application ------------------------------------------------------------------


async def test_good_application_is_stored_with_its_document(client, settings):
    data = noisy_jpeg()
    response = await post_apply(client, "unlock", UNLOCK, receipt(data, "receipt photo.jpg"))

    assert response.status_code == 303, response.text
    match = VERIFY_PATH.match(response.headers["location"])
    assert match, response.headers["location"]
    reference = match.group(1)
    assert REFERENCE.match(reference)

    application = await Application.get(reference=reference)
    assert application.status == "submitted"
    assert application.kind == "unlock"
    assert (application.account_id, application.email) == ("6123456789", "asha@example.com")
    assert (application.model, application.firmware) == ("Redmi Note 10 Pro", "21.3.17")
    assert application.firmware_channel == "developer"
    assert application.imei is None
    events = await Event.filter(application_id=application.id)
    assert [(e.type, e.to_status) for e in events] == [("submitted", "submitted")]

    document = await Document.get(application_id=application.id)
    assert document.sha256 == hashlib.sha256(data).hexdigest()
    assert document.size == len(data)
    assert document.original_name == "receipt photo.jpg"
    assert await uploaded(settings, document) == data
    assert leftovers(settings.upload_tmp_dir) == []

    verify = await client.get(response.headers["location"])
    assert verify.status_code == 200
    assert reference in verify.text
