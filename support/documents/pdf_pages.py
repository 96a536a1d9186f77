"""The child program that draws one page of a PDF as a JPEG (``rendering`` runs it).

PDFium (pypdfium2) is a C++ parser and rasteriser: fast and the one a browser trusts, but a
hostile file could still crash it, loop in it or make it allocate without end, and nothing
can interrupt native code running in a thread. So it never runs in the web process: each
page is drawn here, in a process of its own with a memory and CPU ceiling, which the parent
kills when its time is up. Run as a script (``python -I pdf_pages.py``), it imports only
pypdfium2 and Pillow, not the application.

Arguments: the file, the page (from 1), the most pixels of the image, the longest side (0:
no such limit), the JPEG quality. Output: the page count on the first line, then the JPEG.
Exit 2: PDFium could not open the file or draw the page; anything else non-zero: a crash.
"""

from __future__ import annotations

import io
import math
import resource
import sys

import pypdfium2
from PIL import Image

MEMORY_BYTES = 1024 * 1024 * 1024  # address space: Python, PDFium and one page's pixels
CPU_SECONDS = 20  # the parent's timeout is shorter; this holds if the parent is gone
MAX_SCALE = 3.0  # 216 dpi: a receipt's small print is readable zoomed in, no more is drawn


def scale_for(width: float, height: float, max_pixels: int, max_side: int) -> float:
    """How many pixels a point becomes: as sharp as ``MAX_SCALE``, within both caps."""
    scale = min(MAX_SCALE, math.sqrt(max_pixels / (width * height)))
    if max_side:
        scale = min(scale, max_side / max(width, height))
    while math.ceil(width * scale) * math.ceil(height * scale) > max_pixels:
        scale *= 0.999  # PDFium rounds each side up: a pixel more each way is over the cap
    return scale


def render(path: str, number: int, max_pixels: int, max_side: int, quality: int) -> bytes:
    document = pypdfium2.PdfDocument(path)
    try:
        count = len(document)
        if not 1 <= number <= count:
            raise ValueError("no such page")
        page = document[number - 1]
        width, height = page.get_size()
        if not (width > 0 and height > 0 and math.isfinite(width * height)):
            raise ValueError("a page without a size")
        bitmap = page.render(scale=scale_for(width, height, max_pixels, max_side),
                             may_draw_forms=False)
        image: Image.Image = bitmap.to_pil().convert("RGB")
        out = io.BytesIO()
        out.write(f"{count}\n".encode())
        image.save(out, "JPEG", quality=quality, optimize=True)
        return out.getvalue()
    finally:
        document.close()


def main(argv: list[str]) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    path, number, max_pixels, max_side, quality = argv[0], *map(int, argv[1:5])
    try:
        data = render(path, number, max_pixels, max_side, quality)
    except (pypdfium2.PdfiumError, ValueError, OSError) as error:
        sys.stderr.write(f"{type(error).__name__}\n")
        return 2
    sys.stdout.buffer.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
