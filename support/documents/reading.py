"""What a document says, read by the machine for the reviewer: IMEIs in barcodes, and the
model, the purchase date, printed IMEIs and the shop in a receipt's text (issue 26).

Pure functions of a picture: no database, no web. The worker calls them on a document
already made safe (``filing``); what they find is shown beside the application's facts,
and never decides anything by itself.

- Barcodes: zxing-cpp (Code 128, EAN-13, QR, Data Matrix) on a grey copy of the picture,
  and when that gives no IMEI, on copies turned by ``TURNS`` degrees, then on a smaller copy
  with its contrast stretched. An IMEI is 15 digits whose last is the Luhn digit of the
  other 14, alone in the symbol or after "IMEI"; an EAN or a serial number is not one.
- Text: Tesseract (through pytesseract, a child process killed when ``seconds`` are up)
  with the English, Hindi, Marathi and Russian data that are installed, on a grey copy of at
  most ``OCR_PIXELS`` with its shading flattened. A box photo's text is read only when its
  barcodes gave no IMEI, and gives only IMEIs and models (its header is not a shop).
- Found once each (fact and value), barcodes before text; ``where`` says where for the
  reviewer ("Code 128 barcode", "printed text, line 7").

Bounded: a picture is scaled down before anything reads it, and nothing here raises on a
bad, odd or huge picture: it finds nothing. What is read is personal data: it is returned
to the caller, never logged.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import subprocess
import sys
import time
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import pytesseract
import zxingcpp
from PIL import Image, ImageChops, ImageFilter, ImageOps

from support.documents import rendering
from support.rules import catalogue
from support.rules.validation import luhn_ok

BARCODE_PIXELS = 8_000_000  # a 12 MP phone photo is read at this size: labels stay sharp
TURNS = (0, 6, -6, 12, -12)  # degrees: a label photographed askew, read upright
SMALL_PIXELS = 1_000_000  # the last try: a grey, contrast-stretched copy this small
OCR_PIXELS = 2_500_000  # Tesseract's picture: a receipt's small print still 20-30 px high
OPEN_PIXELS = 80_000_000  # a file bigger than this is not decoded at all
LANGUAGES = ("eng", "hin", "mar", "rus")
BOX_PURPOSE = "box_photo"
FORMATS = zxingcpp.BarcodeFormats((zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.EAN13,
                                   zxingcpp.BarcodeFormat.QRCode,
                                   zxingcpp.BarcodeFormat.DataMatrix))
IMAGE_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG"}
# A PDF's first page is drawn as the viewer draws it (``rendering``): PDFium in a child
# process under memory and CPU limits, killed when its time is up.
PDF_TYPE = "application/pdf"
_PDF_SCRIPT = str(Path(__file__).resolve().with_name("pdf_pages.py"))


# Tesseract's OpenMP threads spin against each other and against the web on two cores: one
# thread a reading is faster in total (a receipt in 0.5 s instead of 2-4 s of CPU). Read by
# each Tesseract process this one starts; set here, as this module is the worker's alone.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")


@dataclass(frozen=True)
class Found:
    fact: str  # "imei", "model", "purchase_date", "shop"
    value: str
    source: str  # "barcode" or "text"
    where: str  # words for the reviewer: "Code 128 barcode", "printed text, line 3"


# --- IMEIs -------------------------------------------------------------------------------

def is_imei(digits: str) -> bool:
    return len(digits) == 15 and digits.isascii() and digits.isdigit() and luhn_ok(digits)


_BARCODE_IMEI = re.compile(r"(?:IMEI\s*\d?\s*[:#]?\s*)?(\d{15})", re.IGNORECASE)


def imei_in_barcode(text: str) -> str | None:
    """The IMEI a symbol holds: "86…", "IMEI 86…", "IMEI1:86…"; anything else is not one."""
    match = _BARCODE_IMEI.fullmatch(text.strip())
    if match and is_imei(match.group(1)):
        return match.group(1)
    return None


# Digits with at most one space or dash between them: "86 543210 987654 7", "86543210-…".
_DIGIT_RUN = re.compile(r"(?<![\d])\d(?:[ \-]?\d)+(?![\d])")


def imeis_in_line(line: str) -> list[str]:
    found = []
    for match in _DIGIT_RUN.finditer(line):
        digits = re.sub(r"\D", "", match.group())
        if is_imei(digits):
            found.append(digits)
        elif len(digits) > 15:  # two numbers run together: try each 15-digit window on a gap
            for part in re.split(r"[ \-]", match.group()):
                if is_imei(part):
                    found.append(part)
    return found


# --- models ------------------------------------------------------------------------------

def _squash(text: str) -> str:
    return re.sub(r"[^0-9a-z+]", "", text.casefold())


@lru_cache(maxsize=1)
def _models() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each catalogue name as a pattern forgiving case and spacing ("REDMI NOTE10  PRO"),
    longest first so that "Redmi Note 10 Pro" wins over "Redmi Note 10"."""
    patterns = []
    for device in catalogue.devices():
        parts = _split_name(device.name)
        body = _loose(parts[0], first=True) + "".join(
            _loose(part, after_number=before.isdigit())
            for before, part in zip(parts, parts[1:], strict=False))
        patterns.append((device.name, re.compile(rf"(?<![0-9a-z]){body}(?![0-9a-z+])",
                                                  re.IGNORECASE)))
    return tuple(sorted(patterns, key=lambda item: -len(_squash(item[0]))))


# Letters Tesseract reads as a digit or a mark: "M! 6" for "Mi 6", "Note 105" for "10S".
_MISREAD = {"i": "i1l!|", "l": "l1i|", "o": "o0", "s": "s5", "z": "z2"}


def _loose(part: str, *, first: bool = False, after_number: bool = False) -> str:
    """A name's part as a pattern: any spacing before it, its letters as they are misread.
    A letter after a number is misread only stuck to it ("105"): "Note 10 5G" is not 10S."""
    space = "" if first else r"\s*"
    if not part.isalpha():
        return space + re.escape(part)
    loose = "".join(f"[{re.escape(_MISREAD[char])}]" if char in _MISREAD else re.escape(char)
                    for char in part.lower())
    if after_number:
        return rf"(?:\s*{re.escape(part)}|{loose})"
    return space + loose


def _split_name(name: str) -> list[str]:
    """"Redmi Note 10S" → Redmi, Note, 10, S: spacing may differ between any of them."""
    return re.findall(r"[A-Za-z]+|\d+|\+", name)


# Letters Tesseract may read as Cyrillic when Russian is among its languages: "Mi 9Т".
_LOOK_ALIKES = str.maketrans("АВЕКМНОРСТХІаеорсхуі", "ABEKMHOPCTXIaeopcxyi")


def models_in_line(line: str) -> list[str]:
    line = line.translate(_LOOK_ALIKES)
    found: list[str] = []
    taken: list[tuple[int, int]] = []
    for name, pattern in _models():
        for match in pattern.finditer(line):
            span = match.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue  # inside a longer name already found
            taken.append(span)
            if name not in found:
                found.append(name)
    return found


# --- dates -------------------------------------------------------------------------------

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate([
    "january jan янв января январь जनवरी जानेवारी",
    "february feb фев февраля февраль फ़रवरी फरवरी फेब्रुवारी",
    "march mar мар марта март मार्च",
    "april apr апр апреля апрель अप्रैल एप्रिल",
    "may мая май मई मे",
    "june jun июн июня июнь जून",
    "july jul июл июля июль जुलाई जुलै",
    "august aug авг августа август अगस्त ऑगस्ट",
    "september sep sept сен сент сентября сентябрь सितंबर सितम्बर सप्टेंबर",
    "october oct окт октября октябрь अक्टूबर ऑक्टोबर",
    "november nov ноя нояб ноября ноябрь नवंबर नवम्बर नोव्हेंबर",
    "december dec дек декабря декабрь दिसंबर दिसम्बर डिसेंबर",
], start=1):
    for _name in _names.split():
        _MONTHS[unicodedata.normalize("NFC", _name)] = _number

_DEVANAGARI_DIGITS = str.maketrans("०१२३४५६७८९", "0123456789")
_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?!\d)"
                           r"|(?<!\d)(\d{1,2})\s?[-./]\s?(\d{1,2})\s?[-./]\s?(\d{4})(?!\d)")
# A month's name: letters with their marks (a Devanagari vowel sign is not a \w character).
_WORD_DATE = re.compile(r"(?<!\d)(\d{1,2})\s*([^\s\d,./:;-]+)\.?,?\s*(\d{4})(?!\d)")
_DATE_WORDS = re.compile(r"date|dated|bill|invoice|दिनांक|तारीख|दि\.|дата|от\b", re.IGNORECASE)
_LATER_WORDS = re.compile(r"warranty|valid|until|expir|वारंटी|гаранти|до\b", re.IGNORECASE)


def _iso(year: int, month: int, day: int) -> str | None:
    if not 2000 <= year <= 2100:
        return None
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def dates_in_line(line: str) -> list[str]:
    line = unicodedata.normalize("NFC", line).translate(_DEVANAGARI_DIGITS)
    found = []
    for match in _NUMERIC_DATE.finditer(line):
        if match.group(1):
            value = _iso(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        else:  # day first, as receipts in India and Russia print it
            value = _iso(int(match.group(6)), int(match.group(5)), int(match.group(4)))
        if value:
            found.append(value)
    for match in _WORD_DATE.finditer(line):
        month = _MONTHS.get(match.group(2).rstrip(".").casefold())
        if month:
            value = _iso(int(match.group(3)), month, int(match.group(1)))
            if value:
                found.append(value)
    return found


# --- the shop ----------------------------------------------------------------------------

SHOP_LINES = 6  # the shop's name is among a receipt's first lines


def _letters(text: str) -> int:
    """Letters, with their marks: a Devanagari vowel sign is not ``isalpha``."""
    return sum(char.isalpha() or unicodedata.category(char).startswith("M") for char in text)


def shop_in_lines(lines: list[str], heights: list[float] | None = None) -> tuple[str, int] | None:
    """A receipt's header is the shop's name: among its first lines that read as words (a
    word of three letters, more letters than anything else, no year or phone number), the
    first printed larger than the body when the heights are known, else the first."""
    candidates = []
    for number, line in enumerate(lines[:SHOP_LINES], start=1):
        text = " ".join(line.split()).strip(" -_=*|:.,;'`\"\\/")
        if _letters(text) * 2 > len(text.replace(" ", "")) and not re.search(r"\d{4}", text) \
                and any(_letters(word) >= 3 for word in text.split()):
            candidates.append((text[:120], number))
    if not candidates:
        return None
    if heights:
        body = sorted(heights)[len(heights) // 2]
        for text, number in candidates:
            if heights[number - 1] >= 1.25 * body:
                return text, number
    return candidates[0]


# --- reading -----------------------------------------------------------------------------

def _scaled(image: Image.Image, pixels: int) -> Image.Image:
    width, height = image.size
    if width * height <= pixels:
        return image
    ratio = math.sqrt(pixels / (width * height))
    return image.resize((max(1, int(width * ratio)), max(1, int(height * ratio))),
                        Image.Resampling.BILINEAR)


def _grey(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    return image.convert("L")


def _where(barcode: zxingcpp.Barcode) -> str:
    name = str(barcode.format)
    return {"QRCode": "QR code", "QR Code": "QR code", "DataMatrix": "Data Matrix code"}.get(
        name, f"{name} barcode")


def read_barcodes(image: Image.Image, deadline: float) -> list[Found]:
    """The IMEIs in the picture's barcodes. zxing-cpp turns a picture by quarter turns only,
    and a linear code photographed askew is crossed by too short a scan line: when the
    picture itself gives no IMEI, copies turned by ``TURNS`` degrees are tried, then a small
    grey copy with its contrast stretched, while time is left."""
    grey = _grey(_scaled(image, BARCODE_PIXELS))
    found: list[Found] = []
    for attempt in range(len(TURNS) + 1):
        if attempt and time.monotonic() > deadline:
            break
        if attempt < len(TURNS):
            turn = TURNS[attempt]
            picture = grey.rotate(turn, expand=True, fillcolor=255,
                                  resample=Image.Resampling.BILINEAR) if turn else grey
        else:
            picture = ImageOps.autocontrast(_scaled(grey, SMALL_PIXELS), cutoff=1)
        for barcode in zxingcpp.read_barcodes(picture, formats=FORMATS):
            imei = imei_in_barcode(barcode.text)
            if imei:
                found.append(Found("imei", imei, "barcode", _where(barcode)))
        if found:
            break
    return found


def ocr_languages() -> str:
    installed = _installed()
    return "+".join(lang for lang in LANGUAGES if lang in installed) or "eng"


@lru_cache(maxsize=1)
def _installed() -> frozenset[str]:
    try:
        return frozenset(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractError, pytesseract.TesseractNotFoundError, OSError,
            RuntimeError):
        return frozenset()


def read_text(image: Image.Image, seconds: float) -> list[Found]:
    """Tesseract's reading of the picture, then the facts in its lines. A timeout or a
    Tesseract failure finds nothing."""
    if seconds <= 0:
        return []
    picture = _flattened(_grey(_scaled(image, OCR_PIXELS)))
    try:
        data = pytesseract.image_to_data(picture, lang=ocr_languages(), timeout=seconds,
                                         config="--psm 4", output_type=pytesseract.Output.DICT)
    except (RuntimeError, pytesseract.TesseractError, pytesseract.TesseractNotFoundError,
            OSError, ValueError):
        return []
    lines, heights = _lines(data)
    return facts_in_text("\n".join(lines), heights)


def _flattened(grey: Image.Image) -> Image.Image:
    """The paper made evenly white: its background subtracted, so a shadow across a receipt
    is not read as ink by Tesseract's one global threshold. The background is the picture at
    a quarter of its size closed (lightest then darkest of 7×7: the text goes, the edge of
    the paper stays where it is, so the table beside it is blanked too and no dark band
    along the edge is read as a tall "word" swallowing the first words of its lines)."""
    if min(grey.size) < 64:
        return grey
    background = grey.reduce(4).filter(ImageFilter.MaxFilter(7)).filter(ImageFilter.MinFilter(7))
    background = background.resize(grey.size, Image.Resampling.BILINEAR)
    return ImageOps.autocontrast(ImageOps.invert(ImageChops.subtract(background, grey)),
                                 cutoff=1)


def _lines(data: dict[str, list[object]]) -> tuple[list[str], list[float]]:
    """Tesseract's words put back in their lines, with each line's height (its tallest
    word's): the shop's name is printed larger than the rest. A "word" many times taller
    than the words around is not one (the edge of the paper, a shadow) and is left out."""
    words: list[tuple[tuple[object, object, object], str, int]] = []
    for index, word in enumerate(data.get("text", [])):
        text, height = str(word).strip(), data["height"][index]
        if text and isinstance(height, int):
            key = (data["block_num"][index], data["par_num"][index], data["line_num"][index])
            words.append((key, text, height))
    if not words:
        return [], []
    heights = sorted(height for _, _, height in words)
    tallest = 4 * heights[len(heights) // 2]
    lines: dict[tuple[object, object, object], tuple[list[str], list[int]]] = {}
    for key, text, height in words:
        if height <= tallest:
            line_words, line_heights = lines.setdefault(key, ([], []))
            line_words.append(text)
            line_heights.append(height)
    return ([" ".join(line_words) for line_words, _ in lines.values()],
            [float(max(line_heights)) for _, line_heights in lines.values()])


def facts_in_text(text: str, heights: list[float] | None = None) -> list[Found]:
    """The facts in a document's text; ``heights``, when known, one a line."""
    lines = [line for line in text.splitlines() if line.strip()]
    found: list[Found] = []
    shop = shop_in_lines(lines, heights if heights and len(heights) == len(lines) else None)
    if shop:
        found.append(Found("shop", shop[0], "text", f"printed text, line {shop[1]}"))
    dates: list[tuple[int, int, str]] = []  # (rank, line, value): a "Date:" line first
    for number, line in enumerate(lines, start=1):
        where = f"printed text, line {number}"
        for imei in imeis_in_line(line.translate(_DEVANAGARI_DIGITS)):
            found.append(Found("imei", imei, "text", where))
        for model in models_in_line(line):
            found.append(Found("model", model, "text", where))
        for value in dates_in_line(line):
            rank = 0 if _DATE_WORDS.search(line) else 2 if _LATER_WORDS.search(line) else 1
            dates.append((rank, number, value))
    if dates:
        _, number, value = min(dates)
        found.append(Found("purchase_date", value, "text", f"printed text, line {number}"))
    return found


def _unique(found: list[Found]) -> list[Found]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for item in found:
        if (item.fact, item.value) not in seen:
            seen.add((item.fact, item.value))
            kept.append(item)
    return kept


def read_image(image: Image.Image, *, purpose: str, seconds: float = 15.0) -> list[Found]:
    """Everything found in the picture, barcodes first; [] when nothing can be read."""
    started = time.monotonic()
    try:
        image.load()
        if image.width < 8 or image.height < 8 or image.width * image.height > OPEN_PIXELS:
            return []
        found = read_barcodes(image, started + seconds)
        if purpose == BOX_PURPOSE and any(item.fact == "imei" for item in found):
            return _unique(found)
        left = seconds - (time.monotonic() - started)
        found += read_text(image, left)
        if purpose == BOX_PURPOSE:  # a label's header is not a shop, nor its dates a purchase
            found = [item for item in found if item.fact in ("imei", "model")]
        return _unique(found)
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, RuntimeError,
            Image.DecompressionBombError):
        return []


def read_file(path: Path, content_type: str, *, purpose: str,
              seconds: float = 15.0) -> list[Found]:
    """A safe document's file: a JPEG or PNG, or a PDF's first page; [] for anything else."""
    try:
        if content_type == PDF_TYPE:
            return _read_pdf(path, purpose, seconds)
        if content_type not in IMAGE_TYPES:
            return []
        with warnings.catch_warnings():
            # Its size is checked here, below Pillow's own bomb limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path, formats=[IMAGE_TYPES[content_type]])
        with image:
            if image.width * image.height > OPEN_PIXELS:
                return []
            if content_type == "image/jpeg":  # decoded at 1/2 to 1/8 when that is enough
                image.draft("RGB", _draft_size(image.size))
            upright: Image.Image = image
            with contextlib.suppress(AttributeError, KeyError, TypeError):
                upright = ImageOps.exif_transpose(image) or image  # a phone's photo on its side
            return read_image(upright, purpose=purpose, seconds=seconds)
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, RuntimeError,
            Image.DecompressionBombError):
        return []


def _draft_size(size: tuple[int, int]) -> tuple[int, int]:
    """The smallest size a JPEG may be decoded at and still hold ``BARCODE_PIXELS``."""
    width, height = size
    ratio = min(1.0, math.sqrt(BARCODE_PIXELS / max(1, width * height)))
    return max(1, int(width * ratio)), max(1, int(height * ratio))


def _read_pdf(path: Path, purpose: str, seconds: float) -> list[Found]:
    started = time.monotonic()
    limit = min(rendering.RENDER_SECONDS, seconds)
    try:
        done = subprocess.run(  # noqa: S603 - our own script on our own file, no shell
            [sys.executable, "-I", _PDF_SCRIPT, str(path), "1", str(rendering.PAGE_PIXELS), "0",
             str(rendering.PAGE_QUALITY)],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=limit, check=False)
    except (subprocess.TimeoutExpired, OSError):
        return []
    head, _, data = done.stdout.partition(b"\n")
    if done.returncode != 0 or not head.isdigit() or not data:
        return []
    with Image.open(io.BytesIO(data), formats=["JPEG"]) as page:
        left = seconds - (time.monotonic() - started)
        return read_image(page, purpose=purpose, seconds=left)
