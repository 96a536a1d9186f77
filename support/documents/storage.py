"""Documents: what a file really is, whether we accept it, and where it is kept.

Files arrive from the form parser in memory when small (most receipts and screenshots)
or, past ``SPOOL_BYTES``, already on disk in the data dir's ``tmp/`` folder (so a 10 MB
photo never sits in memory). They are placed only when their application is about to be
committed: a file in memory is appended to the process's spool (``spool``: no file of its
own is created in the request); a spilled one is moved to its final key in
``documents/``. At upload they are sniffed by content and checked (images: ``images``,
PDFs: ``pdfs``, files that are two formats at once: ``polyglots``); before a reviewer sees
one, it is sanitised, and a spooled one written to its key (``sanitise``; when:
``documents.filing``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import string
import unicodedata
import weakref
from dataclasses import dataclass
from pathlib import Path

from support.documents import images, pdfs, polyglots, quality
from support.documents.refusals import Reason, Refused, field_error
from support.platform import memory
from support.platform.i18n import N_
from support.rules.validation import FieldError

# 64 MP: 48 and 50 MP full-resolution phone photos pass, a decode stays near 200 MB
# (Settings.max_image_pixels says why; the routes pass the setting).
DEFAULT_MAX_IMAGE_PIXELS = 64_000_000
# A document that could not be made safe has "unsafe:" before its content type (the type
# is kept for an operator); reviewers are told instead of being sent the file.
UNSAFE = "unsafe"


# A file part up to this size stays in memory. B1 found that creating a temporary file
# cost about 0.75 ms of the event loop on a VM's disk, and moving it to a new folder as
# much again; written once to its final key, a 200 KB receipt (a scan, a screenshot)
# costs neither. Every upload holds this much before it spills, so the size
# is small: B4's 50 concurrent 10 MB photos held 50 MB at 1 MB (Starlette's own limit),
# 13 MB at this. A phone photo is larger and streams to ``tmp/``.
SPOOL_BYTES = 256 * 1024

NOT_SAVED = N_("We could not save this file on our side. Please try again later: "
               "choose the file again and send the form.")


@dataclass
class StagedFile:
    """A file part received in a request: its bytes in ``content`` or, if it was larger
    than ``SPOOL_BYTES``, in a temporary file at ``path``."""

    field: str
    original_name: str
    size: int
    sha256: str
    too_large: bool
    head: bytes  # the first bytes, for sniffing without reading the file
    unsaved: bool = False  # the disk refused it (full): nothing of it is kept
    path: Path | None = None
    content: bytes | None = None

    def read(self) -> bytes:
        if self.content is not None:
            return self.content
        return self.path.read_bytes() if self.path is not None else b""

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        self.content = None


class NotStored(Exception):
    """The disk refused a file (full, or failing) while it was being stored; nothing of it
    is left. The applicant is told next to ``field`` and keeps what they typed."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


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


def _check_content(data: bytes, content_type: str, max_pixels: int) -> None:
    """Every check on the bytes, cheapest and most specific first. The whole file is in
    memory (it is at most ``max_file_bytes``): the checks walk structures, not streams."""
    if content_type == "application/pdf":
        polyglots.check_pdf_end(data)
        polyglots.check_readers(data, content_type)
        pdfs.check_pdf(data)
        return
    found = images.layout(data, content_type)
    images.check_pixels(found, max_pixels)
    polyglots.check_image_end(data, content_type, found.end)
    polyglots.check_readers(data, content_type)
    images.check_readable(data, content_type)


async def check_document(
    staged: StagedFile, max_bytes: int, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> str:
    """Return the sniffed content type, or raise FieldError saying what to do instead.

    A refused file is left where it is: the form's ``discard_files`` removes every staged
    file of the request, this one and the others, whatever else was wrong."""
    megabytes = max_bytes // (1024 * 1024)
    if staged.unsaved:
        raise FieldError(NOT_SAVED, error_code="file_not_saved")
    if staged.too_large:
        raise FieldError("This file is larger than %(limit)s MB. Choose a smaller photo or PDF.",
                         limit=megabytes, error_code="file_too_large")
    if staged.size == 0:
        raise FieldError("This file is empty. Choose the file again.", error_code="file_empty")
    content_type = sniff(staged.head)
    if content_type is None:
        raise FieldError("Only photos (JPEG or PNG) and PDF files are accepted.",
                         error_code="file_type")
    if staged.path is None and content_type != "application/pdf":
        # A photo in memory (at most SPOOL_BYTES): its check walks the file's structure,
        # about 0.2 ms of Python that a thread would not run any sooner (it needs the GIL)
        # and whose hop costs as much again on the event loop (B1). A PDF's parser can take
        # far longer, so it stays in a thread, where the GIL is handed back every 5 ms.
        refused = _refusal_of(staged, content_type, max_pixels)
    else:
        # A file read from tmp/ is up to max_file_bytes: held whole, one at a time.
        slot = one_large_file() if staged.path is not None else contextlib.nullcontext()
        async with slot:
            refused = await asyncio.to_thread(_refusal_of, staged, content_type, max_pixels)
    if refused is not None:
        raise field_error(refused, max_pixels)
    return content_type


# Checking a large upload holds it whole in memory (up to 10 MB, and a PDF's parser as much
# again), re-encoding a photo holds its pixels (37 MB for 12 MP). B4 sent 50 large files
# at once: six checks at a time in asyncio's thread pool, beside the worker's re-encoding,
# took the server past 200 MB. So a process does one such thing at a time; small uploads,
# already in memory, are not held back (B1).
_large_file_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
    weakref.WeakKeyDictionary()


def one_large_file() -> asyncio.Semaphore:
    """The process's one slot for work that holds a large file or image in memory."""
    loop = asyncio.get_running_loop()
    if loop not in _large_file_slots:
        _large_file_slots[loop] = asyncio.Semaphore(1)
    return _large_file_slots[loop]


# A photo of paper that looks too poor to read (issue 26): said next to its field, with
# what is wrong and how to take a better one (``PoorPhoto.advice``), and a box to tick to
# send it anyway, named after the field with this suffix.
POOR_PHOTO = N_("This photo may be too hard to read. Take a better one and choose it "
                "again, or tick “Send this photo anyway”.")
ANYWAY_SUFFIX = "_anyway"


class PoorPhoto(FieldError):
    """A photo that looks too poor to read: advice, never a refusal (the applicant may send
    it anyway). ``advice``: what is wrong and what to do, a message per problem."""

    def __init__(self, problems: list[quality.Problem]) -> None:
        super().__init__(POOR_PHOTO, error_code="photo_poor")
        self.problems = problems
        self.advice = [quality.ADVICE[problem] for problem in problems]


async def check_photo(staged: StagedFile, content_type: str, purpose: str = "") -> None:
    """Raise ``PoorPhoto`` if this photo (checked already by ``check_document``) looks too
    dark, too bright, blurred or too small to read. A PDF, or a photo Pillow cannot read
    here, is not judged. Decoding at a reduced scale releases the GIL: in a thread, large
    ones one at a time as every large file (``one_large_file``)."""
    if content_type not in images.FORMATS:
        return
    formats = [images.FORMATS[content_type]]
    source = staged.path if staged.path is not None else staged.content
    if source is None:
        return
    slot = one_large_file() if staged.path is not None else contextlib.nullcontext()
    async with slot:
        problems = await asyncio.to_thread(quality.assess_file, source, formats,
                                           label=purpose == "box_photo")
    if problems:
        raise PoorPhoto(problems)


def _refusal_of(staged: StagedFile, content_type: str, max_pixels: int) -> Refused | None:
    """The refusal, if any, as a new exception: the one raised carries a traceback (and
    pypdf's error, its own) whose frames hold the whole file, and the page that shows the
    message would keep it alive until the response is sent (B4: 50 refused 10 MB PDFs
    took the server to 560 MB)."""
    try:
        _check_content(staged.read(), content_type, max_pixels)
    except Refused as refusal:
        return Refused(refusal.reason, refusal.detail)
    finally:
        if staged.size > SPOOL_BYTES:
            memory.give_back()  # a whole large file was read: see ``memory``
    return None


def sanitise(source: bytes | Path, target: Path, content_type: str, max_pixels: int) -> int:
    """Make a document fit for a reviewer at ``target`` and return its size; raise
    ``Refused`` if it cannot be. ``source`` is the upload: its bytes from the spool, or its
    file (then ``target`` itself). An image is re-encoded from its pixels
    (``images.reencode``), its size bounded first: the file may predate the checks above.
    A PDF cannot be cleaned without risking what it shows, so it is checked again, as at
    upload, and kept as it is."""
    data = source if isinstance(source, bytes) else source.read_bytes()
    if content_type == "application/pdf":
        _check_content(data, content_type, max_pixels)
        if isinstance(source, bytes):
            spooled = source
            images.replace_atomically(target, lambda out: out.write(spooled))
        return len(data)
    if content_type not in images.FORMATS:
        raise Refused(Reason.DAMAGED, f"not a document type: {content_type}")
    images.check_pixels(images.layout(data, content_type), max_pixels)
    del data  # a large file is decoded from its file, not held beside its pixels (B4)
    return images.reencode(source, target, content_type)


KEY_ALPHABET = string.ascii_letters + string.digits + "-_"  # secrets.token_urlsafe's


@dataclass(frozen=True)
class Placed:
    """Where ``store.DocumentStore.put`` put an upload: the key its document is kept under
    and, until the worker files it, where its bytes wait (a spool place, or
    ``store.IN_BUCKET``)."""

    key: str
    spooled: str | None = None
