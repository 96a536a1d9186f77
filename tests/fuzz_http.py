"""Raw HTTP for the fuzz run: requests written byte by byte, so nothing a client library
would tidy (encodings, boundaries, lengths of parts) is tidied, and a keep-alive
connection that reads the answers.

The bodies are broken the ways real traffic breaks them: scripts that send the wrong
types, repeat or drop fields, paste megabytes, mangle the multipart framing (boundaries,
truncated parts, missing or huge part headers, multipart inside multipart), write invalid
UTF-8, send other content types, or come from another site without the CSRF token.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote_from_bytes

from tests.fuzz_inputs import AWKWARD, DIGITS

CRLF = b"\r\n"

# --- one request, one answer ------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request_bytes(method: str, target: str, host: str, headers: list[tuple[str, bytes]],
                  body: bytes, *, chunked: bool = False) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode("ascii"), b"Host: " + host.encode()]
    lines += [name.encode("ascii") + b": " + value for name, value in headers]
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
        size = 4096
        pieces = [body[at:at + size] for at in range(0, len(body), size)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
    else:
        lines.append(b"Content-Length: %d" % len(body))
    return CRLF.join(lines) + CRLF + CRLF + body


class Connection:
    """One keep-alive connection to the server; reopened after the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        # Whether the last exchange's status line and headers arrived: a connection cut
        # after them is an answer cut short (a stream aborted), not a closed keep-alive.
        self.head_seen = False

    async def exchange(self, raw: bytes) -> Reply:
        """Send while reading: a server that answers before the body is all there (413,
        an unknown link) must be heard, not drowned by our own broken pipe."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        sender = asyncio.create_task(self._send(raw))
        try:
            reply = await self._read()
        except BaseException:
            await self.close()
            raise
        finally:
            with contextlib.suppress(ConnectionError, OSError):
                await sender
        if reply.headers.get("connection", "").lower() == "close":
            await self.close()
        return reply

    async def _send(self, raw: bytes) -> None:
        assert self.writer is not None
        self.writer.write(raw)
        await self.writer.drain()

    async def _read(self) -> Reply:
        assert self.reader is not None
        self.head_seen = False
        head = await self.reader.readuntil(CRLF + CRLF)
        self.head_seen = True
        status_line, *header_lines = head[:-4].split(CRLF)
        status = int(status_line.split(b" ")[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.decode("latin-1").partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int((await self.reader.readuntil(CRLF)).strip() or b"0", 16):
                body += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
            await self.reader.readuntil(CRLF)
            return Reply(status, headers, bytes(body))
        length = int(headers.get("content-length", "0"))
        return Reply(status, headers, await self.reader.readexactly(length))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


# --- bodies -----------------------------------------------------------------------------

Pair = tuple[bytes, bytes]


@dataclass
class FilePart:
    name: bytes
    filename: bytes
    content_type: bytes
    content: bytes


@dataclass
class Form:
    fields: list[Pair] = field(default_factory=list)
    files: list[FilePart] = field(default_factory=list)


def urlencoded(pairs: list[Pair]) -> bytes:
    return b"&".join(quote_from_bytes(name).encode() + b"=" + quote_from_bytes(value).encode()
                     for name, value in pairs)


def part(headers: list[bytes], content: bytes) -> bytes:
    return CRLF.join(headers) + CRLF + CRLF + content


def field_part(name: bytes, value: bytes) -> bytes:
    return part([b'Content-Disposition: form-data; name="' + name + b'"'], value)


def file_part(upload: FilePart) -> bytes:
    return part([
        b'Content-Disposition: form-data; name="' + upload.name + b'"; filename="'
        + upload.filename + b'"',
        b"Content-Type: " + upload.content_type,
    ], upload.content)


def multipart(parts: list[bytes], boundary: bytes, *, closed: bool = True) -> bytes:
    body = b"".join(b"--" + boundary + CRLF + p + CRLF for p in parts)
    return body + (b"--" + boundary + b"--" + CRLF if closed else b"")


# --- values and mutations ---------------------------------------------------------------

INVALID_UTF8 = [b"\xff", b"\xfe\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                b"\x80\x80", b"abc\xe2\x82"]
WRONG_TYPES = [b"[]", b"{}", b"null", b"true", b"-1", b"1e309", b"0x10", b"NaN", b"3.14",
               b'{"a": [1, 2]}', b"\x00"]
MARKER = b"<script>alert('fz')</script>"  # must never come back unescaped
INJECTIONS = [MARKER, b"' OR 1=1 --", b"%(count)s %s %n", b"{{7*7}}", b"{0.__class__}",
              b"../../etc/passwd", b"${jndi:ldap://x/a}", b"\r\nSet-Cookie: x=1",
              b'"><img src=x onerror=alert(1)>']


def awkward_text(rng: random.Random, size: int) -> bytes:
    return "".join(rng.choice(AWKWARD) for _ in range(size)).encode("utf-8")


def garbage(rng: random.Random) -> bytes:
    """A value nobody's form would send."""
    kind = rng.randrange(8)
    if kind == 0:
        return awkward_text(rng, rng.randint(1, 40))
    if kind == 1:
        return b"x" + rng.choice(INVALID_UTF8) + b"y"
    if kind == 2:
        return rng.choice([b"A", b"9", "\u0928".encode(), b"%"]) * rng.choice(
            [1000, 65_535, 65_536, 65_537, 70_000])
    if kind == 3:
        return rng.choice(WRONG_TYPES)
    if kind == 4:
        return rng.choice(INJECTIONS)
    if kind == 5:
        return "".join(rng.choice(DIGITS[script]) for script in
                       rng.choices(list(DIGITS), k=rng.randint(1, 30))).encode()
    if kind == 6:
        return rng.choice([b"", b" ", b"\t\r\n", "\u3000".encode(), "\u200f\u202e".encode()])
    return bytes(rng.randrange(256) for _ in range(rng.randint(1, 60)))


def nudge(rng: random.Random, value: bytes) -> bytes:
    """A valid value a little wrong: one awkward character in, or one character out."""
    text = value.decode("utf-8", "replace")
    at = rng.randint(0, len(text))
    if rng.random() < 0.5 or not text:
        return (text[:at] + rng.choice(AWKWARD) + text[at:]).encode("utf-8")
    return (text[:at] + text[at + 1:]).encode("utf-8")


def mutate_fields(rng: random.Random, pairs: list[Pair]) -> tuple[list[Pair], str]:
    """Change the list of fields once or a few times; returns the new list and what was done."""
    pairs = list(pairs)
    done = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        how = rng.choice(["drop", "repeat", "garbage", "nudge", "rename", "extra", "many",
                          "swap", "empty-all"])
        if how != "many" and not pairs:
            continue
        at = rng.randrange(len(pairs)) if pairs else 0
        if how == "drop":
            pairs.pop(at)
        elif how == "repeat":
            pairs.insert(rng.randint(0, len(pairs)), (pairs[at][0], garbage(rng)))
        elif how == "garbage":
            pairs[at] = (pairs[at][0], garbage(rng))
        elif how == "nudge":
            pairs[at] = (pairs[at][0], nudge(rng, pairs[at][1]))
        elif how == "rename":
            name = pairs[at][0]
            pairs[at] = (rng.choice([name + b"[]", name.upper(), name + b"\x00", b"",
                                     name + b"\xff", b" " + name, name * 200]), pairs[at][1])
        elif how == "extra":
            pairs.insert(rng.randint(0, len(pairs)), (garbage(rng)[:100], garbage(rng)))
        elif how == "many":
            pairs += [(b"f%d" % n, b"v") for n in range(rng.choice([63, 64, 65, 500]))]
        elif how == "swap":
            other = rng.randrange(len(pairs))
            pairs[at], pairs[other] = (pairs[at][0], pairs[other][1]), (pairs[other][0],
                                                                       pairs[at][1])
        else:
            pairs = [(name, b"") for name, _ in pairs]
        done.append(how)
    return pairs, "+".join(done) or "none"


def broken_multipart(rng: random.Random, form: Form, boundary: bytes) -> tuple[bytes, bytes, str]:
    """A multipart body broken one way: returns the Content-Type, the body and the way."""
    parts = [field_part(n, v) for n, v in form.fields] + [file_part(f) for f in form.files]
    content_type = b"multipart/form-data; boundary=" + boundary
    how = rng.choice(["truncated", "other-boundary", "no-boundary", "empty-boundary",
                      "long-boundary", "odd-boundary", "unclosed", "no-headers",
                      "no-disposition", "no-name", "bad-name", "huge-header", "no-colon",
                      "lf-only", "nested", "preamble", "too-large-file", "too-many-parts",
                      "base64", "filename-games"])
    if how == "truncated":
        body = multipart(parts, boundary)
        return content_type, body[: rng.randint(0, max(0, len(body) - 1))], how
    if how == "other-boundary":
        return content_type, multipart(parts, boundary + b"X"), how
    if how == "no-boundary":
        return b"multipart/form-data", multipart(parts, boundary), how
    if how == "empty-boundary":
        return b"multipart/form-data; boundary=", multipart(parts, b""), how
    if how == "long-boundary":
        long = b"b" * rng.choice([71, 200, 5000])
        return b"multipart/form-data; boundary=" + long, multipart(parts, long), how
    if how == "odd-boundary":
        odd = rng.choice([b'"quoted b"', b"a b", b"\xff\xfe", b"--", b";", b"=="])
        return b"multipart/form-data; boundary=" + odd, multipart(parts, odd.strip(b'"')), how
    if how == "unclosed":
        return content_type, multipart(parts, boundary, closed=False), how
    if how == "no-headers":
        return content_type, multipart([CRLF + b"value"] + parts, boundary), how
    if how == "no-disposition":
        return content_type, multipart([part([b"Content-Type: text/plain"], b"v")] + parts,
                                       boundary), how
    if how == "no-name":
        return content_type, multipart([part([b"Content-Disposition: form-data"], b"v")]
                                       + parts, boundary), how
    if how == "bad-name":
        name = rng.choice([b"\xff\xfe", b"a\x00b", b'a"b', "\u202e".encode(), b"x" * 5000])
        return content_type, multipart([field_part(name, b"v")] + parts, boundary), how
    if how == "huge-header":
        line = b"X-Filler: " + b"h" * rng.choice([8_000, 100_000, 600_000])
        return content_type, multipart([part([line, b'Content-Disposition: form-data; '
                                              b'name="a"'], b"v")] + parts, boundary), how
    if how == "no-colon":
        return content_type, multipart([part([b"Content-Disposition form-data name=a"], b"v")]
                                       + parts, boundary), how
    if how == "lf-only":
        return content_type, multipart(parts, boundary).replace(CRLF, b"\n"), how
    if how == "nested":
        inner = multipart(parts, b"inner" + boundary)
        nested = part([b'Content-Disposition: form-data; name="files"',
                       b"Content-Type: multipart/mixed; boundary=inner" + boundary], inner)
        return content_type, multipart([nested] + parts, boundary), how
    if how == "preamble":
        return content_type, b"preamble\r\n" + multipart(parts, boundary) + b"epilogue", how
    if how == "too-large-file":
        big = FilePart(b"receipt", b"big.jpg", b"image/jpeg", b"\xff\xd8\xff" + b"0" * 300_000)
        return content_type, multipart(parts + [file_part(big)], boundary), how
    if how == "too-many-parts":
        extra = [field_part(b"f%d" % n, b"v") for n in range(70)]
        return content_type, multipart(parts + extra, boundary), how
    if how == "base64":
        encoded = part([b'Content-Disposition: form-data; name="reason"',
                        b"Content-Transfer-Encoding: base64"], b"SGVsbG8gd29ybGQ=")
        return content_type, multipart([encoded] + parts, boundary), how
    names = [b"../../etc/passwd", b"a\x00.jpg", b"\xff.jpg", b"C:\\x\\y.jpg", b"x" * 3000,
             "\u202egpj.exe".encode(), b""]
    games = [FilePart(b"receipt", rng.choice(names), b"image/jpeg", f.content) for f in form.files]
    return content_type, multipart(parts[: len(form.fields)] + [file_part(f) for f in games],
                                   boundary), how


class FuzzCase(Protocol):
    index: int
    route: str
    label: str


async def run_cases(
    port: int, cases: Sequence[FuzzCase], connections: int,
    exchange: Callable[[Connection, Any], Awaitable[Any]],
    problem: Callable[[Any, Any], str | None],
) -> tuple[list[str], Counter[int]]:
    """Every case sent over ``connections`` kept-alive connections; ``problem`` judges each
    answer (a ``Reply``, or what the run's ``exchange`` says went wrong instead). Returns
    the failures and the count of each status (0: no answer), after printing them by
    route."""
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    by_route: Counter[tuple[str, int]] = Counter()
    queue: asyncio.Queue[FuzzCase] = asyncio.Queue()
    for case in cases:
        queue.put_nowait(case)

    async def worker() -> None:
        connection = Connection(port)
        try:
            while not queue.empty():
                case = queue.get_nowait()
                try:
                    async with asyncio.timeout(60):
                        reply = await exchange(connection, case)
                except TimeoutError:
                    failures.append(f"#{case.index} {case.label}: no answer in 60 s")
                    await connection.close()
                    continue
                status = reply.status if isinstance(reply, Reply) else 0
                statuses[status] += 1
                by_route[case.route, status] += 1
                found = problem(case, reply)
                if found:
                    snippet = reply.text[:300] if isinstance(reply, Reply) else ""
                    failures.append(f"#{case.index} {case.label}: {found} {snippet!r}")
        finally:
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    for route in sorted({r for r, _ in by_route}):
        print(route, sorted((status, n) for (r, status), n in by_route.items() if r == route))
    return failures, statuses
