"""Photos (JPEG, PNG): what their headers declare, where they end, whether they decode, and
the clean copy reviewers are shown.

Pillow is never the first to read a hostile image: the frame size is read here from the
header (PNG ``IHDR``, JPEG ``SOF``) and compared with our own limit
(``Settings.max_image_pixels``) before Pillow decodes a byte. A 200-byte PNG can declare
50000 × 50000 pixels, which is 7.5 GB once decoded; Pillow's own guard only warns below
179 MP and is process-wide, so it is not the limit we rely on. The end of the image is
found by walking its structure, so ``polyglots`` can judge whatever follows it.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from support.documents.refusals import Reason, Refused
from support.platform import memory

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (C4, C8 and CC are other segments); they carry the size.
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
PILLOW_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
                 Image.DecompressionBombError)


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    end: int  # offset just past the JPEG's EOI or the PNG's IEND chunk


def _damaged(detail: str) -> Refused:
    return Refused(Reason.DAMAGED, detail)


def png_layout(data: bytes) -> Layout:
    """Walk the chunks (length, type, data, CRC) from IHDR to IEND without reading their
    contents; the CRCs are Pillow's ``verify``."""
    if not data.startswith(PNG_SIGNATURE):
        raise _damaged("no PNG signature")
    pos, size = len(PNG_SIGNATURE), len(data)
    width = height = 0
    while True:
        if pos + 12 > size:
            raise _damaged("PNG cut off before IEND")
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size:
            raise _damaged("PNG chunk runs past the end")
        if pos == len(PNG_SIGNATURE):
            if kind != b"IHDR" or length != 13:
                raise _damaged("PNG does not start with IHDR")
            width = int.from_bytes(data[pos + 8:pos + 12], "big")
            height = int.from_bytes(data[pos + 12:pos + 16], "big")
        if kind == b"IEND":
            break
        pos = end
    if not width or not height:
        raise _damaged("PNG of zero size")
    return Layout(width, height, end)


# In a scan's entropy-coded data a 0xFF is followed by 0x00 (a stuffed byte) or a restart
# marker; followed by anything else (fill 0xFF included), it starts the marker that ends it.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def _skip_scan(data: bytes, pos: int) -> int:
    """The offset of the marker after a scan's entropy-coded data. One regular-expression
    search: a loop over each stuffed 0xFF (one in 256 bytes of a photo) was 4% of a
    submission's CPU (B1)."""
    end = _SCAN_END.search(data, pos)
    if end is None:
        raise _damaged("JPEG cut off in its image data")
    return end.start()


def jpeg_layout(data: bytes, start: int = 0) -> Layout:
    """Walk the segments from SOI to the EOI that closes the image (not one inside an EXIF
    thumbnail: segments are skipped by their length, scans up to their next marker)."""
    if data[start:start + 3] != b"\xff\xd8\xff":
        raise _damaged("no JPEG start of image")
    pos, size = start + 2, len(data)
    frame: tuple[int, int] | None = None
    while True:
        if pos >= size or data[pos] != 0xFF:
            raise _damaged("JPEG segment expected")
        while pos < size and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= size:
            raise _damaged("JPEG cut off at a marker")
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue  # markers without a length
        if marker in (0x00, 0xD8) or pos + 2 > size:
            raise _damaged("JPEG marker out of place")
        length = int.from_bytes(data[pos:pos + 2], "big")
        if length < 2 or pos + length > size:
            raise _damaged("JPEG segment runs past the end")
        if marker in SOF_MARKERS and frame is None:
            if length < 7:
                raise _damaged("JPEG frame header too short")
            height = int.from_bytes(data[pos + 3:pos + 5], "big")
            width = int.from_bytes(data[pos + 5:pos + 7], "big")
            frame = (width, height)
        pos += length
        if marker == 0xDA:
            pos = _skip_scan(data, pos)
    if frame is None or not frame[0] or not frame[1]:
        raise _damaged("JPEG without a frame size")
    return Layout(frame[0], frame[1], pos)


def layout(data: bytes, content_type: str) -> Layout:
    return png_layout(data) if content_type == "image/png" else jpeg_layout(data)


def check_pixels(found: Layout, max_pixels: int) -> None:
    """Decompression bombs: refused on what the header declares, before any decoding."""
    if found.width * found.height > max_pixels:
        raise Refused(Reason.TOO_MANY_PIXELS, f"{found.width}x{found.height}")


def check_readable(data: bytes, content_type: str) -> None:
    """Pillow must be able to read what ``layout`` walked: the header it parses, and for a
    PNG every chunk's CRC (``verify``), its image data included, so a cut-off or damaged
    PNG fails without being decoded (decoding costs width × height × 3 bytes: 490 MB for
    a 108-megapixel screenshot, bench/b4_uploads.py).

    A JPEG's image data is not decoded here. A file cut off by a dropped connection or a
    bad save has no end marker, which ``jpeg_layout`` already refuses; a decode at 1/8
    scale found nothing more and cost 2 ms of CPU per submission, a third of the request's
    (bench/b1_submit.py). The worker decodes every photo anyway to re-encode it
    (``reencode``), before any reviewer sees it; a file that fails there is marked unsafe
    and the reviewer is told (``documents.filing``). Only called once ``check_pixels``
    has bounded the size."""
    try:
        with Image.open(io.BytesIO(data), formats=[FORMATS[content_type]]) as image:
            image.verify()
    except PILLOW_ERRORS as error:
        raise _damaged(type(error).__name__) from None


def _save_options(source: Image.Image, content_type: str) -> dict[str, Any]:
    """Keep how the photo was compressed (its quantisation tables, chroma subsampling and,
    for a progressive file, progressive with optimised tables), so the copy is neither
    blurrier nor much larger than what the applicant sent (phones write baseline files,
    which come back within a few per cent); keep a PNG's transparency, which is pixels,
    not metadata."""
    if content_type == "image/jpeg":
        options: dict[str, Any] = {"qtables": getattr(source, "quantization", None) or None}
        sampling = JpegImagePlugin.get_sampling(source)
        if sampling != -1:
            options["subsampling"] = sampling
        if source.info.get("progressive"):
            options.update(progressive=True, optimize=True)
        return {k: v for k, v in options.items() if v is not None}
    transparency = source.info.get("transparency")
    return {} if transparency is None else {"transparency": transparency}


def reencode(source: bytes | Path, target: Path, content_type: str) -> int:
    """Write at ``target`` a copy of the image in ``source`` (its bytes, or its file: then
    usually ``target`` itself) made from its pixels alone,
    turned upright first (the EXIF orientation is applied, as a phone shows the photo),
    and return its size.

    Nothing but pixels is carried over: no EXIF (GPS position, phone serial, time), no XMP,
    no comments, no PNG text chunks, no ICC profile (colour management is not worth a
    hostile profile reaching the reviewer's browser; photos are read as sRGB), and nothing
    that followed the image. The copy is written next to ``target``, flushed to disk and
    moved there (``replace_atomically``)."""
    expected = [FORMATS[content_type]]
    try:
        image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source,
                           formats=expected)
    except PILLOW_ERRORS as error:
        raise _damaged(type(error).__name__) from None
    try:
        try:
            image.load()
            options = _save_options(image, content_type)
            # In place: a second copy of the pixels was 37 MB for a 12 MP photo (B4).
            ImageOps.exif_transpose(image, in_place=True)
        except PILLOW_ERRORS as error:
            raise _damaged(type(error).__name__) from None
        image.info = {}  # Pillow's savers read comments, ICC profiles and more from here
        replace_atomically(target, lambda out: _save(image, out, expected[0], options))
    finally:
        image.close()
        memory.give_back()
    return target.stat().st_size


def replace_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write a file through ``write`` next to ``path``, flush it to disk and move it to
    ``path``, so a crash leaves either file whole and never half of one."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, kept on success
        dir=path.parent, prefix=".sanitising-", delete=False
    )
    temporary = Path(handle.name)
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def _save(image: Image.Image, handle: IO[bytes], kind: str, options: dict[str, Any]) -> None:
    """A disk that is full or failing is the machine's problem (raised as is, the worker
    tries again later); an image Pillow cannot write back is the file's."""
    try:
        image.save(handle, kind, **options)
    except OSError as error:
        if error.errno is not None:
            raise
        raise _damaged(f"cannot write back: {error}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise _damaged(f"cannot write back: {type(error).__name__}") from None


def sync_folder(folder: Path) -> None:
    """Make a rename into ``folder`` itself durable (a safe copy here, a backup's archive)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
