"""B12: the upload's photo check (issue 26, documents/quality.py) on a 12 MP JPEG.

Prints the milliseconds one ``assess_file`` takes from the file's bytes (decoding at a
reduced scale, measuring), the median of 20, for a good photo and a blurred one of the
corpus' kind, and how much of it is decoding to the working copy alone.
Run: ``.venv/bin/python -m bench.b12_photo_check``.
"""

from __future__ import annotations

import io
import random
import statistics
import time

from PIL import Image, ImageFilter

from support.documents import quality
from tests import photo_corpus

RUNS = 20


def _twelve_megapixels(blurred: bool) -> bytes:
    rng = random.Random(12)
    scene = photo_corpus._scene(rng)
    if blurred:
        scene = scene.filter(ImageFilter.GaussianBlur(min(scene.size) * 0.02))
    width, height = (4000, 3000) if scene.width > scene.height else (3000, 4000)
    photo = photo_corpus._noise(rng, scene.resize((width, height), Image.Resampling.BICUBIC), 3)
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=92)
    return out.getvalue()


def main() -> None:
    for name, blurred in (("good", False), ("blurred", True)):
        data = _twelve_megapixels(blurred)
        times, found = [], []
        for _ in range(RUNS):
            start = time.perf_counter()
            found = quality.assess_file(data, ["JPEG"])
            times.append((time.perf_counter() - start) * 1000)
        decoding = []
        for _ in range(RUNS):
            start = time.perf_counter()
            with Image.open(io.BytesIO(data)) as image:
                quality.working_copy(image)
            decoding.append((time.perf_counter() - start) * 1000)
        print(f"B12 {name} 12 MP JPEG ({len(data) / 1e6:.1f} MB): "
              f"{statistics.median(times):.1f} ms per check (median of {RUNS}, "
              f"min {min(times):.1f}, max {max(times):.1f}), of which decoding to the working copy "
              f"{statistics.median(decoding):.1f} ms; found {[str(p) for p in found]}")


if __name__ == "__main__":
    main()
