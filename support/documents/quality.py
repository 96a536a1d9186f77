"""Whether a photo of paper (a receipt, a box's label) is good enough to read, judged at
upload while the applicant can still take another (issue 26).

Pure and cheap: Pillow only, on a greyscale copy ``DRAFT_SIDE`` to ``WORK_SIDE`` pixels on its
long side. A JPEG is decoded straight at 1/2, 1/4 or 1/8 of its size (``draft``: libjpeg's
DCT scaling skips most of the work, but every byte of the file is still entropy-decoded):
about 3 ms for a 200 KB receipt, 5 ms for a 4 MP photo, 25-30 ms for a 12 MP one of 2.4 MB
on the benchmark machine, nearly all of it that decoding (bench/b12_photo_check.py); the
measuring itself is about a millisecond. The web layer runs it in a thread.
What is measured:

- dark: even the brightest pixels are grey (the paper itself is in shadow);
- bright: washed out, even the darkest pixels are light (the print is lost in the glare);
- blurred: the sharpest edges are soft for the photo's contrast (a Laplacian's strongest
  responses over the spread of the brightness, on the copy: a slight blur a phone always
  has vanishes in the downscale, a blur that hides letters does not);
- small: the original's short side too short to hold letters.

The thresholds were set on the generated corpus of tests/photo_corpus.py (good photos
1-12 MP in dim to bright light, poor ones dark, washed out, blurred and tiny);
tests/test_photo_quality.py holds them to ≤ 2% false alarms and ≥ 90% caught. The
applicant may always send the photo anyway: this is advice, never a refusal.
"""

from __future__ import annotations

import io
import time
from enum import StrEnum
from pathlib import Path

import zxingcpp
from PIL import Image, ImageFilter

from support.platform.i18n import N_

WORK_SIDE = 384  # the long side of the copy measured, at most
DRAFT_SIDE = 256  # and at least, when the original is larger
SMALL_SIDE = 500  # an original whose short side is under this holds no readable print
DARK_TOP = 100  # the 99th percentile of brightness under this: dark
BRIGHT_BOTTOM = 180  # the darkest 0.2% lighter than this: washed out
# The 99.5th percentile of the Laplacian's magnitude over the brightness' spread (99th -
# 1st percentile): a sharp photo of print is far above, a blurred one far below.
SHARPNESS = 0.105
MIN_SPREAD = 24  # below this, there is no contrast to judge sharpness by


class Problem(StrEnum):
    DARK = "dark"
    BRIGHT = "bright"
    BLURRED = "blurred"
    SMALL = "small"
    NO_LABEL = "no_label"  # a box photo with no barcode to be found: not the label


# What is wrong and how to take a better photo, in the applicant's words (the web layer
# shows each through gettext, in the applicant's language).
ADVICE: dict[Problem, str] = {
    Problem.DARK: N_("The photo is too dark. Take it again in daylight or a bright room, "
                     "without the flash reflecting on the paper."),
    Problem.BRIGHT: N_("The photo is too bright: the print is washed out. Take it again "
                       "out of direct sunlight, without the flash, so the paper does not "
                       "shine."),
    Problem.BLURRED: N_("The photo is blurred. Hold the phone still, tap the paper on the "
                        "screen to focus, and take it again."),
    Problem.SMALL: N_("The photo is too small to read. Send the original photo from your "
                      "phone's camera, not a thumbnail or a screenshot of it, with the paper "
                      "filling most of the picture."),
    Problem.NO_LABEL: N_("We cannot find the box's label on this photo. Take it again with "
                         "the sticker that has the barcodes and the IMEI filling most of the "
                         "picture."),
}
LABEL_SIDE = 1024  # the long side of the copy searched first for a barcode (a few ms)
LABEL_SECONDS = 0.25  # then the worker's own search, turned copies, at most this long

# A Laplacian of the copy smoothed first (a Laplacian of Gaussian): sensor grain and JPEG
# blocks are finer than an edge and would read as sharpness.
_SMOOTH = ImageFilter.GaussianBlur(1)
_LAPLACIAN = ImageFilter.Kernel((3, 3), (0, 1, 0, 1, -4, 1, 0, 1, 0), scale=1, offset=128)


def _percentile(histogram: list[int], total: int, fraction: float) -> int:
    """The smallest value at or below which ``fraction`` of the pixels lie."""
    wanted = fraction * total
    seen = 0
    for value, count in enumerate(histogram):
        seen += count
        if seen >= wanted:
            return value
    return len(histogram) - 1


def working_copy(image: Image.Image) -> Image.Image:
    """The greyscale copy measured, ``DRAFT_SIDE`` to ``WORK_SIDE`` on its long side (or the
    original's size, if smaller). ``image`` must not be loaded yet for a JPEG to be decoded
    at a reduced scale: libjpeg picks the largest of 1/2, 1/4, 1/8 that keeps the long
    side at least ``DRAFT_SIDE`` (a 12 MP photo at 1/8: 500 × 375, then 384 × 288)."""
    width, height = image.size
    scale = max(width, height) / DRAFT_SIDE
    if scale > 1 and image.format == "JPEG":
        image.draft("L", (max(1, int(width / scale)), max(1, int(height / scale))))
    grey = image.convert("L")
    if max(grey.size) > WORK_SIDE:
        factor = WORK_SIDE / max(grey.size)
        size = (max(1, round(grey.width * factor)), max(1, round(grey.height * factor)))
        grey = grey.resize(size, Image.Resampling.BOX)
    return grey


def assess(image: Image.Image) -> list[Problem]:
    """What makes this photo hard to read, if anything (in ``Problem``'s order)."""
    width, height = image.size
    found = {Problem.SMALL} if min(width, height) < SMALL_SIDE else set()
    grey = working_copy(image)
    total = grey.width * grey.height
    levels = grey.histogram()
    low, high = _percentile(levels, total, 0.01), _percentile(levels, total, 0.99)
    darkest = _percentile(levels, total, 0.002)
    if high < DARK_TOP:
        found.add(Problem.DARK)
    elif darkest > BRIGHT_BOTTOM:
        found.add(Problem.BRIGHT)
    spread = high - low
    if spread >= MIN_SPREAD and min(grey.size) >= 8:
        # The filters copy the outermost pixels as they are: they are left out.
        edges = grey.filter(_SMOOTH).filter(_LAPLACIAN) \
            .crop((2, 2, grey.width - 2, grey.height - 2)).histogram()
        inner = (grey.width - 4) * (grey.height - 4)
        magnitude = [0] * 129
        for value, count in enumerate(edges):
            magnitude[min(abs(value - 128), 128)] += count
        if _percentile(magnitude, inner, 0.995) < SHARPNESS * spread:
            found.add(Problem.BLURRED)
    return [problem for problem in Problem if problem in found]


def has_label(image: Image.Image) -> bool:
    """Whether the photo shows a box's label: a barcode of any kind on a small grey copy
    (a label carries several; the box's front or the phone carries none), else an IMEI
    barcode found the way the worker looks (``reading.read_barcodes``: turned copies for a
    label askew), for at most ``LABEL_SECONDS``."""
    grey = image.convert("L")
    small = grey.copy()
    if max(small.size) > LABEL_SIDE:
        small.thumbnail((LABEL_SIDE, LABEL_SIDE), Image.Resampling.BOX)
    if zxingcpp.read_barcodes(small):
        return True
    # why here: reading imports rendering, which imports storage, which imports this
    from support.documents import reading
    return bool(reading.read_barcodes(grey, time.monotonic() + LABEL_SECONDS))


def assess_file(source: bytes | Path, formats: list[str] | None = None, *,
                label: bool = False) -> list[Problem]:
    """``assess`` on an uploaded file (its bytes or its path); nothing if Pillow cannot
    read it (the format checks and the worker judge that, not this). With ``label`` (a box
    photo), a photo otherwise fine must show a barcode."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source,
                        formats=formats) as image:
            problems = assess(image)
        if label and not problems:
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source,
                            formats=formats) as image:
                image.draft("L", (LABEL_SIDE * 2, LABEL_SIDE * 2))  # a JPEG: decoded smaller
                if not has_label(image):
                    problems = [Problem.NO_LABEL]
        return problems
    except Exception:  # noqa: BLE001 - advice only: a photo it cannot judge goes as it is
        return []
