"""Reading form bodies under limits that hold while the body streams in.

Starlette's own parser spools file parts to disk without a cap, so a single part could
fill the disk before any check ran. Here every file part is counted as it arrives: past
the per-file limit we stop keeping it and remember that it was too large (the applicant
gets a message next to that field and keeps everything typed); past the body limit we
stop reading altogether and answer 413. A file stays in memory up to
``storage.SPOOL_BYTES`` and goes on in ``tmp/`` past it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import Request

from support.documents.storage import SPOOL_BYTES, StagedFile, sanitise_filename
from support.web.security import CSRF_FIELD, check_csrf

log = logging.getLogger("support.web")

MAX_FIELDS = 64
MAX_FIELD_BYTES = 64 * 1024
HEAD_BYTES = 16


def _text(value: str) -> str:
    """NUL is the one character PostgreSQL cannot store in text (a note or a reason with
    one failed the whole request); it becomes U+FFFD, as invalid UTF-8 already does."""
    return value.replace("\x00", "\ufffd")


class BodyTooLarge(Exception):
    """The whole request is over the limit: nothing of it is kept."""


class BadForm(Exception):
    """The body is not a form we can read (broken multipart, too many fields...)."""


@dataclass
class FormInput:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, StagedFile] = field(default_factory=dict)

    def get(self, name: str) -> str:
        values = self.fields.get(name)
        return values[0] if values else ""

    def discard_files(self) -> None:
        """Delete staged files that nobody took ownership of (a refusal, an error)."""
        for staged in self.files.values():
            staged.discard()


class _Part:
    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.name = ""
        self.filename: str | None = None
        self.data = bytearray()
        self.handle: IO[bytes] | None = None
        self.path: Path | None = None
        self.size = 0
        self.head = b""
        self.digest = hashlib.sha256()
        self.too_large = False
        self.unsaved = False


class _MultipartReader:
    def __init__(self, form: FormInput, tmp_dir: Path, max_file: int) -> None:
        self.form = form
        self.tmp_dir = tmp_dir
        self.max_file = max_file
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.count = 0

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self.header_name.lower()] = self.header_value
        self.header_name = b""
        self.header_value = b""

    def on_headers_finished(self) -> None:
        self.count += 1
        if self.count > MAX_FIELDS:
            raise BadForm("too many fields")
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise BadForm("a part has no name")
        self.part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            self.part.filename = options[b"filename"].decode("utf-8", "replace")

    def _spill(self) -> None:
        """The file outgrew ``SPOOL_BYTES``: go on in a temporary file, with what came so far."""
        part = self.part
        part.path = self.tmp_dir / f"upload-{secrets.token_hex(12)}"
        try:
            try:
                part.handle = part.path.open("wb")
            except FileNotFoundError:  # the first spilled upload: a mkdir each time blocked
                self.tmp_dir.mkdir(parents=True, exist_ok=True)
                part.handle = part.path.open("wb")
            part.handle.write(part.data)
        except OSError as exc:
            self._unsaved(exc)
        part.data = bytearray()

    def _unsaved(self, exc: OSError) -> None:
        """The disk is full (or failing): drop this file, and what was written of it, but
        keep reading the form, so everything typed comes back with a message next to the
        file (tests/test_faults.py). The kernel may refuse at the write or only at the
        close that flushes it, so both come here."""
        part = self.part
        log.warning("an upload could not be staged: %s", exc.strerror or type(exc).__name__)
        part.unsaved = True
        self._drop(part)

    @staticmethod
    def _drop(part: _Part) -> None:
        """Keep nothing more of this file: it is refused whatever else it holds."""
        part.data = bytearray()
        if part.handle is not None:
            with contextlib.suppress(OSError):  # its descriptor is closed even so
                part.handle.close()
            part.handle = None
        if part.path is not None:
            part.path.unlink(missing_ok=True)
            part.path = None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        part = self.part
        if part.filename is None:
            if len(part.data) + len(chunk) > MAX_FIELD_BYTES:
                raise BadForm(f"the field {part.name!r} is too long")
            part.data.extend(chunk)
            return
        part.size += len(chunk)
        if len(part.head) < HEAD_BYTES:
            part.head += chunk[: HEAD_BYTES - len(part.head)]
        if part.too_large or part.unsaved:  # read on, keep nothing
            return
        if part.size > self.max_file:
            part.too_large = True
            self._drop(part)
            return
        part.digest.update(chunk)
        if part.handle is None and part.size > SPOOL_BYTES:
            self._spill()
        if part.handle is None:
            if not part.unsaved:
                part.data.extend(chunk)
            return
        try:
            part.handle.write(chunk)
        except OSError as exc:
            self._unsaved(exc)

    def on_part_end(self) -> None:
        part = self.part
        if part.filename is None:
            self.form.fields.setdefault(part.name, []).append(
                _text(part.data.decode("utf-8", "replace")))
            return
        if part.handle is not None:
            try:
                part.handle.close()
            except OSError as exc:
                self._unsaved(exc)
        kept = not (part.too_large or part.unsaved)
        staged = StagedFile(
            field=part.name,
            original_name=sanitise_filename(part.filename or ""),
            size=part.size,
            sha256=part.digest.hexdigest(),
            too_large=part.too_large,
            head=part.head,
            unsaved=part.unsaved,
            path=part.path if kept else None,
            content=bytes(part.data) if kept and part.path is None else None,
        )
        no_file_chosen = part.size == 0 and not part.filename
        if no_file_chosen or part.name in self.form.files:
            staged.discard()  # an empty input, or a repeated field: the first one counts
        else:
            self.form.files[part.name] = staged

    def close_open_file(self) -> None:
        if self.part.handle is not None and not self.part.handle.closed:
            with contextlib.suppress(OSError):  # a full disk refuses the flush; unlink anyway
                self.part.handle.close()
            if self.part.path is not None:
                self.part.path.unlink(missing_ok=True)


async def read_form(request: Request, *, tmp_dir: Path, max_file: int, max_body: int) -> FormInput:
    """Parse a urlencoded or multipart body. Raises BodyTooLarge or BadForm; on either,
    nothing is left on disk."""
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > max_body:
        raise BodyTooLarge()
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    form = FormInput()
    received = 0
    if content_type == b"application/x-www-form-urlencoded":
        body = bytearray()
        async for chunk in request.stream():
            received += len(chunk)
            if received > min(max_body, MAX_FIELDS * MAX_FIELD_BYTES):
                raise BodyTooLarge()
            body.extend(chunk)
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        if len(pairs) > MAX_FIELDS:
            raise BadForm("too many fields")
        for name, value in pairs:
            form.fields.setdefault(name, []).append(_text(value))
        return form
    if not content_type:
        async for chunk in request.stream():
            if chunk:
                raise BadForm("a body without a content type")
        return form  # an empty POST: an empty form, refused later by the CSRF check
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise BadForm("not a form")
    reader = _MultipartReader(form, tmp_dir, max_file)
    callbacks = {
        name: getattr(reader, name)
        for name in (
            "on_part_begin", "on_header_field", "on_header_value", "on_header_end",
            "on_headers_finished", "on_part_data", "on_part_end",
        )
    }
    try:
        parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
    except FormParserError as exc:  # a boundary longer than any browser writes (> 256)
        raise BadForm("unusable multipart boundary") from exc
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_body:
                raise BodyTooLarge()
            parser.write(chunk)
        parser.finalize()
        if parser.state != MultipartState.END:  # python-multipart does not check (yet)
            # Cut off inside a part: what came is not the form that was sent, and the file
            # being written would be left behind open (found by tests/test_fuzz_http.py).
            raise BadForm("the body ends before its closing boundary")
    except FormParserError as exc:
        reader.close_open_file()
        form.discard_files()
        raise BadForm("broken multipart body") from exc
    except BaseException:
        reader.close_open_file()
        form.discard_files()
        raise
    return form


async def read_small_form(request: Request, max_body: int = 256 * 1024) -> FormInput:
    """A form without files (every action button, sign-in, look-up), CSRF-checked."""
    settings = request.app.state.settings
    form = await read_form(request, tmp_dir=settings.upload_tmp_dir, max_file=0,
                           max_body=max_body)
    form.discard_files()
    check_csrf(request, form.get(CSRF_FIELD), settings.base_url)
    return form
