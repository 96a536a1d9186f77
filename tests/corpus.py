"""Documents made in code for the reading engine (``support/documents/reading.py``), each
with the facts it carries: box labels photographed on a table, and receipts printed in
Latin, Devanagari and Cyrillic.

Nothing here is random between runs: every sample comes from ``random.Random(seed)``, so a
failure is the same failure on the next run. Fonts are Debian's Noto (``fonts-noto-core``);
barcodes are drawn by zxing-cpp, the library that reads them back, from the symbol it
encodes (the reader gets no help from that: it sees only the photo's pixels).

- ``box_labels``: a white label with the model, a Code 128 barcode per IMEI (some labels
  carry the IMEI as a QR code or a Data Matrix instead), the product's EAN-13 and a serial
  number's Code 128 (neither is an IMEI), pasted on a cluttered background, rotated up to
  15°, some blurred slightly, JPEG-compressed.
- ``receipts``: a shop's receipt with its name on top, a catalogue model, the purchase date
  in one of the forms shops print (some with a warranty's later date below), and the IMEI
  as text; a third each in English, Hindi or Marathi (Devanagari, some with Devanagari
  digits) and Russian; photographed on a table in a 2 MP frame, up to 4° askew.

Every photo is lit unevenly (a corner up to 40% darker) and JPEG-compressed.
"""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import zxingcpp
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from support.rules import catalogue
from tests.fuzz_inputs import luhn_digit

NOTO = Path("/usr/share/fonts/truetype/noto")
LATIN, LATIN_BOLD = NOTO / "NotoSans-Regular.ttf", NOTO / "NotoSans-Bold.ttf"
DEVANAGARI = NOTO / "NotoSansDevanagari-Regular.ttf"
DEVANAGARI_BOLD = NOTO / "NotoSansDevanagari-Bold.ttf"
SEED = 26

ENGLISH_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December"]
HINDI_MONTHS = ["जनवरी", "फ़रवरी", "मार्च", "अप्रैल", "मई", "जून", "जुलाई", "अगस्त", "सितंबर",
                "अक्टूबर", "नवंबर", "दिसंबर"]
RUSSIAN_MONTHS = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
                  "сентября", "октября", "ноября", "декабря"]
DEVANAGARI_DIGITS = str.maketrans("0123456789", "०१२३४५६७८९")


@dataclass(frozen=True)
class Sample:
    name: str
    image: Image.Image
    script: str  # "label", "latin", "devanagari" or "cyrillic"
    imeis: frozenset[str]  # every IMEI the document carries
    barcode_imeis: frozenset[str]  # those carried by a barcode
    model: str | None
    date: str | None  # ISO
    shop: str | None


def new_imei(rng: random.Random) -> str:
    body = rng.choice(["86", "35", "86", "35", "01"]) + "".join(
        rng.choice("0123456789") for _ in range(12))
    return body + luhn_digit(body)


def ean13(rng: random.Random) -> str:
    body = "69" + "".join(rng.choice("0123456789") for _ in range(10))
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


@lru_cache(maxsize=64)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def _symbol(content: str, kind: str, scale: int, tall: int = 5) -> Image.Image:
    """The barcode as a Pillow image (black on white, quiet zone included); a linear one's
    bars ``1/tall`` of its width high."""
    barcode = zxingcpp.create_barcode(content, getattr(zxingcpp.BarcodeFormat, kind))
    drawn = barcode.to_image(scale=scale)
    height, width = drawn.shape[:2]
    image = Image.frombytes("L", (width, height), bytes(memoryview(drawn)))
    if kind in ("Code128", "EAN13"):
        image = image.resize((width, max(width // tall, 40)))
    return image


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    out.seek(0)
    decoded = Image.open(out)
    decoded.load()
    return decoded


def _clutter(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A table top with things on it, out of focus: shapes, lines and a few stray words
    (drawn at a quarter of the size and enlarged, which blurs it cheaply)."""
    width, height = size[0] // 4, size[1] // 4
    base = tuple(rng.randint(60, 200) for _ in range(3))
    canvas = Image.new("RGB", (width, height), base)  # type: ignore[arg-type]
    draw = ImageDraw.Draw(canvas)
    for _ in range(40):
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        x, y = rng.randint(-25, width), rng.randint(-25, height)
        w, h = rng.randint(5, 100), rng.randint(5, 100)
        shape = rng.choice(["rect", "ellipse", "line"])
        if shape == "rect":
            draw.rectangle((x, y, x + w, y + h), fill=colour)  # type: ignore[arg-type]
        elif shape == "ellipse":
            draw.ellipse((x, y, x + w, y + h), fill=colour)  # type: ignore[arg-type]
        else:
            draw.line((x, y, x + w, y + h), fill=colour, width=rng.randint(1, 3))  # type: ignore[arg-type]
    canvas = canvas.resize(size, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(canvas)
    for word in ("charger", "warranty", "scan me", "1234 5678"):
        draw.text((rng.randint(0, size[0] - 200), rng.randint(0, size[1] - 40)), word,
                  fill=(0, 0, 0), font=_font(LATIN, 28))
    return canvas


def _lighting(rng: random.Random, image: Image.Image) -> Image.Image:
    """A lamp off to one side: the far corner of the photo up to 40% darker."""
    shade = Image.linear_gradient("L").rotate(rng.uniform(0, 360), fillcolor=255)
    low = rng.randint(150, 230)
    shade = shade.point(lambda v: low + (255 - low) * v // 255).resize(image.size)
    return ImageChops.multiply(image, shade.convert(image.mode))


def _label(rng: random.Random, index: int) -> tuple[Image.Image, set[str], set[str], str]:
    """The label alone: its picture, its IMEIs, those in barcodes, its model."""
    model = rng.choice(catalogue.devices()).name
    imeis = [new_imei(rng)] + ([new_imei(rng)] if rng.random() < 0.4 else [])
    form = ["Code128"] * 6 + ["QRCode", "DataMatrix"]
    kind = form[index % len(form)]
    label = Image.new("L", (760, 200 + 190 * len(imeis) + 160), 255)
    draw = ImageDraw.Draw(label)
    draw.text((30, 20), model, fill=0, font=_font(LATIN_BOLD, 44))
    draw.text((30, 85), f"Model: M{rng.randint(2001, 2312)}J{rng.randint(1, 22)}G  "
                        f"Colour: {rng.choice(['Black', 'Blue', 'Green', 'White'])}",
              fill=0, font=_font(LATIN, 24))
    y = 140
    scale = 2
    for number, imei in enumerate(imeis, start=1):
        draw.text((30, y), f"IMEI{number}: {imei}", fill=0, font=_font(LATIN, 26))
        if kind == "Code128":
            content = imei
        else:
            content = rng.choice([imei, f"IMEI {imei}", f"IMEI{number}:{imei}"])
        symbol = _symbol(content, kind, scale if kind == "Code128" else 4, rng.choice([5, 6, 8]))
        label.paste(symbol, (30, y + 36))
        y += 40 + symbol.height + 20
    serial = f"SN:{rng.randint(10000, 99999)}/{rng.choice('ABCDEFGH')}{rng.randint(1000, 9999)}"
    draw.text((30, y), serial, fill=0, font=_font(LATIN, 22))
    label.paste(_symbol(serial, "Code128", 2), (30, y + 30))
    ean = ean13(rng)
    label.paste(_symbol(ean, "EAN13", 2), (440, y + 30))
    label = label.crop((0, 0, 760, min(label.height, y + 170)))
    return label, set(imeis), set(imeis), model


def box_labels(count: int = 40, seed: int = SEED) -> list[Sample]:
    rng = random.Random(seed)
    samples = []
    for index in range(count):
        label, imeis, coded, model = _label(rng, index)
        canvas = _clutter(rng, (1600, 1200))
        zoom = rng.uniform(0.8, 1.3)
        label = label.resize((int(label.width * zoom), int(label.height * zoom)),
                             Image.Resampling.BICUBIC)
        if rng.random() < 0.4:
            label = label.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.2)))
        angle = rng.uniform(-15, 15)
        rgba = label.convert("RGBA").rotate(angle, expand=True,
                                            resample=Image.Resampling.BICUBIC)
        x = rng.randint(0, max(0, canvas.width - rgba.width))
        y = rng.randint(0, max(0, canvas.height - rgba.height))
        canvas.paste(rgba, (x, y), rgba)
        photo = _jpeg(_lighting(rng, canvas), rng.randint(50, 88))
        samples.append(Sample(f"label-{index:02d}", photo, "label", frozenset(imeis),
                              frozenset(coded), model, None, None))
    return samples


# --- receipts ---------------------------------------------------------------------------

SHOPS = {
    "latin": ["City Mobiles", "Metro Phone House", "Sharma Electronics", "Galaxy Telecom",
              "Bright Star Mobile Store"],
    "devanagari": ["शर्मा मोबाइल", "गणेश इलेक्ट्रॉनिक्स", "साई मोबाईल केंद्र", "श्री बालाजी टेलीकॉम"],
    "cyrillic": ["Мобильный Мир", "Связной Плюс", "ТехноТочка", "Салон Связи Альфа"],
}
WORDS = {
    "latin": {"invoice": "TAX INVOICE", "date": "Date", "item": "Item", "total": "Total",
              "thanks": "Thank you for shopping with us", "address": "12 MG Road, Pune 411001",
              "paid": "Paid by card", "warranty": "Warranty until"},
    "devanagari": {"invoice": "कर बीजक", "date": "दिनांक", "item": "सामान", "total": "कुल",
                   "thanks": "खरीदारी के लिए धन्यवाद", "address": "१२ एम जी रोड, पुणे",
                   "paid": "नकद भुगतान", "warranty": "वारंटी"},
    "cyrillic": {"invoice": "КАССОВЫЙ ЧЕК", "date": "Дата", "item": "Товар", "total": "Итого",
                 "thanks": "Спасибо за покупку", "address": "ул. Ленина, д. 12, Москва",
                 "paid": "Оплата картой", "warranty": "Гарантия до"},
}


def _date_text(rng: random.Random, script: str, year: int, month: int, day: int) -> str:
    forms = {
        "latin": [f"{year}-{month:02d}-{day:02d}", f"{day:02d}/{month:02d}/{year}",
                  f"{day:02d}.{month:02d}.{year}", f"{day} {ENGLISH_MONTHS[month - 1]} {year}",
                  f"{day} {ENGLISH_MONTHS[month - 1][:3]} {year}"],
        "devanagari": [f"{day:02d}/{month:02d}/{year}".translate(DEVANAGARI_DIGITS),
                       f"{day} {HINDI_MONTHS[month - 1]} {year}".translate(DEVANAGARI_DIGITS),
                       f"{day:02d}-{month:02d}-{year}", f"{day:02d}/{month:02d}/{year}"],
        "cyrillic": [f"{day:02d}.{month:02d}.{year}", f"{day} {RUSSIAN_MONTHS[month - 1]} {year} г.",
                     f"{day:02d}.{month:02d}.{year} г."],
    }
    return rng.choice(forms[script])


def _imei_text(rng: random.Random, imei: str) -> str:
    return rng.choice([imei, imei, f"{imei[:2]} {imei[2:8]} {imei[8:14]} {imei[14]}",
                       f"{imei[:8]}-{imei[8:14]}-{imei[14]}"])


_DEVANAGARI_RUN = re.compile(r"([\u0900-\u097f][\u0900-\u097f ,.:]*)")


def _mixed(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str,
           face: ImageFont.FreeTypeFont, fill: int) -> None:
    """A line in Noto Sans, its Devanagari runs in Noto Sans Devanagari (which has no
    Latin letters): a Hindi receipt names the phone in Latin letters."""
    x, y = xy
    latin = _font(LATIN_BOLD if "Bold" in str(face.path) else LATIN, int(face.size))
    for run in _DEVANAGARI_RUN.split(text):
        if not run:
            continue
        use = face if _DEVANAGARI_RUN.fullmatch(run) else latin
        draw.text((x, y), run, fill=fill, font=use)
        x += int(draw.textlength(run, font=use))


def _receipt(rng: random.Random, index: int, script: str) -> Sample:
    words = WORDS[script]
    shop = rng.choice(SHOPS[script])
    model = rng.choice(catalogue.devices()).name
    imei = new_imei(rng)
    year, month, day = rng.choice([2025, 2026]), rng.randint(1, 12), rng.randint(1, 28)
    regular = DEVANAGARI if script == "devanagari" else LATIN
    bold = DEVANAGARI_BOLD if script == "devanagari" else LATIN_BOLD
    # Photographed on a table: the paper fills most of a 2 MP frame, a little askew. It is
    # drawn at the size the photo shows it (text 24-32 px high), not drawn and then shrunk.
    zoom = rng.uniform(0.80, 0.88)
    size = int(rng.randint(30, 36) * zoom)
    font, big = _font(regular, size), _font(bold, int(size * 1.5))
    shown_model = rng.choice([model, model.upper(), model.replace(" ", "  "),
                              "Xiaomi " + model if not model.startswith("Xiaomi") else model])
    price = f"{rng.randint(9, 60)},{rng.randint(100, 999)}.00"
    lines: list[tuple[str, ImageFont.FreeTypeFont]] = [
        (shop, big), (words["address"], font), ("", font), (words["invoice"], font),
        (f"{words['date']}: {_date_text(rng, script, year, month, day)}", font),
        (f"No. {rng.randint(1000, 99999)}", font), ("-" * 34, font),
        (f"{words['item']}: {shown_model}", font),
        (f"  {rng.choice(['4/64GB', '6/128GB', '8/256GB'])}   1 x {price}", font),
        (f"IMEI: {_imei_text(rng, imei)}", font),
        *([(f"{words['warranty']}: {_date_text(rng, script, year + 1, month, day)}", font)]
          if rng.random() < 0.4 else []),
        ("-" * 34, font),
        (f"{words['total']}: {price}", font), (words["paid"], font), ("", font),
        (words["thanks"], font),
    ]
    paper = Image.new("L", (int(1100 * zoom), int(1800 * zoom)), rng.randint(235, 255))
    draw = ImageDraw.Draw(paper)
    y = int(90 * zoom)
    for text, face in lines:
        _mixed(draw, (int(70 * zoom), y), text, face, rng.randint(0, 50))
        y += int(face.size * 1.7)
    canvas = _clutter(rng, (1250, 1650))
    if rng.random() < 0.5:
        paper = paper.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    angle = rng.uniform(-4, 4)
    mask = Image.new("L", paper.size, 255).rotate(angle, expand=True)
    paper = paper.rotate(angle, expand=True, resample=Image.Resampling.BILINEAR)
    canvas.paste(paper.convert("RGB"), ((canvas.width - paper.width) // 2 + rng.randint(-30, 30),
                                        (canvas.height - paper.height) // 2
                                        + rng.randint(-30, 30)), mask)
    photo = _jpeg(_lighting(rng, canvas), rng.randint(60, 90))
    return Sample(f"receipt-{script}-{index:02d}", photo, script, frozenset({imei}),
                  frozenset(), model, f"{year}-{month:02d}-{day:02d}", shop)


def receipts(count: int = 30, seed: int = SEED) -> list[Sample]:
    rng = random.Random(seed + 1)
    scripts = ("latin", "devanagari", "cyrillic")
    return [_receipt(rng, index, scripts[index % 3]) for index in range(count)]
