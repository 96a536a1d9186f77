"""Documents in S3-compatible object storage (issue 24): where the store's files go when
``SUPPORT_STORAGE_URL`` is ``s3://BUCKET/PREFIX?endpoint=…&region=…``, so web processes
and workers on different machines share them without a shared disk.

aiobotocore, not obstore: a create-only put (``If-None-Match: *``, so a key is never
overwritten) streams from its file through aiobotocore, where obstore holds any conditional
put whole in memory (tests/servers/radosgw.py: 194 MB for a 100 MB file against 2 MB),
and B4's ceiling is 200 MB for 50 large uploads at once.

This is the client; ``store.BucketStore`` is the document store built on it. Every failure
to reach the bucket (connection refused, a timeout, a 5xx, refused credentials) is raised
as ``StorageUnavailable``, an ``OSError``: the callers already treat a failing disk as
"try again later", and a bucket out of reach is the same to them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from support.config import Bucket, StorageUrlError, parse_storage_url
from support.documents.store import AlreadyStored, StorageUnavailable

__all__ = ["AlreadyStored", "Bucket", "ObjectStore", "StorageUnavailable", "StorageUrlError",
           "parse_storage_url"]

# Read back in pieces this large: a reviewer's download is streamed, never held whole.
CHUNK = 256 * 1024


# Short waits: an applicant's submission waits on the put, and a gateway that is down
# must become a clear "try again" in seconds, not after botocore's minute of retries.
_CONFIG = Config(
    # Path-style addressing: a self-hosted gateway on an address has no bucket subdomains.
    # Checksums only where required: radosgw 16 predates the newer defaults' trailers.
    s3={"addressing_style": "path"},
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
    connect_timeout=3, read_timeout=30,
    retries={"max_attempts": 2, "mode": "standard"},
)


@contextlib.contextmanager
def _reaching(storage_key: str, missing_ok: bool = False) -> Iterator[None]:
    """Turn the client's errors into ours: 404 ``FileNotFoundError``, 412 ``AlreadyStored``,
    the rest ``StorageUnavailable``."""
    try:
        yield
    except ClientError as error:
        status = _status(error)
        if status == 404 and not missing_ok:
            raise FileNotFoundError(storage_key) from None
        if status == 412:
            raise AlreadyStored(storage_key) from None
        code = error.response.get("Error", {}).get("Code", "")
        raise StorageUnavailable(f"object storage answered {status} {code}".strip()) from None
    except BotoCoreError as error:
        raise StorageUnavailable(f"object storage out of reach ({type(error).__name__})") \
            from None


@dataclass(frozen=True)
class Listed:
    """One object under the store's prefix: its name after the prefix, and when written."""

    name: str
    modified: float  # Unix time


class ObjectStore:
    """One bucket (and prefix), through a client of its own (``connect``) or one shared
    with other prefixes of the same account (``store.client_of`` keeps one a loop)."""

    def __init__(self, bucket: Bucket, client: Any = None) -> None:
        self.bucket = bucket
        self._client: Any = client
        self._stack: contextlib.AsyncExitStack | None = None

    def sharing(self, bucket: Bucket) -> ObjectStore:
        """Another bucket or prefix through this one's client and connections."""
        return ObjectStore(bucket, self._client)

    async def connect(self) -> None:
        session = get_session()
        self._stack = contextlib.AsyncExitStack()
        self._client = await self._stack.enter_async_context(session.create_client(
            "s3", region_name=self.bucket.region, endpoint_url=self.bucket.endpoint,
            aws_access_key_id=self.bucket.access_key,
            aws_secret_access_key=self.bucket.secret_key, config=_CONFIG,
        ))

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._client = self._stack = None

    async def put(self, storage_key: str, source: bytes | Path) -> None:
        """Write once: raises ``AlreadyStored`` if the key exists (``If-None-Match: *``).
        A file is streamed from disk, not read whole."""
        with contextlib.ExitStack() as files, _reaching(storage_key):
            body: Any = source if isinstance(source, bytes) else \
                files.enter_context(source.open("rb"))
            await self._client.put_object(Bucket=self.bucket.name,
                                          Key=self.bucket.key(storage_key), Body=body,
                                          IfNoneMatch="*")

    async def open(self, storage_key: str) -> tuple[int, AsyncIterator[bytes]]:
        """The object's size and its bytes, ``CHUNK`` at a time; the request is made here,
        so a missing object raises ``FileNotFoundError`` before anything is sent on."""
        with _reaching(storage_key):
            answer = await self._client.get_object(Bucket=self.bucket.name,
                                                   Key=self.bucket.key(storage_key))
        return int(answer["ContentLength"]), self._pieces(storage_key, answer["Body"])

    async def _pieces(self, storage_key: str, body: Any) -> AsyncIterator[bytes]:
        async with body as stream:
            while True:
                with _reaching(storage_key):
                    chunk = await stream.read(CHUNK)
                if not chunk:
                    return
                yield chunk

    async def chunks(self, storage_key: str) -> AsyncIterator[bytes]:
        """The object's bytes, ``CHUNK`` at a time. Raises ``FileNotFoundError``."""
        _size, pieces = await self.open(storage_key)
        async for chunk in pieces:
            yield chunk

    async def read(self, storage_key: str) -> bytes:
        return b"".join([chunk async for chunk in self.chunks(storage_key)])

    async def download(self, storage_key: str, target: Path) -> int:
        """The object written to ``target`` (a new file), a piece at a time; its size."""
        _size, pieces = await self.open(storage_key)
        written = 0
        with target.open("xb") as out:
            async for chunk in pieces:
                out.write(chunk)
                written += len(chunk)
        return written

    async def delete(self, storage_key: str) -> None:
        """Gone, or was never there (S3's DELETE is idempotent)."""
        with _reaching(storage_key, missing_ok=True):
            await self._client.delete_object(Bucket=self.bucket.name,
                                             Key=self.bucket.key(storage_key))

    async def size(self, storage_key: str) -> int | None:
        """The object's size, or None if there is none."""
        try:
            with _reaching(storage_key):
                answer = await self._client.head_object(Bucket=self.bucket.name,
                                                        Key=self.bucket.key(storage_key))
        except FileNotFoundError:
            return None
        return int(answer["ContentLength"])

    async def exists(self, storage_key: str) -> bool:
        return await self.size(storage_key) is not None

    async def check(self) -> str | None:
        """None if the bucket answers to these keys, else what is wrong, in a line for the
        operator. Raises ``StorageUnavailable`` if it cannot be reached at all."""
        try:
            await self._client.list_objects_v2(Bucket=self.bucket.name,
                                               Prefix=self.bucket.prefix, MaxKeys=1)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "NoSuchBucket":
                return f"there is no bucket named {self.bucket.name!r}"
            if _status(error) in {401, 403}:
                return f"the bucket {self.bucket.name!r} refused these keys ({code})"
            raise StorageUnavailable(f"object storage answered {_status(error)} {code}") \
                from None
        except BotoCoreError as error:
            raise StorageUnavailable(f"object storage out of reach ({type(error).__name__})") \
                from None
        return None

    async def listing(self, under: str) -> AsyncIterator[list[Listed]]:
        """The objects whose names start with ``under`` (after the prefix), a page of up to
        1,000 at a time: the store may hold millions."""
        paginator = self._client.get_paginator("list_objects_v2")
        prefix = self.bucket.key(under)
        pages = paginator.paginate(Bucket=self.bucket.name, Prefix=prefix).__aiter__()
        while True:
            with _reaching(under):
                page = await anext(pages, None)
            if page is None:
                return
            yield [Listed(item["Key"][len(self.bucket.prefix):],
                          item["LastModified"].timestamp())
                   for item in page.get("Contents", [])]


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
