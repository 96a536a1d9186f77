"""The reading engine (support/documents/reading.py, issue 26) on the corpus made in code
(tests/corpus.py): IMEI barcodes on box labels photographed askew, receipts in Latin,
Devanagari and Cyrillic; and pictures it cannot read, which find nothing without raising.

Pure: no database, so the same under either SUPPORT_TEST_DB. ``-s`` prints the rates.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from support.documents import reading
from support.documents.reading import Found
from tests import corpus

LABELS, RECEIPTS = 40, 30


def _facts(found: list[Found], fact: str) -> set[str]:
    return {item.value for item in found if item.fact == fact}


@pytest.fixture(scope="module")
def labels() -> list[tuple[corpus.Sample, list[Found]]]:
    samples = corpus.box_labels(LABELS)
    return [(sample, reading.read_image(sample.image, purpose="box_photo")) for sample in samples]


@pytest.fixture(scope="module")
def receipts() -> Iterator[list[tuple[corpus.Sample, list[Found]]]]:
    samples = corpus.receipts(RECEIPTS)
    # Two at a time, as the worker's two cores would: each is its own Tesseract process.
    with ThreadPoolExecutor(2) as pool:
        read = list(pool.map(lambda s: reading.read_image(s.image, purpose="receipt"), samples))
    yield list(zip(samples, read, strict=True))


def test_imei_barcodes_are_read_and_never_wrong(labels):
    read = [sample for sample, found in labels if _facts(found, "imei") & sample.barcode_imeis]
    wrong = [(sample.name, _facts(found, "imei") - sample.imeis) for sample, found in labels
             if _facts(found, "imei") - sample.imeis]
    by_barcode = sum(1 for _, found in labels
                     for item in found if item.fact == "imei" and item.source == "barcode")
    rate = len(read) / len(labels)
    print(f"\nbox labels: IMEI read on {len(read)}/{len(labels)} ({rate:.0%}), "
          f"{by_barcode} IMEIs from barcodes, wrong IMEIs: {len(wrong)}")
    assert not wrong
    assert rate >= 0.95
    for _, found in labels:
        for item in found:
            assert item.fact in ("imei", "model")  # a label's header is not a shop
            if item.source == "barcode":
                assert item.where.endswith(("barcode", "code")), item.where


def test_a_product_code_or_a_serial_is_not_an_imei():
    assert reading.imei_in_barcode("IMEI 865432109876549") == "865432109876549"
    assert reading.imei_in_barcode("IMEI2:865432109876549") == "865432109876549"
    assert reading.imei_in_barcode("865432109876549") == "865432109876549"
    assert reading.imei_in_barcode("865432109876540") is None  # its Luhn digit is wrong
    assert reading.imei_in_barcode("6941059602149") is None  # an EAN-13
    assert reading.imei_in_barcode("SN:12345/A6789") is None
    assert reading.imei_in_barcode("8654321098765490") is None  # 16 digits
    assert reading.imeis_in_line("IMEI: 86 543210 987654 9") == ["865432109876549"]
    assert reading.imeis_in_line("86543210-987654-9 Tel 020 1234 5678") == ["865432109876549"]
    assert reading.imeis_in_line("Total 865432109876540") == []


def test_models_are_matched_forgiving_spacing_and_case():
    assert reading.models_in_line("Item: REDMI NOTE10  PRO 6/128GB") == ["Redmi Note 10 Pro"]
    assert reading.models_in_line("xiaomi redmi note 10") == ["Redmi Note 10"]
    assert reading.models_in_line("Товар: Мі 9Т Pro") == ["Mi 9T Pro"]  # Cyrillic look-alikes
    assert reading.models_in_line("Redmi Note 13 Pro+ 5G") == ["Redmi Note 13 Pro+ 5G"]
    assert reading.models_in_line("Mi 100 charger") == []


@pytest.mark.parametrize("line", [
    "Date: 2026-03-02", "Date: 02/03/2026", "02.03.2026", "2 March 2026", "2 Mar 2026",
    "Dated 2 Mar, 2026", "दिनांक: ०२/०३/२०२६", "२ मार्च २०२६", "2 марта 2026 г.",
    "Дата: 02.03.2026",
])
def test_dates_in_the_forms_receipts_print(line):
    assert reading.dates_in_line(line) == ["2026-03-02"]


def test_the_dated_line_wins_over_a_warranty_date():
    found = reading.facts_in_text("City Mobiles\nWarranty until 02.03.2027\nDate: 02.03.2026\n")
    assert _facts(found, "purchase_date") == {"2026-03-02"}
    assert _facts(found, "shop") == {"City Mobiles"}
    assert [item.where for item in found if item.fact == "purchase_date"] == \
        ["printed text, line 3"]


def test_the_shop_is_the_first_line_printed_large_that_reads_as_words():
    text = "scan\n_ ee, |\nGalaxy Telecom\n12 MG Road, Pune 411001\nTAX INVOICE\nDate: 2026-03-02"
    found = reading.facts_in_text(text, [15.0, 66.0, 44.0, 27.0, 22.0, 23.0])
    assert [(item.value, item.where) for item in found if item.fact == "shop"] == \
        [("Galaxy Telecom", "printed text, line 3")]
    assert _facts(reading.facts_in_text("12/03/2026\n---\n"), "shop") == set()


def test_receipts_give_their_models_and_dates(receipts):
    rates: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    wrong = []
    for sample, found in receipts:
        counts = rates[sample.script]
        counts[0] += 1
        counts[1] += sample.model in _facts(found, "model")
        counts[2] += _facts(found, "purchase_date") == {sample.date}
        counts[3] += sample.imeis <= _facts(found, "imei")
        counts[4] += _facts(found, "shop") == {sample.shop}
        wrong += sorted(_facts(found, "imei") - sample.imeis)
    print("\n| receipts | n | model | date | IMEI | shop |\n|---|---|---|---|---|---|")
    for script, (n, model, date, imei, shop) in sorted(rates.items()):
        print(f"| {script} | {n} | {model / n:.0%} | {date / n:.0%} | {imei / n:.0%} "
              f"| {shop / n:.0%} |")
    total = len(receipts)
    model_rate = sum(c[1] for c in rates.values()) / total
    date_rate = sum(c[2] for c in rates.values()) / total
    print(f"all: model {model_rate:.0%}, date {date_rate:.0%}, wrong IMEIs {len(wrong)}")
    assert model_rate >= 0.80 and date_rate >= 0.80
    for n, model, date, _, _ in rates.values():  # each script on its own, too
        assert model / n >= 0.8 and date / n >= 0.8
    assert not wrong


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims a huge size: its header only, no pixels to decode."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)))


def test_what_cannot_be_read_finds_nothing_without_raising(tmp_path: Path):
    blank = Image.new("RGB", (1200, 900), (255, 255, 255))
    noise = Image.effect_noise((800, 600), 80).convert("RGB")
    tiny = Image.new("RGB", (1, 1))
    for image in (blank, noise, tiny):
        assert reading.read_image(image, purpose="receipt", seconds=5) == []
    whole = io.BytesIO()
    noise.save(whole, "JPEG", quality=80)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 3])
    huge = tmp_path / "huge.png"
    huge.write_bytes(_png_header(100_000, 100_000))
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe0 not a picture at all")
    for path, kind in ((truncated, "image/jpeg"), (huge, "image/png"), (garbage, "image/jpeg"),
                       (garbage, "application/pdf"), (garbage, "text/plain"),
                       (tmp_path / "missing.png", "image/png")):
        assert reading.read_file(path, kind, purpose="receipt", seconds=5) == []


def test_every_image_mode_is_read_or_gives_nothing():
    label = corpus.box_labels(1)[0]
    for mode in ("CMYK", "I;16", "I", "F", "1", "P", "LA", "RGBA", "PA"):
        found = reading.read_image(label.image.convert(mode), purpose="box_photo", seconds=3)
        assert _facts(found, "imei") <= label.imeis, mode
        if mode != "1":  # dithered to black and white: the bars are lost
            assert _facts(found, "imei") == label.imeis, mode


def test_a_reading_out_of_time_returns_what_the_barcodes_found():
    label = corpus.box_labels(1)[0]
    started = time.monotonic()
    found = reading.read_image(label.image, purpose="receipt", seconds=0.001)
    assert time.monotonic() - started < 3
    assert _facts(found, "imei") <= label.imeis
    assert all(item.source == "barcode" for item in found)
    receipt = corpus.receipts(1)[0]
    started = time.monotonic()
    assert reading.read_image(receipt.image, purpose="receipt", seconds=0.05) == []
    assert time.monotonic() - started < 3  # Tesseract was killed, not waited for


def test_a_pdf_receipt_is_read_from_its_first_page(tmp_path: Path):
    receipt = corpus.receipts(1)[0]
    path = tmp_path / "receipt.pdf"
    receipt.image.convert("RGB").save(path, "PDF", resolution=150)
    found = reading.read_file(path, "application/pdf", purpose="receipt")
    assert receipt.model in _facts(found, "model")
    png = tmp_path / "receipt.png"
    receipt.image.save(png, "PNG")
    assert receipt.model in _facts(reading.read_file(png, "image/png", purpose="receipt"), "model")
