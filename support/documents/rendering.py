"""Pictures of a safe document for the reviewer's viewer: small thumbnails drawn with the
application page, and a PDF's pages as images.

Only documents already made safe (``filing``) come here. A photo's thumbnail is drawn in a
thread by Pillow, as the photo was re-encoded by Pillow; its size is checked against the
pixel limit before a byte is decoded. A PDF's pages are drawn by PDFium in a child process
(``pdf_pages``) with a memory and CPU ceiling and a timeout, so a hostile file costs at
most a few seconds of one process and is then reported, never a crash of the server.

What is drawn is kept in a small cache in memory, by storage key (a document's file is
written once, so a key's pictures never change): the viewer asks again for each page view
(the browser is told not to store them). A PDF's page count comes with the first page
drawn; the worker draws it when it files the PDF and keeps the count on the document's row
(``filing.count_pages``), which the application page reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from support.documents import images
from support.documents.storage import one_large_file
from support.platform import memory

MEDIA_TYPE = "image/jpeg"
MAX_PAGES = 50  # pages shown in the viewer; a longer file is downloaded to be read whole
PAGE_PIXELS = 4_000_000  # a page image: an A4 page at 2.4 px a point, 250-600 KB as JPEG
THUMBNAIL_SIDE = 320  # pixels: 160 CSS pixels on a screen of double density
PAGE_QUALITY, THUMBNAIL_QUALITY = 85, 78
RENDER_SECONDS = 8.0  # an honest page draws in well under a second
CACHE_BYTES = 32 * 1024 * 1024
# Run as a file, not imported: the web process never loads PDFium (``pdf_pages`` says why).
_SCRIPT = str(Path(__file__).resolve().with_name("pdf_pages.py"))


class Unrenderable(Exception):
    """The file could not be drawn (broken or hostile): the reviewer can still download it."""


class NoSuchPage(Exception):
    """A page number past the end of the PDF (or past ``MAX_PAGES``)."""


@dataclass(frozen=True)
class _Picture:
    data: bytes
    pages: int  # a PDF's page count; 1 for a photo


class _Cache:
    """Least recently used pictures up to ``CACHE_BYTES``, and what each key could not do."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size = limit, 0
        self.pictures: OrderedDict[tuple[str, str], _Picture] = OrderedDict()
        self.failed: OrderedDict[str, None] = OrderedDict()

    def get(self, key: tuple[str, str]) -> _Picture | None:
        found = self.pictures.get(key)
        if found is not None:
            self.pictures.move_to_end(key)
        return found

    def put(self, key: tuple[str, str], picture: _Picture) -> None:
        if len(picture.data) > self.limit // 4:
            return
        old = self.pictures.pop(key, None)
        self.size += len(picture.data) - (len(old.data) if old else 0)
        self.pictures[key] = picture
        while self.size > self.limit:
            _, dropped = self.pictures.popitem(last=False)
            self.size -= len(dropped.data)

    def fail(self, storage_key: str) -> None:
        """A file that could not be drawn is not tried again by this process (a hostile
        one would cost its timeout on every page view)."""
        self.failed[storage_key] = None
        while len(self.failed) > 1024:
            self.failed.popitem(last=False)

    def clear(self) -> None:
        self.pictures.clear()
        self.failed.clear()
        self.size = 0


_cache = _Cache(CACHE_BYTES)
_counts: OrderedDict[str, int] = OrderedDict()
_render_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
    weakref.WeakKeyDictionary()


def _slots() -> asyncio.Semaphore:
    """Two PDFium children at a time (two cores), per event loop as ``storage``'s slot is:
    a semaphore made at import binds to the first loop that waits on it."""
    loop = asyncio.get_running_loop()
    if loop not in _render_slots:
        _render_slots[loop] = asyncio.Semaphore(2)
    return _render_slots[loop]


def forget() -> None:
    """Empty the cache (tests; a document's file deleted is never asked for again)."""
    _cache.clear()
    _counts.clear()


# The document's safe copy as a file on this machine while a picture is drawn from it
# (``store.DocumentStore.local_copy``): fetched only when the picture is not in the cache.
Local = Callable[[], contextlib.AbstractAsyncContextManager[Path]]


async def thumbnail(path: Local, storage_key: str, content_type: str, max_pixels: int) -> bytes:
    """A small JPEG of the photo, or of a PDF's first page."""
    if content_type == "application/pdf":
        return (await _pdf(path, storage_key, 0)).data
    key = (storage_key, "thumbnail")
    found = _cache.get(key)
    if found is None:
        if storage_key in _cache.failed:
            raise Unrenderable("could not be drawn before")
        # A photo's pixels in memory: the process's one large-file slot (storage.py).
        async with one_large_file():
            found = _cache.get(key)  # drawn by a request that held the slot before us
            if found is None:
                try:
                    async with path() as local:
                        data = await asyncio.to_thread(_photo_thumbnail, local, max_pixels)
                except Unrenderable:
                    _cache.fail(storage_key)
                    raise
                found = _Picture(data, 1)
                _cache.put(key, found)
    return found.data


async def pdf_page(path: Local, storage_key: str, number: int) -> bytes:
    """Page ``number`` (from 1) of a PDF, as a JPEG of at most ``PAGE_PIXELS``."""
    count = await page_count(path, storage_key)
    if not 1 <= number <= min(count, MAX_PAGES):
        raise NoSuchPage(number)
    return (await _pdf(path, storage_key, number)).data


async def page_count(path: Local, storage_key: str) -> int:
    """How many pages the PDF has (drawing its thumbnail once to learn it)."""
    known = _counts.get(storage_key)
    if known is None:
        known = (await _pdf(path, storage_key, 0)).pages
    return known


async def page_count_or_none(path: Local, storage_key: str) -> int | None:
    """The page count, or None when the PDF cannot be drawn (the page says so)."""
    try:
        return await page_count(path, storage_key)
    except Unrenderable:
        return None


async def _pdf(path: Local, storage_key: str, number: int) -> _Picture:
    """Page ``number`` drawn by ``pdf_pages``; page 0 is the first page as a thumbnail."""
    key = (storage_key, f"page-{number}")
    found = _cache.get(key)
    if found is not None:
        return found
    if storage_key in _cache.failed:
        raise Unrenderable("could not be drawn before")
    thumbnail = number == 0
    arguments = [str(max(number, 1)), str(PAGE_PIXELS),
                 str(THUMBNAIL_SIDE if thumbnail else 0),
                 str(THUMBNAIL_QUALITY if thumbnail else PAGE_QUALITY)]
    async with _slots():
        # Requests for one picture queue here: the first draws it, the rest find it.
        found = _cache.get(key)
        if found is not None:
            return found
        if storage_key in _cache.failed:
            raise Unrenderable("could not be drawn before")
        try:
            async with path() as local:
                output = await _run(str(local), arguments)
        except Unrenderable:
            _cache.fail(storage_key)
            raise
    head, _, data = output.partition(b"\n")
    if not head.isdigit() or not data:
        _cache.fail(storage_key)
        raise Unrenderable("no picture came back")
    found = _Picture(data, int(head))
    _counts[storage_key] = found.pages
    while len(_counts) > 4096:
        _counts.popitem(last=False)
    _cache.put(key, found)
    return found


async def _run(path: str, arguments: list[str]) -> bytes:
    """The child program under its timeout; killed when the time is up. ``-I``: it sees
    neither the environment's Python variables nor the working folder."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", _SCRIPT, path, *arguments,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        output, errors = await asyncio.wait_for(process.communicate(), RENDER_SECONDS)
    except TimeoutError:
        raise Unrenderable(f"took longer than {RENDER_SECONDS:g} s") from None
    finally:
        if process.returncode is None:  # timed out, or the request was cancelled
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if process.returncode != 0:
        why = errors.decode("ascii", "replace").strip()[-200:] or f"exit {process.returncode}"
        raise Unrenderable(why)
    return output


def _photo_thumbnail(path: Path, max_pixels: int) -> bytes:
    """In a thread: the photo scaled down. A JPEG is decoded at 1/2 to 1/8 of its size
    (``draft``), so a 12 MP photo costs a few megabytes, not 37; a PNG cannot be, and is
    bounded by the pixel limit it was re-encoded under."""
    try:
        with Image.open(path, formats=list(images.FORMATS.values())) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise Unrenderable(f"{width}x{height}")
            image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            if image.mode in ("RGBA", "LA", "P", "PA"):
                rgba = image.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
                small = flat
            else:
                small = image.convert("RGB")
            out = io.BytesIO()
            small.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
            return out.getvalue()
    except images.PILLOW_ERRORS as error:
        raise Unrenderable(type(error).__name__) from None
    finally:
        memory.give_back()  # a PNG is decoded whole (no draft): its pixels go back
