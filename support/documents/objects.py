"""Documents in S3-compatible object storage (issue 24): where the store's files go when
``SUPPORT_STORAGE_URL`` is ``s3://BUCKET/PREFIX?endpoint=…&region=…``, so web processes
and workers on different machines share them without a shared disk.

aiobotocore, not obstore: a create-only put (``If-None-Match: *``, so a key is never
overwritten) streams from its file through aiobotocore, where obstore holds any conditional
put whole in memory (tests/servers/radosgw.py: 194 MB for a 100 MB file against 2 MB),
and B4's ceiling is 200 MB for 50 large uploads at once.

This is the client and its settings; the document store uses it once every path through
the store is routed here (issue 24's remaining steps).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import ClientError

# Read back in pieces this large: a reviewer's download is streamed, never held whole.
CHUNK = 256 * 1024


class StorageUrlError(ValueError):
    """SUPPORT_STORAGE_URL cannot be used; the message says why, for the operator."""


@dataclass(frozen=True)
class Bucket:
    name: str
    prefix: str  # "" or ending in "/"
    endpoint: str | None  # None: AWS's own, by region
    region: str
    access_key: str
    secret_key: str

    def key(self, storage_key: str) -> str:
        return self.prefix + storage_key


def parse_storage_url(url: str, access_key: str, secret_key: str) -> Bucket:
    """``s3://BUCKET/PREFIX?endpoint=http://127.0.0.1:7480&region=us-east-1``."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.hostname:
        raise StorageUrlError("SUPPORT_STORAGE_URL must look like s3://BUCKET/PREFIX?endpoint="
                              "https://s3.example.com&region=REGION")
    options = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    unknown = set(options) - {"endpoint", "region"}
    if unknown:
        raise StorageUrlError(f"SUPPORT_STORAGE_URL: unknown option {sorted(unknown)[0]!r} "
                              "(endpoint and region are known)")
    endpoint = options.get("endpoint")
    if endpoint is not None and urlsplit(endpoint).scheme not in {"http", "https"}:
        raise StorageUrlError("SUPPORT_STORAGE_URL: endpoint must be an http(s):// address")
    if not access_key or not secret_key:
        raise StorageUrlError("SUPPORT_STORAGE_URL needs SUPPORT_S3_ACCESS_KEY and "
                              "SUPPORT_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY)")
    prefix = parts.path.strip("/")
    return Bucket(name=parts.hostname, prefix=f"{prefix}/" if prefix else "",
                  endpoint=endpoint, region=options.get("region") or "us-east-1",
                  access_key=access_key, secret_key=secret_key)


class AlreadyStored(Exception):
    """A key is never written twice: the storage refused the second write (412)."""


class ObjectStore:
    """One bucket, through one client per event loop (``connect``)."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None

    async def connect(self) -> None:
        session = get_session()
        self._stack = contextlib.AsyncExitStack()
        self._client = await self._stack.enter_async_context(session.create_client(
            "s3", region_name=self.bucket.region, endpoint_url=self.bucket.endpoint,
            aws_access_key_id=self.bucket.access_key,
            aws_secret_access_key=self.bucket.secret_key,
            # Path-style addressing: a self-hosted gateway on an address has no bucket
            # subdomains. Checksums only where required: radosgw 16 predates the newer
            # defaults' trailers.
            config=Config(s3={"addressing_style": "path"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required",
                          retries={"max_attempts": 3, "mode": "standard"}),
        ))

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._client = self._stack = None

    async def put(self, storage_key: str, source: bytes | Path) -> None:
        """Write once: raises ``AlreadyStored`` if the key exists (``If-None-Match: *``).
        A file is streamed from disk, not read whole."""
        with contextlib.ExitStack() as files:
            body: Any = source if isinstance(source, bytes) else \
                files.enter_context(source.open("rb"))
            try:
                await self._client.put_object(Bucket=self.bucket.name,
                                              Key=self.bucket.key(storage_key), Body=body,
                                              IfNoneMatch="*")
            except ClientError as error:
                if _status(error) == 412:
                    raise AlreadyStored(storage_key) from error
                raise

    async def chunks(self, storage_key: str) -> AsyncIterator[bytes]:
        """The object's bytes, ``CHUNK`` at a time. Raises ``FileNotFoundError``."""
        try:
            answer = await self._client.get_object(Bucket=self.bucket.name,
                                                   Key=self.bucket.key(storage_key))
        except ClientError as error:
            if _status(error) == 404:
                raise FileNotFoundError(storage_key) from error
            raise
        async with answer["Body"] as stream:
            while chunk := await stream.read(CHUNK):
                yield chunk

    async def read(self, storage_key: str) -> bytes:
        return b"".join([chunk async for chunk in self.chunks(storage_key)])

    async def delete(self, storage_key: str) -> None:
        """Gone, or was never there (S3's DELETE is idempotent)."""
        await self._client.delete_object(Bucket=self.bucket.name,
                                         Key=self.bucket.key(storage_key))

    async def exists(self, storage_key: str) -> bool:
        try:
            await self._client.head_object(Bucket=self.bucket.name,
                                           Key=self.bucket.key(storage_key))
        except ClientError as error:
            if _status(error) == 404:
                return False
            raise
        return True


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
