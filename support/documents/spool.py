"""Where an upload held in memory waits until the worker files it: append-only files.

Why not a file per upload, as before: B1 found that creating a file is the dearest thing a
submission does on this machine's file system (ext4 without a journal): 70 µs of the web
process's CPU when nothing was deleted lately, and up to 760 µs after many deletions,
because such a file system skips every inode freed in the last minute (five while its
block is unwritten) and reads that inode's table block to know it. Every document is
filed again by the worker anyway (a photo is re-encoded, ``documents.filing``), which
made the upload's own file a staging copy paid for twice: created in the request, then
replaced, and so freed, by the worker. Now each web process appends its uploads to one
open spool file and the worker writes each document's file once, when it makes it safe.
No reviewer is ever served from the spool.

A spool file takes appends from one process for at most ``SEGMENT_SECONDS`` or
``SEGMENT_BYTES`` and is then left for a new one. It is deleted (``sweep``) once no
document waits in it and nothing was appended for ``KEEP_SECONDS``: far longer than the
transaction that follows an append lasts, so a row that points into a spool file is never
committed after that file went. What a refused or rolled-back submission appended stays
until then, unread, and so do the uploads of an application erased before the worker
filed them (minutes, not the retention period).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SEGMENT_BYTES = 64 * 1024 * 1024
SEGMENT_SECONDS = 60.0
KEEP_SECONDS = 600.0

_NAME = re.compile(r"[0-9]{10,}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Place:
    """Where one upload's bytes are: stored on its document as ``segment:offset:length``."""

    segment: str
    offset: int
    length: int

    def __str__(self) -> str:
        return f"{self.segment}:{self.offset}:{self.length}"

    @classmethod
    def parse(cls, text: str) -> Place:
        """Raises ValueError for anything ``str`` did not write (never a path)."""
        segment, offset, length = text.split(":")
        if not _NAME.fullmatch(segment) or not offset.isdigit() or not length.isdigit():
            raise ValueError("not a spool place")
        return cls(segment, int(offset), int(length))


@dataclass
class _Segment:
    name: str
    descriptor: int
    size: int
    opened: float  # time.monotonic()
    pid: int


class Spool:
    """This process's appends under ``root``, and reading them back from any process."""

    def __init__(self, root: Path, segment_bytes: int = SEGMENT_BYTES,
                 segment_seconds: float = SEGMENT_SECONDS) -> None:
        self.root = root
        self.segment_bytes = segment_bytes
        self.segment_seconds = segment_seconds
        self._current: _Segment | None = None

    def append(self, data: bytes) -> Place:
        """Write ``data`` at the end of this process's spool file and say where. Raises
        ``OSError`` when the disk refuses; what was written of it is cut off again."""
        segment = self._segment_for(len(data))
        offset = segment.size
        try:
            view = memoryview(data)
            while view:
                written = os.write(segment.descriptor, view)
                view = view[written:]
        except OSError:
            self._cut_back(segment, offset)
            raise
        segment.size = offset + len(data)
        return Place(segment.name, offset, len(data))

    def read(self, place: Place) -> bytes:
        """The bytes appended at ``place``. Raises ``FileNotFoundError`` if its spool file
        is gone or shorter than the place (not the bytes that were appended)."""
        descriptor = os.open(self.root / place.segment, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.pread(descriptor, place.length, place.offset)
        finally:
            os.close(descriptor)
        if len(data) != place.length:
            raise FileNotFoundError(f"spool file {place.segment} is cut short")
        return data

    def sweep(self, waiting: Iterable[str], now: float | None = None) -> int:
        """Delete spool files that no waiting document points into (``waiting``: their
        segment names) and that took no append for ``KEEP_SECONDS``; return how many."""
        now = time.time() if now is None else now
        keep = set(waiting)
        if self._current is not None:
            keep.add(self._current.name)
        deleted = 0
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if not _NAME.fullmatch(entry.name) or entry.name in keep:
                continue
            try:
                if entry.stat().st_mtime > now - KEEP_SECONDS:
                    continue
                os.unlink(entry.path)
            except FileNotFoundError:  # another worker swept it first
                continue
            deleted += 1
        return deleted

    def close(self) -> None:
        if self._current is not None and self._current.pid == os.getpid():
            os.close(self._current.descriptor)
        self._current = None

    def _segment_for(self, length: int) -> _Segment:
        """The current spool file, or a new one when it is full, old, or the parent's (a
        forked web process must not append to its parent's file)."""
        current = self._current
        if current is not None and (
            current.pid != os.getpid()
            or (current.size and current.size + length > self.segment_bytes)
            or time.monotonic() - current.opened > self.segment_seconds
        ):
            self.close()
            current = None
        if current is None:
            current = self._current = self._new_segment()
        return current

    def _new_segment(self) -> _Segment:
        name = f"{int(time.time()):010d}-{secrets.token_hex(6)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        try:
            descriptor = os.open(self.root / name, flags, 0o600)
        except FileNotFoundError:  # the first upload of a new data dir
            self.root.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.root / name, flags, 0o600)
        return _Segment(name, descriptor, 0, time.monotonic(), os.getpid())

    def _cut_back(self, segment: _Segment, size: int) -> None:
        """Undo a partial append; if even that fails, leave the file for a new one."""
        try:
            os.ftruncate(segment.descriptor, size)
        except OSError:
            self.close()


_spools: dict[Path, Spool] = {}


def of(root: Path) -> Spool:
    """The process's one spool under ``root``: its open file is reused by every request."""
    spool = _spools.get(root)
    if spool is None:
        spool = _spools[root] = Spool(root)
    return spool


def release(root: Path) -> None:
    """Close the process's spool file under ``root`` (the app's shutdown; tests start
    many apps in one process)."""
    spool = _spools.pop(root, None)
    if spool is not None:
        spool.close()
