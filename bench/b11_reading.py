"""B11: seconds per document for the desk's reading (issue 26, support/documents/reading.py):
the IMEI barcodes of a box label, and Tesseract's reading of a 2 MP receipt.

The documents are tests/corpus.py's (box labels photographed askew on a table, receipts in
Latin, Devanagari and Cyrillic photographed in a 2 MP frame), saved as the JPEG files the
worker would read, and read one at a time with ``reading.read_file`` as the worker calls it
(decoding included). Measured: the median and the slowest of ``--rounds`` documents, wall
seconds and CPU seconds (this process and its Tesseract children: what the worker takes
from the web's two cores).

    .venv/bin/python bench/b11_reading.py [--rounds 10] [--record]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import describe, record  # noqa: E402
from support.documents import reading  # noqa: E402
from tests import corpus  # noqa: E402


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(paths: list[Path], purpose: str) -> tuple[list[float], list[float], int]:
    """Wall and CPU seconds of each document's reading, and how many found anything."""
    walls, cpus, found = [], [], 0
    for path in paths:
        started, cpu = time.perf_counter(), _cpu()
        facts = reading.read_file(path, "image/jpeg", purpose=purpose)
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu() - cpu)
        found += bool(facts)
    return walls, cpus, found


def row(name: str, walls: list[float], cpus: list[float], found: int) -> str:
    return (f"| {name} | {len(walls)} | {statistics.median(walls):.2f} | {max(walls):.2f} "
            f"| {statistics.median(cpus):.2f} | {found}/{len(walls)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--record", action="store_true", help="append to bench/results.md")
    args = parser.parse_args()
    print(describe(), flush=True)
    print(f"- Tesseract {reading.pytesseract.get_tesseract_version()}, languages "
          f"{reading.ocr_languages()}; OMP_THREAD_LIMIT=1", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-b11-") as tmp:
        rows = []
        labels = corpus.box_labels(args.rounds)
        receipts = corpus.receipts(args.rounds * 3)
        paths: dict[str, list[Path]] = {"label": [], "latin": [], "devanagari": [],
                                        "cyrillic": []}
        for sample in [*labels, *receipts]:
            path = Path(tmp) / f"{sample.name}.jpg"
            sample.image.save(path, "JPEG", quality=90)
            paths[sample.script].append(path)
        reading.read_file(paths["latin"][0], "image/jpeg", purpose="receipt")  # warm caches
        rows.append(row("box label, 1600×1200: barcodes", *measure(paths["label"], "box_photo")))
        for script in ("latin", "devanagari", "cyrillic"):
            rows.append(row(f"receipt, 1250×1650, {script}: barcodes + OCR",
                            *measure(paths[script][: args.rounds], "receipt")))
    text = "\n".join([
        "| document | n | median s | slowest s | CPU s (median) | found something |",
        "|---|---|---|---|---|---|",
        *rows,
    ])
    print(text)
    if args.record:
        record("B11: reading documents", text)


if __name__ == "__main__":
    main()
