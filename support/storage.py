"""Documents: what a file really is, whether we accept it, and where it is kept.

Files arrive from the form parser already on disk in the data dir's ``tmp/`` folder (so a
10 MB photo never sits in memory) and move to ``documents/`` only when the application
that owns them is committed. At upload they are sniffed by content and checked (images:
``images``, PDFs: ``pdfs``, files that are two formats at once: ``polyglots``); before a
reviewer sees one, it is sanitised (``sanitise``; when: ``workflow.documents``).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from support import images, pdfs, polyglots
from support.refusals import Reason, Refused, field_error
from support.validation import FieldError

ACCEPTED = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}
# 64 MP: 48 and 50 MP full-resolution phone photos pass, a decode stays near 200 MB
# (Settings.max_image_pixels says why; the routes pass the setting).
DEFAULT_MAX_IMAGE_PIXELS = 64_000_000
# A document that could not be made safe has "unsafe:" before its content type (the type
# is kept for an operator); reviewers are told instead of being sent the file.
UNSAFE = "unsafe"


@dataclass
class StagedFile:
    """A file part received in a request, written to a temporary path."""

    field: str
    path: Path
    original_name: str
    size: int
    sha256: str
    too_large: bool
    head: bytes  # the first bytes, for sniffing without reopening the file
    unsaved: bool = False  # the disk refused it (full): nothing of it is kept

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def sniff(head: bytes) -> str | None:
    """The type from the content's magic bytes; the name and the browser's claim are ignored."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def sanitise_filename(name: str) -> str:
    """Keep a readable name for reviewers, but never a path: ``../`` and folders go."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in {"C", "Z"} or ch == " ")
    name = re.sub(r"\s+", " ", name).strip(" .")
    return name[:120] or "document"


def _check_content(path: Path, content_type: str, max_pixels: int) -> None:
    """Every check on the bytes, cheapest and most specific first. The whole file is read
    once (it is at most ``max_file_bytes``): the checks walk structures, not streams."""
    data = path.read_bytes()
    if content_type == "application/pdf":
        polyglots.check_pdf_end(data)
        polyglots.check_readers(data, content_type)
        pdfs.check_pdf(data)
        return
    found = images.layout(data, content_type)
    images.check_pixels(found, max_pixels)
    polyglots.check_image_end(data, content_type, found.end)
    polyglots.check_readers(data, content_type)
    images.check_decodes(path, content_type)


async def check_document(
    staged: StagedFile, max_bytes: int, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> str:
    """Return the sniffed content type, or raise FieldError saying what to do instead.

    A refused file is left where it is: the form's ``discard_files`` removes every staged
    file of the request, this one and the others, whatever else was wrong."""
    megabytes = max_bytes // (1024 * 1024)
    if staged.unsaved:
        raise FieldError("We could not save this file on our side. Please try again later: "
                         "choose the file again and send the form.")
    if staged.too_large:
        raise FieldError("This file is larger than %(limit)s MB. Choose a smaller photo or PDF.",
                         limit=megabytes)
    if staged.size == 0:
        raise FieldError("This file is empty. Choose the file again.")
    content_type = sniff(staged.head)
    if content_type is None:
        raise FieldError("Only photos (JPEG or PNG) and PDF files are accepted.")
    try:
        await asyncio.to_thread(_check_content, staged.path, content_type, max_pixels)
    except Refused as refusal:
        raise field_error(refusal, max_pixels) from None
    return content_type


def sanitise(path: Path, content_type: str, max_pixels: int) -> int:
    """Make a stored file fit for a reviewer and return its size; raise ``Refused`` if it
    cannot be. An image is re-encoded from its pixels (``images.reencode``), its size
    bounded first: the file may predate the checks above. A PDF cannot be cleaned without
    risking what it shows, so it is checked again, as at upload, and kept as it is."""
    if content_type == "application/pdf":
        _check_content(path, content_type, max_pixels)
        return path.stat().st_size
    if content_type not in images.FORMATS:
        raise Refused(Reason.DAMAGED, f"not a document type: {content_type}")
    images.check_pixels(images.layout(path.read_bytes(), content_type), max_pixels)
    return images.reencode(path, content_type)


class DocumentStore:
    """Files on local disk under random keys; the same interface can front a shared
    volume or object storage later."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_-]{20,64}", key):
            raise ValueError("not a storage key")
        return self.root / key[:2] / key

    def put(self, staged: StagedFile) -> str:
        """Move (not copy) the staged file in; same filesystem, so it is atomic."""
        key = secrets.token_urlsafe(24)
        target = self.path(key)
        try:
            os.replace(staged.path, target)
        except FileNotFoundError:  # its folder is new (a mkdir on every put cost ~1 ms)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.path, target)
        return key

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
