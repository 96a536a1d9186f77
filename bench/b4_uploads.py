"""B4: the server's memory under uploads, and how an oversized upload is refused.

``support serve`` runs as its own process (as ``make run`` starts it); its RSS is read from
/proc every 100 ms. This process is the client, speaking HTTP/1.1 over raw asyncio streams
so that it controls exactly what is sent and sees the answer while it is still sending:

(a) oversized: one 100 MiB upload to /apply/unlock, once with a Content-Length header and
    once with chunked transfer encoding (no length), plus one 15 MB file inside a body
    under the body limit (the per-file limit). For each: the status, how long the answer
    took, how much the client had sent and how much the server had read from its socket
    when it answered (``ss``: bytes received less the unread queue, sampled continuously),
    what the server did with the rest of the body, and whether anything was left in the
    data dir's ``tmp/``.
(b) 50 concurrent uploads of a 10 MB JPEG (photo-like noise, just under the 10 MiB
    per-file limit), each a valid unlock form: its own page load (CSRF cookie and field,
    signed submission token) and its own account. All must answer 303, every document
    must be stored with its bytes, and ``tmp/`` must be empty. Then the same with 10 MB
    PDFs, which are never decoded: the control that isolates the upload path itself.
(c) one receipt at 108 MP, as a small JPEG and as a small PNG: what decoding costs.

Peak RSS must stay under 200 MB throughout.

    .venv/bin/python bench/b4_uploads.py [--db sqlite|postgres|both] [--uploads 50]
                                         [--pace 25] [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import os
import random
import re
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    BIN,
    ROOT,
    SECRET,
    RssSampler,
    bucket_env,
    code_state,
    drop_database,
    free_port,
    load_average,
    migrate,
    new_database,
    rss_mb,
    support_env,
    wait_for,
)
from bench.machine import describe, record  # noqa: E402
from support.config import Settings  # noqa: E402
from tests.servers import radosgw  # noqa: E402

MIB = 1024 * 1024
CHUNK = 256 * 1024
RSS_LIMIT_MB = 200
BOUNDARY = "----supportbenchB4uploads7MA4YWxkTrZu0gW"
REASON = "I develop a custom kernel for this phone and need to flash my test builds."


# --- files --------------------------------------------------------------------------------

def noise_jpeg(path: Path, target: int) -> tuple[int, int, int]:
    """A photo-like JPEG (noise compresses as badly as a real photo) of a little under
    ``target`` bytes: (bytes, width, height)."""
    rng = random.Random(4)

    def encode(width: int) -> bytes:
        height = width * 3 // 4
        image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        return buffer.getvalue()

    width = 1000
    data = encode(width)
    for _ in range(6):  # bytes grow with the pixel count: aim, then correct
        width = int(width * (target * 0.995 / len(data)) ** 0.5)
        data = encode(width)
        if target * 0.98 <= len(data) <= target:
            break
    while len(data) > target:
        width -= 8
        data = encode(width)
    path.write_bytes(data)
    return len(data), width, width * 3 // 4


PDF_HEADER = b"%PDF-1.4\n%b4-000000\n"  # each upload writes its own number over the zeros


def noise_pdf(path: Path, size: int) -> int:
    """A real PDF of exactly ``size`` bytes: one page showing a grey-scale noise image (a
    scan, as far as any reader can tell), the control for (b): it is parsed (pypdf,
    issue 7) but never decoded, so what is left is the upload path itself. Each upload
    changes only digits in the header's comment, so the cross-reference offsets stay
    right (an earlier version inserted bytes, and random bytes were no PDF at all)."""
    rng = random.Random(5)
    width = 1000

    def build(pixels: int) -> tuple[bytes, list[int]]:
        height = max(1, pixels // width)
        image = rng.randbytes(width * height)
        objects = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /XObject << /Im0 5 0 R >> >> >>",
            b"<< /Length 31 >>\nstream\nq 595 0 0 842 0 0 cm /Im0 Do Q\nendstream",
            f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} "
            f"/ColorSpace /DeviceGray /BitsPerComponent 8 /Length {len(image)} >>\n"
            f"stream\n".encode() + image + b"\nendstream",
        ]
        out, offsets = bytearray(PDF_HEADER), []
        for number, body in enumerate(objects, start=1):
            offsets.append(len(out))
            out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
        return bytes(out), offsets

    body, offsets = build(size - 1024)
    padding = size - len(body) - len(_xref(offsets, len(body) + 0))
    body += b"%" + b"0" * (padding - 2) + b"\n" if padding >= 2 else b""
    data = body + _xref(offsets, len(body))
    assert len(data) == size, (len(data), size)
    path.write_bytes(data)
    return size


def _xref(offsets: list[int], start: int) -> bytes:
    rows = "".join(f"{offset:010d} 00000 n \n" for offset in offsets)
    return (f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n{rows}"
            f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\n"
            f"startxref\n{start:010d}\n%%EOF\n").encode()


def big_receipt(path: Path, width: int = 12000, height: int = 9000) -> int:
    """A receipt at 108 MP (the Redmi Note 10 Pro's main camera), as JPEG or PNG by the
    path's suffix: mostly paper, so small on disk, but width × height × 3 bytes decoded."""
    rng = random.Random(6)
    image = Image.new("L", (width, height), 235)
    draw = ImageDraw.Draw(image)
    for y in range(300, height - 300, 120):  # lines of "text"
        x = 400
        while x < width - 600:
            word = rng.randrange(60, 400)
            draw.rectangle((x, y, x + word, y + 50), fill=rng.randrange(20, 90))
            x += word + rng.randrange(30, 120)
    if path.suffix == ".png":
        image.convert("RGB").save(path, "PNG")
    else:
        image.convert("RGB").save(path, "JPEG", quality=90)
    return path.stat().st_size


def with_comment(head: bytes, text: str) -> bytes:
    """The JPEG's first bytes with a COM segment after SOI: every upload differs, so no
    two share a checksum (the receipt-reuse risk check stays out of the picture)."""
    comment = text.encode()
    return head[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + head[2:]


# --- a small HTTP/1.1 client --------------------------------------------------------------

@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    at: float  # monotonic time the status line arrived

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k == name), "")

    def cookies(self) -> dict[str, str]:
        found = {}
        for k, v in self.headers:
            if k == "set-cookie":
                name, _, rest = v.partition("=")
                found[name.strip()] = rest.split(";", 1)[0]
        return found


async def read_response(reader: asyncio.StreamReader) -> Response:
    line = await reader.readline()
    if not line:
        raise ConnectionError("closed before an answer")
    at = time.monotonic()
    status = int(line.split()[1])
    headers = []
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip().lower(), value.strip()))
    lookup = dict(headers)
    if "content-length" in lookup:
        body = await reader.readexactly(int(lookup["content-length"]))
    elif lookup.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = await reader.read()
    return Response(status, headers, body, at)


async def get(port: int, path: str) -> Response:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Connection: close\r\n\r\n".encode())
        await writer.drain()
        return await read_response(reader)
    finally:
        writer.close()


def part_head(name: str, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        kind = "application/pdf" if filename.endswith(".pdf") else "image/jpeg"
        disposition += f'; filename="{filename}"\r\nContent-Type: {kind}'
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()


def form_fields(fields: dict[str, str]) -> bytes:
    return b"".join(part_head(k) + v.encode() + b"\r\n" for k, v in fields.items())


@dataclass
class Upload:
    """A multipart body: fields, then one file streamed from disk (its first bytes may be
    replaced), then the closing boundary."""

    fields: dict[str, str]
    path: Path
    size: int  # how many bytes of the file to send (repeats the file if larger)
    first: bytes = b""  # sent instead of the file's first len(first) - extra bytes
    extra: int = 0  # how much longer ``first`` is than what it replaces

    def head(self) -> bytes:
        return form_fields(self.fields) + part_head("receipt", "receipt" + self.path.suffix)

    def tail(self) -> bytes:
        return f"\r\n--{BOUNDARY}--\r\n".encode()

    def length(self) -> int:
        return len(self.head()) + self.size + self.extra + len(self.tail())

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.head()
        sent = 0
        replaced = len(self.first) - self.extra
        with self.path.open("rb") as handle:
            if self.first:
                handle.seek(replaced)
                yield self.first
                sent = replaced
            while sent < self.size:
                data = handle.read(min(CHUNK, self.size - sent))
                if not data:
                    handle.seek(0)
                    continue
                sent += len(data)
                yield data
        yield self.tail()


@dataclass
class Outcome:
    status: int = 0
    answer_s: float = 0.0  # from the first byte sent to the status line
    total_s: float = 0.0
    sent_at_answer: int = 0
    sent_total: int = 0
    body_length: int = 0
    after_answer: str = ""
    response: Response | None = None
    error: str = ""


async def post(port: int, path: str, upload: Upload, cookie: str, *, chunked: bool = False,
               pace: float = 0, timeout: float = 120) -> Outcome:
    """POST the upload while reading the answer. If the answer comes before the body is
    sent, keep sending (as a simple client does, now at full speed) to see whether the
    server keeps reading. ``pace`` (bytes per second) spaces the writes until an answer
    comes, so that the kernel's buffers stay nearly empty and what the client has sent is
    close to what the server has read."""
    outcome = Outcome(body_length=upload.length())
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framing = ("Transfer-Encoding: chunked" if chunked
               else f"Content-Length: {upload.length()}")
    writer.write((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                  f"Cookie: {cookie}\r\n{framing}\r\n\r\n").encode())
    began = time.monotonic()
    answered = asyncio.Event()

    async def answer() -> Response:
        response = await read_response(reader)
        outcome.sent_at_answer = outcome.sent_total
        answered.set()
        return response

    reading = asyncio.create_task(answer())
    try:
        async for data in upload.chunks():
            if pace and not answered.is_set():
                ahead = began + outcome.sent_total / pace - time.monotonic()
                if ahead > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(answered.wait(), ahead)
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data)
            await asyncio.wait_for(writer.drain(), timeout)
            outcome.sent_total += len(data)
        else:
            if chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
    except (ConnectionError, TimeoutError) as exc:
        outcome.error = type(exc).__name__
    try:
        response = await asyncio.wait_for(reading, timeout)
    except (ConnectionError, TimeoutError, asyncio.IncompleteReadError) as exc:
        outcome.error = outcome.error or type(exc).__name__
        writer.close()
        return outcome
    outcome.total_s = time.monotonic() - began
    outcome.status = response.status
    outcome.answer_s = response.at - began
    outcome.response = response
    if outcome.sent_at_answer < outcome.body_length:
        if outcome.error:
            outcome.after_answer = (f"closed by the server ({outcome.error}) after "
                                    f"{outcome.sent_total / MIB:.1f} MiB")
        elif outcome.sent_total >= outcome.body_length:
            outcome.after_answer = ("kept reading: the server took the whole "
                                    f"{outcome.body_length / MIB:.0f} MiB, "
                                    f"{outcome.total_s:.1f} s in all")
        else:
            outcome.after_answer = "client stopped"
    writer.close()
    return outcome


# --- the server's side of a connection: ss ------------------------------------------------

@dataclass
class SocketSampler:
    """What the server has read from its end of the connections on ``port``: bytes the
    kernel received less what is still queued unread, sampled as fast as ``ss`` runs."""

    port: int
    samples: list[tuple[float, int]] = field(default_factory=list)  # (when, bytes read)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> int | None:
        out = subprocess.run(
            ["ss", "-tinH", "state", "established", f"( sport = :{self.port} )"],
            capture_output=True, text=True).stdout
        received = re.findall(r"bytes_received:(\d+)", out)
        queued = [int(line.split()[0]) for line in out.splitlines()
                  if line and not line[0].isspace() and line.split()[0].isdigit()]
        if not received:
            return None
        return sum(map(int, received)) - sum(queued)

    def run(self) -> None:
        while not self._stop.is_set():
            value = self.sample()
            if value is not None:
                self.samples.append((time.monotonic(), value))
            time.sleep(0.002)

    def read_before(self, moment: float) -> int | None:
        before = [value for when, value in self.samples if when <= moment]
        return before[-1] if before else None

    def __enter__(self) -> SocketSampler:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join()


# --- the server ---------------------------------------------------------------------------

async def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as conn:
            return list(conn.execute(sql).fetchall())
    conn = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


def leftovers(data_dir: Path) -> int:
    tmp = data_dir / "tmp"
    return sum(1 for _ in tmp.iterdir()) if tmp.exists() else 0


async def settle(data_dir: Path, seconds: float = 2.0) -> int:
    """Files still in tmp/ once the server has had a moment to finish with the request."""
    deadline = time.monotonic() + seconds
    while leftovers(data_dir) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return leftovers(data_dir)


async def form_page(port: int) -> tuple[str, dict[str, str]]:
    """Open the form as a browser does: (the Cookie header to send, its hidden fields)."""
    page = await get(port, "/apply/unlock")
    if page.status != 200:
        raise RuntimeError(f"GET /apply/unlock answered {page.status}")
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                             page.body.decode()))
    cookie = "; ".join(f"{k}={v}" for k, v in page.cookies().items())
    return cookie, hidden


def applicant_fields(hidden: dict[str, str], n: int) -> dict[str, str]:
    return {**hidden, "account_id": f"7{n:09d}", "country": "IN", "phone": f"+9198{n:08d}",
            "email": f"b4-{n}@example.com", "model": "Redmi Note 10 Pro",
            "firmware": "21.3.17", "reason": REASON}


async def oversized(port: int, pid: int, data_dir: Path, jpeg: Path,
                    pace: float) -> list[dict[str, Any]]:
    cases = [("100 MiB, Content-Length", 100 * MIB, False),
             ("100 MiB, chunked (no length)", 100 * MIB, True),
             ("15 MB file, body under the limit", 15_000_000, False)]
    results = []
    for n, (label, size, chunked) in enumerate(cases):
        cookie, hidden = await form_page(port)
        upload = Upload(applicant_fields(hidden, 900_000 + n), jpeg, size)
        with RssSampler(pid) as rss, SocketSampler(port) as sockets:
            outcome = await post(port, "/apply/unlock", upload, cookie, chunked=chunked,
                                 pace=pace)
        read = (sockets.read_before(outcome.response.at) if outcome.response else None)
        read_in_all = max((value for _, value in sockets.samples), default=0)
        after = outcome.after_answer or "—"
        if after.startswith("kept reading"):
            after += f" (ss saw ≥ {read_in_all / MIB:.1f} MiB read)"
        results.append({
            "case": label, "status": outcome.status or outcome.error,
            "answer_s": outcome.answer_s, "sent_at_answer": outcome.sent_at_answer,
            "server_read": read, "after": after,
            "tmp_left": await settle(data_dir), "rss_peak_mb": round(rss.peak_kb / 1024, 1),
            "body": outcome.body_length,
        })
        print(f"  {label}: {results[-1]}", flush=True)
    return results


def first_bytes(path: Path, n: int) -> bytes:
    """What replaces the file's first bytes in upload n: a JPEG gets its own comment; a
    PDF its own second line (both keep every upload's checksum distinct)."""
    if path.suffix == ".pdf":
        return f"%PDF-1.4\n%b4-{n:06d}\n".encode()  # as long as PDF_HEADER
    return with_comment(path.read_bytes()[:2], f"bench b4 upload {n:04d}")


def replaced(path: Path) -> int:
    return len(PDF_HEADER) if path.suffix == ".pdf" else 2


async def concurrent(port: int, pid: int, url: str, data_dir: Path, document: Path,
                     size: int, uploads: int, offset: int) -> dict[str, Any]:
    pages = [await form_page(port) for _ in range(uploads)]
    start = asyncio.Event()
    before = await query(url, "SELECT coalesce(max(id), 0) FROM document")

    async def one(n: int) -> tuple[Outcome, float]:
        cookie, hidden = pages[n]
        first = first_bytes(document, n)
        upload = Upload(applicant_fields(hidden, offset + n), document, size,
                        first=first, extra=len(first) - replaced(document))
        await start.wait()
        began = time.monotonic()
        outcome = await post(port, "/apply/unlock", upload, cookie, timeout=600)
        return outcome, time.monotonic() - began

    tasks = [asyncio.create_task(one(n)) for n in range(uploads)]
    idle = rss_mb(pid)
    with RssSampler(pid) as rss:
        began = time.monotonic()
        start.set()
        done = await asyncio.gather(*tasks)
        elapsed = time.monotonic() - began
    await asyncio.sleep(1)
    after = rss_mb(pid)
    ok = 0
    others: dict[str, int] = {}
    for o, _ in done:
        if (o.status == 303 and o.response is not None
                and o.response.header("location").endswith("/verify")):
            ok += 1
        else:
            key = str(o.status or o.error)
            others[key] = others.get(key, 0) + 1
    # What each request stored is checked by the upload's checksum, which the document
    # keeps: the worker re-encodes photos meanwhile (issue 7), so sizes change.
    docs = await query(url, f"SELECT sha256 FROM document WHERE id > {before[0][0]}")
    content = document.read_bytes()
    sent = {hashlib.sha256(first_bytes(document, n) + content[replaced(document):]).hexdigest()
            for n in range(uploads)}
    latencies = sorted(t for _, t in done)
    return {
        "document": document.suffix[1:].upper(), "size": size,
        "uploads": uploads, "ok": ok, "others": others, "elapsed": elapsed,
        "mb_per_s": uploads * size / MIB / elapsed,
        "p50_s": latencies[len(latencies) // 2], "max_s": latencies[-1],
        "documents": len(docs), "stored_as_sent": sorted(row[0] for row in docs) == sorted(sent),
        "tmp_left": await settle(data_dir), "idle_mb": round(idle, 1),
        "rss_peak_mb": round(rss.peak_kb / 1024, 1), "after_mb": round(after, 1),
    }


async def one_photo(port: int, pid: int, data_dir: Path, photo: Path,
                    account: int) -> dict[str, Any]:
    cookie, hidden = await form_page(port)
    upload = Upload(applicant_fields(hidden, account), photo, photo.stat().st_size)
    idle = rss_mb(pid)
    with RssSampler(pid) as rss:
        outcome = await post(port, "/apply/unlock", upload, cookie)
    await asyncio.sleep(1)
    return {"file": photo.suffix[1:].upper(), "status": outcome.status or outcome.error,
            "total_s": outcome.total_s,
            "size": photo.stat().st_size, "idle_mb": round(idle, 1),
            "rss_peak_mb": round(rss.peak_kb / 1024, 1), "after_mb": round(rss_mb(pid), 1),
            "tmp_left": await settle(data_dir)}


async def one_database(kind: str, args: argparse.Namespace, work: Path,
                       files: dict[str, Path]) -> dict[str, Any]:
    data_dir = work / kind
    data_dir.mkdir()
    url = await new_database(kind, data_dir, "b4")
    port = free_port()
    env = support_env(url, data_dir, port)
    label = kind
    if args.gateway is not None:  # --s3: documents in a bucket of the run's radosgw
        env.update(bucket_env(args.gateway, f"b4-{kind}-{os.getpid()}"))
        label = f"{kind} + S3"
    process: subprocess.Popen[bytes] | None = None
    try:
        migrate(env)
        with (data_dir / "server.log").open("wb") as log:
            process = subprocess.Popen([str(BIN / "support"), "serve"], env=env, cwd=ROOT,
                                       stdout=log, stderr=subprocess.STDOUT)
        wait_for(port, process)
        await get(port, "/apply/unlock")  # templates loaded, as after any first visitor
        started_mb = rss_mb(process.pid)
        print(f"B4 ({kind}): oversized uploads ...", flush=True)
        big = await oversized(port, process.pid, data_dir, files["jpeg"], args.pace * MIB)
        many = []
        for n, name in enumerate(("jpeg", "pdf")):
            print(f"B4 ({kind}): {args.uploads} concurrent {name} uploads ...", flush=True)
            document = files[name]
            many.append(await concurrent(port, process.pid, url, data_dir, document,
                                         document.stat().st_size, args.uploads,
                                         500_000 + 1000 * n))
            print(f"  {many[-1]}", flush=True)
        photos = []
        for n, name in enumerate(("108mp.jpg", "108mp.png")):
            print(f"B4 ({kind}): one {name} receipt ...", flush=True)
            photos.append(await one_photo(port, process.pid, data_dir, files[name],
                                          990_000 + n))
            print(f"  {photos[-1]}", flush=True)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        await drop_database(url)
    return {"db": label, "started_mb": round(started_mb, 1), "oversized": big, "many": many,
            "photos": photos}


def report(results: list[dict[str, Any]], settings: Settings, jpeg: tuple[int, int, int],
           uploads: int, pace: float) -> str:
    size, width, height = jpeg
    defaults = Settings.from_env({"SUPPORT_SECRET_KEY": SECRET})
    same = (settings.max_file_bytes, settings.max_body_bytes) == (
        defaults.max_file_bytes, defaults.max_body_bytes)
    lines = [f"### B4 uploads: limits {settings.max_file_bytes / MIB:.0f} MiB per file, "
             f"{settings.max_body_bytes / MIB:.0f} MiB per body "
             f"({'the defaults' if same else 'set by SUPPORT_* variables'})", "",
             f"(a) one oversized attempt at a time, sent at {pace:g} MiB/s until the answer",
             "",
             "| db | case | status | answered after s | client had sent MiB | server had read "
             "MiB | then | tmp/ left | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for c in r["oversized"]:
            read = (f"≤ {c['sent_at_answer'] / MIB:.2f}" if c["server_read"] is None
                    else f"{c['server_read'] / MIB:.2f}")
            lines.append(
                f"| {r['db']} | {c['case']} | {c['status']} | {c['answer_s']:.2f} | "
                f"{c['sent_at_answer'] / MIB:.2f} | {read} | {c['after']} | "
                f"{c['tmp_left']} | {c['rss_peak_mb']} |")
    lines += ["", f"(b) {uploads} concurrent uploads, each its own valid form: a "
              f"{size / 1e6:.1f} MB JPEG ({width}×{height} noise, "
              f"{width * height * 3 / MIB:.0f} MiB once decoded), then as a control the "
              "same number of 10 MB PDFs (parsed with pypdf, never decoded)", "",
              "| db | file | answered 303 | other | s | MiB/s in | p50 s | max s "
              "| documents stored (checksums ok) | tmp/ left | RSS idle → peak → after MB "
              f"| < {RSS_LIMIT_MB} MB |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for m in r["many"]:
            others = ", ".join(f"{k}: {v}" for k, v in m["others"].items()) or "0"
            lines.append(
                f"| {r['db']} | {m['document']} | {m['ok']}/{m['uploads']} | {others} | "
                f"{m['elapsed']:.1f} | {m['mb_per_s']:.1f} | {m['p50_s']:.1f} | "
                f"{m['max_s']:.1f} | {m['documents']} "
                f"({'✓' if m['stored_as_sent'] else '✗'}) | "
                f"{m['tmp_left']} | {m['idle_mb']} → {m['rss_peak_mb']} → {m['after_mb']} | "
                f"{'✓' if m['rss_peak_mb'] < RSS_LIMIT_MB else '✗'} |")
    lines += ["", "(c) one receipt at 108 MP (12000×9000, the Redmi Note 10 Pro's camera), "
              "one upload at a time: mostly paper, so small on disk, 309 MiB once decoded", "",
              "| db | file | MB | status | s | RSS idle → peak → after MB "
              f"| < {RSS_LIMIT_MB} MB |", "|---|---|---|---|---|---|---|"]
    for r in results:
        for c in r["photos"]:
            lines.append(
                f"| {r['db']} | {c['file']} | {c['size'] / 1e6:.1f} | {c['status']} | "
                f"{c['total_s']:.1f} | {c['idle_mb']} → {c['rss_peak_mb']} → {c['after_mb']} "
                f"| {'✓' if c['rss_peak_mb'] < RSS_LIMIT_MB else '✗'} |")
    peak = max([c["rss_peak_mb"] for r in results for c in r["oversized"]]
               + [m["rss_peak_mb"] for r in results for m in r["many"]]
               + [c["rss_peak_mb"] for r in results for c in r["photos"]])
    lines += ["", f"- peak server RSS over the whole run: {peak} MB "
              f"({'under' if peak < RSS_LIMIT_MB else 'OVER'} the {RSS_LIMIT_MB} MB target).",
              "- client had sent: bytes written to the socket when the status line arrived "
              "(an upper bound: the kernel buffers part of it). server had read: `ss` "
              "bytes_received less Recv-Q on the server's end of the connection, last "
              "sample before the answer.", code_state()]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--pace", type=float, default=25,
                        help="MiB/s at which (a) sends until the server answers (0: as fast "
                             "as the socket takes it)")
    parser.add_argument("--no-record", action="store_true",
                        help="print only; do not append to bench/results.md")
    parser.add_argument("--s3", action="store_true",
                        help="documents in a bucket of a private Ceph radosgw started for the "
                        "run (issue 24), instead of the data dir")
    args = parser.parse_args()
    # The limits the server will read from the same environment (SUPPORT_MAX_FILE_BYTES...).
    settings = Settings.from_env({**os.environ, "SUPPORT_SECRET_KEY": SECRET})
    load = load_average()
    print(describe(), flush=True)
    print(f"- load average: {load}", flush=True)
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-b4-") as tmp, contextlib.ExitStack() as stack:
        args.gateway = stack.enter_context(radosgw.running()) if args.s3 else None
        work = Path(tmp)
        # "10 MB": 10,000,000 bytes, under the 10 MiB limit with room for the comment.
        target = min(10_000_000, settings.max_file_bytes - 1024)
        files = {"jpeg": work / "photo.jpg", "pdf": work / "scan.pdf",
                 "108mp.jpg": work / "receipt-108mp.jpg",
                 "108mp.png": work / "receipt-108mp.png"}
        made = noise_jpeg(files["jpeg"], target)
        noise_pdf(files["pdf"], made[0])
        print(f"B4: test photo {made[0]} bytes, {made[1]}×{made[2]}; 108 MP receipt "
              f"{big_receipt(files['108mp.jpg'])} bytes as JPEG, "
              f"{big_receipt(files['108mp.png'])} as PNG", flush=True)
        for kind in kinds:
            results.append(await one_database(kind, args, work, files))
    text = report(results, settings, made, args.uploads, args.pace)
    text += f"\n- load average when the run began: {load}"
    print(text)
    if not args.no_record:
        record("B4", text)


if __name__ == "__main__":
    asyncio.run(main())
