"""The backup archive: one tar file, its members checked by a manifest that is itself
sealed.

A tar (POSIX pax) because any machine can list and unpack it without the desk, and
because it streams: members are written as they are read, each hashed on the way, and the
manifest goes last with every member's size and SHA-256, then ``manifest.sha256``, the
manifest's own digest. An archive cut short has no seal; one byte changed anywhere changes
a digest, a size or the tar's own header checksums. The archive is written as
``NAME.partial`` and renamed when whole, so a killed backup never leaves a file that looks
like a backup. It holds the secret key and personal data: it is created readable by its
owner only.

Names inside are fixed (``NAMES``); an archive with anything else (a link, a device, a
path that climbs out) is refused before a byte is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from support.documents.images import sync_folder

FORMAT = "support-backup"
VERSION = 1
MANIFEST = "manifest.json"
SEAL = "manifest.sha256"
DATABASE = "database/support.sqlite3"
SECRET = "secret_key"  # noqa: S105 - the member's name, not a secret
ERASURES = "erasures.log"
CHUNK = 1 << 20

NAMES = re.compile(
    r"(database/support\.sqlite3|secret_key|erasures\.log"
    r"|documents/[A-Za-z0-9_-]{2}/[A-Za-z0-9_-]{8,64}|spool/[A-Za-z0-9_.-]{1,100})")

Step = Callable[[int], None]  # bytes just read


class Damaged(Exception):
    """The archive is not a whole, unchanged backup; ``str`` says why, for the operator."""


@dataclass
class Manifest:
    created: str  # when the backup started, UTC, ISO 8601
    database: str  # "sqlite" (in the archive) or "postgresql" (backed up with its own tools)
    documents: str  # "disk" (in the archive), "bucket" (left in the bucket) or "none"
    scope: str  # "full", or "database" (migrate's own backup before it upgrades)
    migrations: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, list[Any]] = field(default_factory=dict)  # name: [size, sha256]
    format: str = FORMAT
    version: int = VERSION

    @property
    def bytes(self) -> int:
        return sum(size for size, _ in self.files.values())

    def documents_count(self) -> int:
        return sum(1 for name in self.files if name.startswith("documents/"))


class _Hashing(io.RawIOBase):
    """A file read through once, hashed as it goes, reporting bytes to ``step``."""

    def __init__(self, handle: IO[bytes], step: Step | None) -> None:
        self.handle, self.step, self.digest = handle, step, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        if self.step is not None and data:
            self.step(len(data))
        return data


class Writer:
    """An archive being written. ``add_*`` each member, then ``finish`` (or ``abort``)."""

    def __init__(self, path: Path, step: Step | None = None) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.step = step
        self.files: dict[str, list[Any]] = {}
        descriptor = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.handle = os.fdopen(descriptor, "wb")
        self.tar = tarfile.open(  # noqa: SIM115 - closed by finish or abort
            fileobj=self.handle, mode="w|", format=tarfile.PAX_FORMAT)

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, int(time.time()), 0o600
        return info

    def add_file(self, name: str, path: Path) -> bool:
        """Add the file at ``path`` as it is now; False if it is gone (erased meanwhile).
        Opened first and sized from the open file: a document replaced or deleted while
        it is read is read whole from what was opened."""
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return False
        with handle:
            size = os.fstat(handle.fileno()).st_size
            reading = _Hashing(handle, self.step)
            self.tar.addfile(self._info(name, size), reading)
        self.files[name] = [size, reading.digest.hexdigest()]
        return True

    def add_bytes(self, name: str, data: bytes) -> None:
        self.tar.addfile(self._info(name, len(data)), io.BytesIO(data))
        self.files[name] = [len(data), hashlib.sha256(data).hexdigest()]

    def finish(self, manifest: Manifest) -> Manifest:
        manifest.files = dict(self.files)
        text = json.dumps(asdict(manifest), indent=1, sort_keys=True).encode()
        self.tar.addfile(self._info(MANIFEST, len(text)), io.BytesIO(text))
        seal = hashlib.sha256(text).hexdigest().encode() + b"\n"
        self.tar.addfile(self._info(SEAL, len(seal)), io.BytesIO(seal))
        self.tar.close()
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.partial, self.path)
        sync_folder(self.path.parent)
        return manifest

    def abort(self) -> None:
        for closing in (self.tar.close, self.handle.close):
            with contextlib.suppress(OSError, tarfile.TarError):
                closing()
        self.partial.unlink(missing_ok=True)


def _members(path: Path, step: Step | None,
             spans: list[tuple[int, int]]) -> Iterator[tuple[str, IO[bytes] | None, int]]:
    """Each member's name, contents and size, read from the start; raises ``Damaged``
    for anything that is not a plain file with a name of ours. Each member's bytes (its
    header and its data) are added to ``spans``: the rest of the file must be zeros."""
    try:
        with tarfile.open(path, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    raise Damaged(f"it holds {member.name!r}, which is not a plain file")
                name = member.name
                if name not in (MANIFEST, SEAL) and not NAMES.fullmatch(name):
                    raise Damaged(f"it holds {name!r}, which no backup holds")
                spans.append((member.offset, member.offset_data + member.size))
                contents = tar.extractfile(member)
                yield name, contents, member.size
    except (tarfile.TarError, EOFError) as exc:
        raise Damaged(f"it is cut short or is not a tar file ({exc})") from exc
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise Damaged("there is no such file") from exc
        raise Damaged(f"it cannot be read ({exc.strerror or exc})") from exc


def _copy(contents: IO[bytes], size: int, out: IO[bytes] | None, step: Step | None) -> str:
    digest = hashlib.sha256()
    left = size
    while left > 0:
        data = contents.read(min(CHUNK, left))
        if not data:
            raise Damaged("it is cut short")
        digest.update(data)
        if out is not None:
            out.write(data)
        if step is not None:
            step(len(data))
        left -= len(data)
    return digest.hexdigest()


def read(path: Path, step: Step | None = None,
         place: Callable[[str], Path] | None = None) -> Manifest:
    """Check every member of the archive at ``path`` against its sealed manifest, and
    return the manifest; raises ``Damaged`` saying what is wrong. With ``place``, each
    member is also written to ``place(name)`` (the caller removes them if it raises)."""
    _whole_records(path)
    try:
        return _read(path, step, place)
    except (tarfile.TarError, EOFError) as exc:  # raised while a member is being read
        raise Damaged(f"it is cut short or is not a tar file ({exc})") from exc


def _whole_records(path: Path) -> None:
    """A tar ends in two zero blocks, padded to whole records: an archive cut anywhere,
    even in that padding after every member, is refused (the members alone could pass)."""
    try:
        with path.open("rb") as handle:
            length = os.fstat(handle.fileno()).st_size
            if length == 0 or length % tarfile.RECORDSIZE:
                raise Damaged("it is cut short (it does not end where a tar file ends)")
            handle.seek(length - 2 * tarfile.BLOCKSIZE)
            if handle.read(2 * tarfile.BLOCKSIZE).strip(b"\0"):
                raise Damaged("it is cut short (it has no end-of-archive marker)")
    except FileNotFoundError as exc:
        raise Damaged("there is no such file") from exc


def _read(path: Path, step: Step | None, place: Callable[[str], Path] | None) -> Manifest:
    found: dict[str, list[Any]] = {}
    manifest_text: bytes | None = None
    seal: bytes | None = None
    spans: list[tuple[int, int]] = []
    for name, contents, size in _members(path, step, spans):
        assert contents is not None
        if name in found or (name == MANIFEST and manifest_text is not None):
            raise Damaged(f"it holds {name!r} twice")
        if name in (MANIFEST, SEAL):
            if size > 64 << 20:
                raise Damaged(f"its {name} is too large")
            data = contents.read(size)
            if name == MANIFEST:
                manifest_text = data
            else:
                seal = data
            continue
        if manifest_text is not None:
            raise Damaged(f"it holds {name!r} after its manifest")
        if place is None:
            found[name] = [size, _copy(contents, size, None, step)]
            continue
        target = place(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                       "wb") as out:
            found[name] = [size, _copy(contents, size, out, step)]
    manifest = _checked(found, manifest_text, seal)
    _zeros_between(path, spans)
    return manifest


def _zeros_between(path: Path, spans: list[tuple[int, int]]) -> None:
    """Between the members and after the last, a tar holds only zeros (padding to 512-byte
    blocks, the end-of-archive blocks): no checksum covers them, so a byte changed there is
    found here, and an archive is refused for any byte changed anywhere."""
    with path.open("rb") as handle:
        length = os.fstat(handle.fileno()).st_size
        starts = [start for start, _ in spans[1:]] + [length]
        for (_, end), following in zip(spans, starts, strict=True):
            handle.seek(end)
            left = following - end
            while left > 0:
                data = handle.read(min(CHUNK, left))
                if not data or data.strip(b"\0"):
                    raise Damaged("a byte between its files has changed")
                left -= len(data)


def _checked(found: dict[str, list[Any]], manifest_text: bytes | None,
             seal: bytes | None) -> Manifest:
    if manifest_text is None or seal is None:
        raise Damaged("it is cut short: its manifest or the manifest's seal is missing")
    if hashlib.sha256(manifest_text).hexdigest() != seal.decode("ascii", "replace").strip():
        raise Damaged("its manifest does not match its seal")
    try:
        fields = json.loads(manifest_text)
        manifest = Manifest(**fields)
    except (ValueError, TypeError) as exc:
        raise Damaged("its manifest cannot be read") from exc
    if manifest.format != FORMAT or manifest.version != VERSION:
        raise Damaged(f"it is not a {FORMAT} archive of version {VERSION}")
    for name, (size, digest) in manifest.files.items():
        if name not in found:
            raise Damaged(f"{name} is missing")
        if found[name] != [size, digest]:
            raise Damaged(f"{name} has changed since the backup (its checksum differs)")
    extra = sorted(set(found) - set(manifest.files))
    if extra:
        raise Damaged(f"{extra[0]} is not in its manifest")
    return manifest


def staging_beside(target: Path) -> Path:
    """A new folder next to ``target`` (same filesystem, so a rename moves it into place)."""
    folder = target.parent / f".{target.name}.restoring-{secrets.token_hex(4)}"
    folder.mkdir(parents=True, mode=0o700)
    return folder
