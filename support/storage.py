"""Documents: what a file really is, whether we accept it, and where it is kept.

Files arrive from the form parser already on disk in the data dir's ``tmp/`` folder (so a
10 MB photo never sits in memory) and move to ``documents/`` only when the application
that owns them is committed.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from support.validation import FieldError

ACCEPTED = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}


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


def _decodes_as_image(path: Path) -> bool:
    """A photo cut off by a dropped connection or a bad save must not reach a reviewer as
    evidence. A PNG's ``verify`` checks every chunk's CRC, its image data included, so a
    cut-off PNG fails without being decoded (decoding costs width × height × 3 bytes:
    490 MB for a 108-megapixel screenshot, bench/b4_uploads.py). A JPEG has no such
    check, so its data is decoded, at 1/8 scale (``draft``): every byte is still read, so
    a cut-off file still fails, at 1/64 of the memory and a fraction of the time."""
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            if image.format != "JPEG":
                return True
            image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False
    return True


def _looks_like_pdf(path: Path, size: int) -> bool:
    with path.open("rb") as handle:
        handle.seek(max(0, size - 2048))
        return b"%%EOF" in handle.read()


async def check_document(staged: StagedFile, max_bytes: int) -> str:
    """Return the sniffed content type, or raise FieldError saying what to do instead."""
    megabytes = max_bytes // (1024 * 1024)
    if staged.too_large:
        raise FieldError("This file is larger than %(limit)s MB. Choose a smaller photo or PDF.",
                         limit=megabytes)
    if staged.size == 0:
        raise FieldError("This file is empty. Choose the file again.")
    content_type = sniff(staged.head)
    if content_type is None:
        raise FieldError("Only photos (JPEG or PNG) and PDF files are accepted.")
    if content_type == "application/pdf":
        readable = await asyncio.to_thread(_looks_like_pdf, staged.path, staged.size)
    else:
        readable = await asyncio.to_thread(_decodes_as_image, staged.path)
    if not readable:
        raise FieldError(
            "This file is damaged or incomplete. Take the photo or save the PDF again."
        )
    return content_type


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
