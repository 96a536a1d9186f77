"""What the document store keeps, looked at the way the store keeps it: files under the
data dir, or objects in the test's prefix of a bucket (``SUPPORT_TEST_STORE=s3``). A test
that looks here passes on both stores.

Synchronous on purpose (a bucket is read with botocore's plain client): tests check
files in comprehensions and assertions, and a test's few look-ups may block its loop.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from support.config import Bucket, Settings
from support.documents.store import DOCUMENTS, IN_BUCKET, UPLOADS, DiskStore, DocumentStore

_KEY = re.compile(r"[A-Za-z0-9_-]{20,64}")


@functools.cache
def _client(endpoint: str | None, region: str, access_key: str, secret_key: str):  # type: ignore[no-untyped-def]
    return botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=access_key,
        aws_secret_access_key=secret_key, config=Config(s3={"addressing_style": "path"}))


def _bucket(settings: Settings):  # type: ignore[no-untyped-def]
    bucket = settings.storage
    assert bucket is not None
    return bucket, _client(bucket.endpoint, bucket.region, bucket.access_key, bucket.secret_key)


def _object(bucket: Bucket, client, name: str) -> bytes | None:  # type: ignore[no-untyped-def]
    try:
        answer = client.get_object(Bucket=bucket.name, Key=bucket.key(name))
    except ClientError as error:
        if error.response["Error"]["Code"] in {"NoSuchKey", "404"}:
            return None
        raise
    return answer["Body"].read()


class KeptFile:
    """What the store holds under one key, like a ``Path``: ``exists``, ``read_bytes``,
    ``write_bytes``. Before the worker files an upload that came as a large file it is
    this key's content; after, the safe copy is (on disk, one file; in a bucket, the
    safe copy is read first)."""

    def __init__(self, settings: Settings, key: str) -> None:
        self.settings, self.key = settings, key
        store = DocumentStore.of(settings)
        self.path = store.path(key) if isinstance(store, DiskStore) else None

    def __repr__(self) -> str:
        return f"KeptFile({self.key!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeptFile) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def name(self) -> str:
        return self.key

    def read_bytes(self) -> bytes:
        if self.path is not None:
            return self.path.read_bytes()
        bucket, client = _bucket(self.settings)
        for under in (DOCUMENTS, UPLOADS):
            found = _object(bucket, client, under + self.key)
            if found is not None:
                return found
        raise FileNotFoundError(self.key)

    def exists(self) -> bool:
        try:
            self.read_bytes()
        except FileNotFoundError:
            return False
        return True

    def write_bytes(self, data: bytes) -> None:
        """Kept as a filed, safe copy (rows made by tests say ``sanitised_at``)."""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(data)
            return
        bucket, client = _bucket(self.settings)
        client.put_object(Bucket=bucket.name, Key=bucket.key(DOCUMENTS + self.key), Body=data)


    def write_upload(self, data: bytes) -> None:
        """Kept as an upload the worker has not filed yet (the row's ``spooled`` is
        ``upload_place``)."""
        if self.path is not None:
            self.write_bytes(data)
            return
        bucket, client = _bucket(self.settings)
        client.put_object(Bucket=bucket.name, Key=bucket.key(UPLOADS + self.key), Body=data)

    @property
    def upload_place(self) -> str | None:
        """What a row of an unfiled upload written by ``write_upload`` says in ``spooled``."""
        return None if self.path is not None else IN_BUCKET


def store_env(settings: Settings) -> dict[str, str]:
    """The environment a ``support`` command needs to reach the same store."""
    if not settings.storage_url:
        return {}
    return {"SUPPORT_STORAGE_URL": settings.storage_url,
            "SUPPORT_S3_ACCESS_KEY": settings.s3_access_key,
            "SUPPORT_S3_SECRET_KEY": settings.s3_secret_key}


def kept(settings: Settings, key: str) -> KeptFile:
    return KeptFile(settings, key)


def everything_kept(settings: Settings) -> list[KeptFile]:
    """Each thing the store holds, once per file or object (in a bucket, an upload not yet
    filed and its safe copy are two), sorted by key. Not what waits in a disk's spool."""
    store = DocumentStore.of(settings)
    if isinstance(store, DiskStore):
        root: Path = store.root
        names = [p.name for p in root.rglob("*") if p.is_file()] if root.exists() else []
    else:
        bucket, client = _bucket(settings)
        names = []
        for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket.name, Prefix=bucket.prefix):
            names += [item["Key"][len(bucket.prefix):].split("/")[-1]
                      for item in page.get("Contents", [])]
    return sorted((KeptFile(settings, name) for name in names), key=lambda k: k.key)
