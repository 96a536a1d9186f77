"""Where documents are kept: the data dir's ``documents/`` folder (``DiskStore``, the
default) or an S3-compatible bucket (``BucketStore``, ``SUPPORT_STORAGE_URL``).

Every place that reaches a document's bytes goes through this interface, never a path of
its own: the submission placing an upload (``put``), the worker making it safe
(``make_safe``, then ``filed``), the reviewer's view (``open``) and the pictures drawn of
it (``local_copy``), erasure and retention (``delete``), the sweep of leftovers (``keys``).
So with a bucket no process relies on another's disk: each keeps only its own temporary
files, and an upload is in the bucket before its application's row is committed.

With a bucket, a document has two objects, never overwritten (``If-None-Match: *``):
``uploads/KEY``, the file as it came, until the worker has written ``documents/KEY``, the
safe copy reviewers are served. ``delete`` removes both, so an erasure or a purge that
meets a document the worker has not reached yet leaves nothing behind.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import itertools
import logging
import os
import re
import secrets
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from support.documents import spool
from support.documents.storage import KEY_ALPHABET, NotStored, Placed, StagedFile

if TYPE_CHECKING:
    from support.config import Bucket, Settings
    from support.documents.objects import ObjectStore

log = logging.getLogger("support.storage")

class AlreadyStored(Exception):
    """A key is never written twice: the bucket refused the second write (412)."""


class StorageUnavailable(OSError):
    """The bucket could not be reached or refused us; nothing was written. Says what
    happened in the operator's words, never a document's name. An ``OSError``: callers
    already treat a failing disk as "try again later", and a bucket out of reach is the
    same to them."""


# Document.spooled of an upload that waits in the bucket (``uploads/KEY``), not in a
# process's spool: any worker on any machine can file it.
IN_BUCKET = "bucket"
UPLOADS, DOCUMENTS = "uploads/", "documents/"
_KEY = re.compile(r"[A-Za-z0-9_-]{20,64}")

# Makes a document safe: (the upload's bytes or its file, where the safe copy goes) ->
# the safe copy's size. ``storage.sanitise`` with its limits bound; run in a thread.
Work = Callable[[bytes | Path, Path], int]


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError("not a storage key")
    return key


@dataclass(frozen=True)
class Opened:
    """A safe document to send: a file on this machine, or its bytes as they arrive."""

    size: int
    path: Path | None = None
    pieces: AsyncIterator[bytes] | None = None


@dataclass(frozen=True)
class Stored:
    """A key found in the store by ``keys``, and when its file or object was written."""

    key: str
    modified: float
    delete_name: str  # what ``forget`` removes (a path, or an object's name)


class DocumentStore(abc.ABC):
    """The interface both stores keep (the docstring of the module says who calls what);
    the abstract methods are what each must do its own way."""

    spool: spool.Spool | None = None  # uploads held in memory wait here (disk only)

    @classmethod
    def of(cls, settings: Settings) -> DocumentStore:
        bucket = settings.storage
        if bucket is None:
            return DiskStore(settings.documents_dir, spool.of(settings.spool_dir))
        return BucketStore(bucket, settings.upload_tmp_dir)

    def prepare(self) -> None:
        """Run at start-up, before any request."""
        return  # by default nothing: a bucket needs no folders made

    @abc.abstractmethod
    async def put(self, staged: StagedFile) -> Placed:
        """Give an upload a new key and keep it until the worker files it. Raises
        ``NotStored`` if the disk or the bucket refuses, leaving nothing behind."""

    @abc.abstractmethod
    async def make_safe(self, key: str, spooled: str | None, work: Work) -> int:
        """Run ``work`` on the upload and keep the safe copy under ``key``; its size.
        Raises ``FileNotFoundError`` if the upload is gone, ``OSError`` if the store
        cannot be reached (try again later), and whatever ``work`` raises."""

    async def filed(self, key: str) -> None:
        """The row says the safe copy is kept: what waited for the worker may go."""
        return  # by default nothing: on disk the safe copy replaced the upload

    async def keep_as_uploaded(self, key: str, spooled: str | None) -> None:
        """Our code failed on this upload: keep it as it came, for an operator."""
        return  # by default nothing: a bucket keeps it under uploads/ already

    @abc.abstractmethod
    async def open(self, key: str) -> Opened:
        """The safe copy, to send. Raises ``FileNotFoundError`` or ``OSError``."""

    @abc.abstractmethod
    def local_copy(self, key: str) -> contextlib.AbstractAsyncContextManager[Path]:
        """A file on this machine holding the safe copy, for as long as the block runs."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Everything kept under ``key`` goes; nothing there is not an error."""

    @abc.abstractmethod
    def keys(self) -> AsyncIterator[list[Stored]]:
        """Every key kept, a batch at a time (``sweep``), and unfinished copies' names."""

    @abc.abstractmethod
    async def forget(self, found: Stored) -> bool:
        """Delete what ``keys`` found (the sweep's orphans); False if already gone."""


class DiskStore(DocumentStore):
    """Files on local disk under random keys, in 4,096 folders named by a key's first two
    characters. The spool (``spool``) holds uploads until their file is written; it and
    the documents must be where every web process and worker can read them: one machine,
    or a shared volume.

    ``put`` does its work on the event loop: a file in memory is at most ``SPOOL_BYTES``
    and only appended, a spilled one only renamed (why: ``workflow.applicant._Filing``).
    ``prepare`` makes 4,096 folders: run it at start-up, not in a request."""

    def __init__(self, root: Path, spooled: spool.Spool) -> None:
        self.root = root
        self.spool = self._spool = spooled

    def path(self, key: str) -> Path:
        return self.root / check_key(key)[:2] / key

    def prepare(self) -> None:
        """Make every folder a key can fall in. On a new desk nearly every upload would
        otherwise make one (about 0.8 ms each on a VM's disk, B1); cheap once they exist.
        ``put`` still makes a missing one."""
        for first, second in itertools.product(KEY_ALPHABET, repeat=2):
            (self.root / (first + second)).mkdir(parents=True, exist_ok=True)

    async def put(self, staged: StagedFile) -> Placed:
        """A file in memory is appended to the spool (the worker writes it under its key),
        a spilled one is moved there (same filesystem, so atomic)."""
        key = secrets.token_urlsafe(24)
        try:
            if staged.path is None:
                return Placed(key, str(self._spool.append(staged.read())))
            target = self.path(key)
            try:
                os.replace(staged.path, target)
            except FileNotFoundError:  # its folder is new: see ``prepare``
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged.path, target)
        except OSError as exc:
            log.warning("a document could not be stored: %s",
                        exc.strerror or type(exc).__name__)
            raise NotStored(staged.field) from exc
        return Placed(key)

    def source(self, key: str, spooled: str | None) -> bytes | Path:
        """What was uploaded: its bytes while it waits in the spool, else its file.
        Raises ``FileNotFoundError`` if the spool file is gone."""
        if spooled is None:
            return self.path(key)
        return self._spool.read(spool.Place.parse(spooled))

    async def make_safe(self, key: str, spooled: str | None, work: Work) -> int:
        def in_thread() -> int:
            source = self.source(key, spooled)
            target = self.path(key)
            target.parent.mkdir(parents=True, exist_ok=True)  # made by ``prepare``
            return work(source, target)

        return await asyncio.to_thread(in_thread)

    async def keep_as_uploaded(self, key: str, spooled: str | None) -> None:
        if spooled is None:  # a spilled upload: already under its key, as it came
            return

        def in_thread() -> None:
            target = self.path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self._spool.read(spool.Place.parse(spooled)))

        await asyncio.to_thread(in_thread)

    async def open(self, key: str) -> Opened:
        path = self.path(key)
        return Opened(size=path.stat().st_size, path=path)

    @contextlib.asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        yield self.path(key)

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    async def keys(self) -> AsyncIterator[list[Stored]]:
        """A key folder at a time, read in a thread: the store may hold millions."""
        for folder in await asyncio.to_thread(self._folders):
            found = await asyncio.to_thread(self._read_folder, folder)
            if found:
                yield found

    def _folders(self) -> list[Path]:
        try:
            return sorted(Path(entry.path) for entry in os.scandir(self.root)
                          if len(entry.name) == 2 and entry.is_dir(follow_symlinks=False))
        except FileNotFoundError:  # nothing stored yet
            return []

    def _read_folder(self, folder: Path) -> list[Stored]:
        """The keys kept in ``folder`` (only where ``path`` puts them) and the unfinished
        copies of a worker that died (``images.replace_atomically``), key ``""``."""
        found: list[Stored] = []
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return found
        for entry in entries:
            is_key = _KEY.fullmatch(entry.name) and entry.name[:2] == folder.name
            if not is_key and not entry.name.startswith(UNFINISHED):
                continue
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if entry.is_file(follow_symlinks=False):
                found.append(Stored(entry.name if is_key else "", stat.st_mtime, entry.path))
        return found

    async def forget(self, found: Stored) -> bool:
        try:
            os.unlink(found.delete_name)
        except FileNotFoundError:  # another worker swept it first
            return False
        return True


UNFINISHED = ".sanitising-"  # images.replace_atomically's prefix


class BucketStore(DocumentStore):
    """Objects in an S3-compatible bucket: ``uploads/KEY`` until the worker files it,
    ``documents/KEY`` after. This process's temporary files (a large upload's, the
    worker's copy being made safe, a PDF being drawn) stay in its own ``tmp/``."""

    def __init__(self, bucket: Bucket, tmp: Path) -> None:
        self.bucket = bucket
        self.tmp = tmp

    async def _objects(self) -> ObjectStore:
        return await client_of(self.bucket)

    async def check(self) -> str | None:
        """What is wrong with the bucket's settings, if anything (a process's start);
        raises ``StorageUnavailable`` when it is only out of reach."""
        return await (await self._objects()).check()

    async def put(self, staged: StagedFile) -> Placed:
        """Sent to ``uploads/KEY`` before the application's row is written: a process
        that dies after this leaves an object the sweep removes, never a row without it."""
        key = secrets.token_urlsafe(24)
        try:
            objects = await self._objects()
            await objects.put(UPLOADS + key, staged.path if staged.path is not None
                              else staged.read())
        except OSError as exc:
            log.warning("a document could not be stored: %s", exc)
            raise NotStored(staged.field) from exc
        if staged.path is not None:
            staged.path.unlink(missing_ok=True)  # kept in the bucket now
        return Placed(key, IN_BUCKET)

    async def make_safe(self, key: str, spooled: str | None, work: Work) -> int:
        """The upload fetched into ``tmp/``, made safe there and sent to ``documents/KEY``.
        A copy already there (a worker that died before marking its row, or two workers
        on one document) is the same safe file: it stands."""
        objects = await self._objects()
        self.tmp.mkdir(parents=True, exist_ok=True)
        local = self.tmp / f"filing-{secrets.token_hex(12)}"
        try:
            try:
                await objects.download(UPLOADS + check_key(key), local)
            except FileNotFoundError:
                # Filed already (a worker died before it marked the row, or the row was
                # marked pending again): the copy there is checked, as a spilled upload's
                # file is on disk, and stands if it passes; a key is never written twice.
                size = await objects.download(DOCUMENTS + key, local)
                await asyncio.to_thread(work, local, local)
                return size
            size = await asyncio.to_thread(work, local, local)
            with contextlib.suppress(AlreadyStored):
                await objects.put(DOCUMENTS + key, local)
            return size
        finally:
            local.unlink(missing_ok=True)

    async def filed(self, key: str) -> None:
        with contextlib.suppress(OSError):  # the sweep removes it if this fails
            await (await self._objects()).delete(UPLOADS + check_key(key))

    async def open(self, key: str) -> Opened:
        size, pieces = await (await self._objects()).open(DOCUMENTS + check_key(key))
        return Opened(size=size, pieces=pieces)

    @contextlib.asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        self.tmp.mkdir(parents=True, exist_ok=True)
        local = self.tmp / f"view-{secrets.token_hex(12)}"
        try:
            await (await self._objects()).download(DOCUMENTS + check_key(key), local)
            yield local
        finally:
            local.unlink(missing_ok=True)

    async def delete(self, key: str) -> None:
        objects = await self._objects()
        await objects.delete(DOCUMENTS + check_key(key))
        await objects.delete(UPLOADS + key)

    async def keys(self) -> AsyncIterator[list[Stored]]:
        objects = await self._objects()
        for under in (DOCUMENTS, UPLOADS):
            async for page in objects.listing(under):
                found = [Stored(item.name[len(under):], item.modified, item.name)
                         for item in page if _KEY.fullmatch(item.name[len(under):])]
                if found:
                    yield found

    async def forget(self, found: Stored) -> bool:
        await (await self._objects()).delete(found.delete_name)
        return True


# One client per account per event loop: a client's connections belong to the loop that
# made them (tests and the CLI run several loops in one process), and one client serves
# every bucket and prefix its keys open.
_Account = tuple[str | None, str, str, str]
_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[_Account, ObjectStore]] = weakref.WeakKeyDictionary()
_connecting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = \
    weakref.WeakKeyDictionary()


async def client_of(bucket: Bucket) -> ObjectStore:
    loop = asyncio.get_running_loop()
    clients = _clients.setdefault(loop, {})
    account = (bucket.endpoint, bucket.region, bucket.access_key, bucket.secret_key)
    found = clients.get(account)
    if found is None:
        async with _connecting.setdefault(loop, asyncio.Lock()):
            found = clients.get(account)
            if found is None:
                # Deferred: aiohttp and botocore cost a process 37 MB (B4), and a desk
                # whose documents are on disk never needs them.
                from support.documents.objects import ObjectStore

                found = ObjectStore(bucket)
                try:
                    await found.connect()
                except Exception as error:  # noqa: BLE001 - said as "out of reach"
                    raise StorageUnavailable(
                        f"object storage client: {type(error).__name__}") from None
                clients[account] = found
    return found.sharing(bucket)


async def close_clients() -> None:
    """Close this loop's bucket clients (the app's shutdown, the worker's, a command's)."""
    clients = _clients.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.close()
