"""A corpus of photos of paper, generated in code with a seeded RNG (issue 26): good ones
an applicant could send, and poor ones the upload should catch.

Good: receipts (rows of printed words, a total, a shop's name), box labels (a white sticker
with barcode bars and digits) and documents, on a table of any colour, under light from dim
to bright with its gradient, at every contrast print comes in, with a little sensor noise
and now and then a slight softness, 1 to 12 MP, JPEG at a phone's qualities.

Poor: dark (the scene at an eighth to a quarter of its light, noisier), washed out (glare:
the print faded into white), blurred (a Gaussian blur whose radius is 1.2 to 3% of the
photo's short side: letters run into each other), and tiny (a short side of 160 to 460
pixels).

The scenes are drawn at about 1200 pixels on their long side and scaled to the photo's
size, so 160 photos are made in seconds; ``good()`` and ``poor()`` are cached.
"""

from __future__ import annotations

import io
import math
import random
import string
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

SEED = 26
GOOD_COUNT = 110
POOR_EACH = 18  # of each problem: 72 poor photos
PROBLEMS = ("dark", "bright", "blurred", "small")
DRAW_SIDE = 1200
WORDS = ("TOTAL", "GST", "QTY", "Redmi", "Note", "10", "Pro", "Xiaomi", "Mi", "Store",
         "INVOICE", "Cash", "Card", "IMEI", "Date", "Rs.", "8GB", "128GB", "Black", "Tax")


@dataclass(frozen=True)
class Photo:
    name: str  # what it shows and what was done to it, for a failure's message
    expected: str  # "good", or the problem it has (quality.Problem's value)
    data: bytes  # the JPEG
    size: tuple[int, int]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _background(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A table under uneven light: a few colours smoothly spread."""
    base = rng.choice([(120, 85, 55), (200, 190, 175), (60, 60, 65), (150, 150, 150),
                       (90, 110, 140), (220, 215, 205), (40, 30, 25), (170, 120, 80)])
    tiny = Image.new("RGB", (3, 3))
    tiny.putdata([tuple(max(0, min(255, c + rng.randint(-30, 30))) for c in base)
                  for _ in range(9)])
    return tiny.resize(size, Image.Resampling.BICUBIC)


def _receipt(rng: random.Random, draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int],
             ink: tuple[int, int, int]) -> None:
    left, top, right, bottom = box
    line = max(10, (bottom - top) // rng.randint(18, 34))
    font, big = _font(int(line * 0.7)), _font(int(line * 1.1))
    y = top + line
    draw.text((left + line, y), rng.choice(["Mi Store", "Croma", "Reliance Digital",
                                            "Poorvika", "DNS"]), fill=ink, font=big)
    y += int(line * 1.8)
    while y < bottom - 2 * line:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
        price = f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}"
        draw.text((left + line, y), words, fill=ink, font=font)
        draw.text((right - line * (len(price) // 2 + 2), y), price, fill=ink, font=font)
        y += line


def _label(rng: random.Random, draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int],
           ink: tuple[int, int, int]) -> None:
    left, top, right, bottom = box
    height = bottom - top
    x = left + height // 10
    rows = rng.randint(2, 3)
    row_height = height // (rows + 1)
    for row in range(rows):
        y = top + height // 12 + row * (row_height + height // 12)
        x = left + height // 10
        while x < right - height // 10:
            bar = rng.choice([1, 1, 2, 3]) * max(1, height // 120)
            draw.rectangle((x, y, x + bar - 1, y + row_height * 2 // 3), fill=ink)
            x += bar + rng.choice([1, 2, 3]) * max(1, height // 120)
        digits = "".join(rng.choice(string.digits) for _ in range(15))
        draw.text((left + height // 10, y + row_height * 2 // 3 + 2), "IMEI " + digits,
                  fill=ink, font=_font(row_height // 4))


def _scene(rng: random.Random) -> Image.Image:
    """A receipt, a label or a page on a table, drawn at ``DRAW_SIDE``."""
    landscape = rng.random() < 0.4
    ratio = rng.choice([4 / 3, 16 / 9, 3 / 2, 1.0])
    long_side, short_side = DRAW_SIDE, int(DRAW_SIDE / ratio)
    size = (long_side, short_side) if landscape else (short_side, long_side)
    image = _background(rng, size)
    draw = ImageDraw.Draw(image)
    width, height = size
    kind = rng.choice(["receipt", "receipt", "label", "page"])
    fill = rng.uniform(0.45, 0.9)
    if kind == "receipt":
        box_w, box_h = int(width * fill * rng.uniform(0.45, 0.75)), int(height * fill)
    elif kind == "label":
        box_w, box_h = int(width * fill), int(height * fill * rng.uniform(0.35, 0.6))
    else:
        box_w, box_h = int(width * fill), int(height * fill)
    left = rng.randint(0, width - box_w)
    top = rng.randint(0, height - box_h)
    paper = tuple(rng.randint(222, 252) - rng.randint(0, 12) * (i == 2) for i in range(3))
    draw.rectangle((left, top, left + box_w, top + box_h), fill=paper)  # type: ignore[arg-type]
    darkness = rng.randint(5, 95)  # from fresh black print to a faded thermal receipt
    ink = (darkness, darkness, darkness + rng.randint(0, 20))
    box = (left, top, left + box_w, top + box_h)
    (_label if kind == "label" else _receipt)(rng, draw, box, ink)
    angle = rng.uniform(-8, 8)
    if abs(angle) > 1:
        image = image.rotate(angle, Image.Resampling.BICUBIC, fillcolor=image.getpixel((0, 0)))
    return image


def _light(image: Image.Image, gain: float, lift: float = 0.0) -> Image.Image:
    return image.point(lambda v: max(0, min(255, round(v * gain + lift))))


def _noise(rng: random.Random, image: Image.Image, sigma: float) -> Image.Image:
    """Sensor grain: a tile of Gaussian noise laid over the photo (drawing it for every
    pixel of a 12 MP photo took most of the corpus' time)."""
    if sigma < 0.5:
        return image
    tile = Image.effect_noise((509, 509), sigma)
    grain = Image.new("L", image.size)
    shift = rng.randint(0, 508)
    for x in range(-shift, image.width, 509):
        for y in range(-shift, image.height, 509):
            grain.paste(tile, (x, y))
    return ImageChops.add(image, Image.merge("RGB", [grain] * 3), 1.0, -128)


def _photo_size(rng: random.Random, scene: Image.Image, megapixels: float) -> tuple[int, int]:
    ratio = scene.width / scene.height
    height = (megapixels * 1_000_000 / ratio) ** 0.5
    return max(1, round(height * ratio)), max(1, round(height))


def _jpeg(rng: random.Random, image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=rng.randint(78, 95))
    return out.getvalue()


@cache
def good() -> tuple[Photo, ...]:
    rng = random.Random(SEED)
    photos = []
    for number in range(GOOD_COUNT):
        scene = _scene(rng)
        megapixels = math.exp(rng.uniform(0.0, math.log(12.0)))  # more small than large
        soft = rng.random() < 0.3
        if soft:  # a phone's slight softness: a fraction of a letter's stroke
            scene = scene.filter(ImageFilter.GaussianBlur(min(scene.size) * rng.uniform(0.0005, 0.002)))
        photo = scene.resize(_photo_size(rng, scene, megapixels), Image.Resampling.BILINEAR)
        gain = rng.uniform(0.6, 1.12)
        photo = _light(photo, gain, rng.uniform(-10, 15))
        photo = _noise(rng, photo, rng.uniform(0, 6))
        name = f"good-{number} {photo.width}x{photo.height} gain {gain:.2f}{' soft' if soft else ''}"
        photos.append(Photo(name, "good", _jpeg(rng, photo), photo.size))
    return tuple(photos)


def _poor_photo(rng: random.Random, problem: str, megapixels: float) -> Image.Image:
    scene = _scene(rng)
    if problem == "small":
        short = rng.randint(160, 460)
        factor = short / min(scene.size)
        size = (round(scene.width * factor), round(scene.height * factor))
    else:
        size = _photo_size(rng, scene, megapixels)
    if problem == "blurred":  # drawn blurred: the same as blurring the photo, faster
        scene = scene.filter(ImageFilter.GaussianBlur(min(scene.size) * rng.uniform(0.012, 0.03)))
    photo = scene.resize(size, Image.Resampling.BILINEAR)
    if problem == "dark":
        return _noise(rng, _light(photo, rng.uniform(0.12, 0.3)), rng.uniform(2, 8))
    if problem == "bright":
        fade = rng.uniform(0.12, 0.3)
        photo = photo.point(lambda v: round(255 - (255 - v) * fade))
        return _noise(rng, photo, rng.uniform(0, 4))
    if problem == "blurred":
        photo = _light(photo, rng.uniform(0.7, 1.1), rng.uniform(-5, 10))
        return _noise(rng, photo, rng.uniform(0, 5))
    return _noise(rng, _light(photo, rng.uniform(0.75, 1.1)), rng.uniform(0, 4))


@cache
def poor() -> tuple[Photo, ...]:
    rng = random.Random(SEED + 1)
    photos = []
    for number in range(POOR_EACH):
        for problem in PROBLEMS:
            photo = _poor_photo(rng, problem, rng.uniform(1.0, 4.0))
            name = f"{problem}-{number} {photo.width}x{photo.height}"
            photos.append(Photo(name, problem, _jpeg(rng, photo), photo.size))
    return tuple(photos)


def sample(problem: str, seed: int = 0, megapixels: float = 1.2) -> bytes:
    """One photo of a receipt or a label, as a JPEG: ``"good"`` (sharp, in good light) or
    with one of ``PROBLEMS``, for the form's tests."""
    rng = random.Random(f"sample-{problem}-{seed}")
    if problem == "good":
        scene = _scene(rng)
        photo = scene.resize(_photo_size(rng, scene, megapixels), Image.Resampling.BILINEAR)
        return _jpeg(rng, _noise(rng, _light(photo, rng.uniform(0.9, 1.05)), 2))
    return _jpeg(rng, _poor_photo(rng, problem, megapixels))
