"""Documents in S3-compatible storage, against a real S3 server: Ceph's radosgw from
Debian's packages (tests/servers/radosgw.py), never a mock that accepts any secret."""

from __future__ import annotations

import secrets

import pytest

from support.documents.objects import (
    AlreadyStored,
    ObjectStore,
    StorageUnavailable,
    StorageUrlError,
    parse_storage_url,
)
from tests.servers.radosgw import Radosgw, radosgw  # noqa: F401 - the session's cluster


@pytest.fixture
async def store(radosgw: Radosgw):  # noqa: F811
    bucket = "desk-" + secrets.token_hex(4)
    radosgw.make_bucket(bucket)
    objects = ObjectStore(parse_storage_url(
        f"s3://{bucket}/documents?endpoint={radosgw.endpoint}&region={radosgw.region}",
        radosgw.access_key, radosgw.secret_key))
    await objects.connect()
    yield objects
    await objects.close()


async def test_the_server_is_real_a_wrong_secret_is_refused(radosgw, store):  # noqa: F811
    wrong = ObjectStore(parse_storage_url(
        f"s3://{store.bucket.name}?endpoint={radosgw.endpoint}", radosgw.access_key,
        radosgw.secret_key + "x"))
    await wrong.connect()
    try:
        with pytest.raises(StorageUnavailable, match="403 SignatureDoesNotMatch"):
            await wrong.put("k" * 32, b"data")
    finally:
        await wrong.close()


async def test_a_document_goes_in_once_comes_back_in_pieces_and_goes(store, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(secrets.token_bytes(3 * 1024 * 1024 + 17))
    key = secrets.token_urlsafe(24)
    await store.put(key, photo)
    pieces = [chunk async for chunk in store.chunks(key)]
    assert len(pieces) > 1 and b"".join(pieces) == photo.read_bytes()
    with pytest.raises(AlreadyStored):  # a key is never overwritten
        await store.put(key, b"something else")
    assert await store.read(key) == photo.read_bytes()
    await store.delete(key)
    assert not await store.exists(key)
    with pytest.raises(FileNotFoundError):
        await store.read(key)
    await store.delete(key)  # again: nothing to do, no error


@pytest.mark.parametrize(("url", "says"), [
    ("/var/documents", "must look like s3://"),
    ("s3:///prefix", "must look like s3://"),
    ("s3://bucket?endpoint=ftp://x", "http(s)://"),
    ("s3://bucket?color=blue", "unknown option 'color'"),
])
def test_a_storage_url_that_cannot_work_is_said_plainly(url, says):
    with pytest.raises(StorageUrlError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_storage_url(url, "key", "secret")


def test_keys_are_required_and_the_prefix_is_kept():
    with pytest.raises(StorageUrlError, match="SUPPORT_S3_ACCESS_KEY"):
        parse_storage_url("s3://bucket", "", "")
    bucket = parse_storage_url("s3://bucket/desk/docs/?region=eu-west-1", "k", "s")
    assert (bucket.name, bucket.prefix, bucket.region, bucket.endpoint) == (
        "bucket", "desk/docs/", "eu-west-1", None)
    assert bucket.key("abc") == "desk/docs/abc"
