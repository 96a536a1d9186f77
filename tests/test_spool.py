"""The spool: uploads appended to one open file per process, read back by the worker, and
their files deleted once nothing waits in them (support/documents/spool.py)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from support.data.models import Document
from support.documents import filing, spool
from support.documents.filing import sanitise_pending, sweep_spool
from support.documents.spool import KEEP_SECONDS, Place, Spool
from support.documents.store import DocumentStore
from tests.conftest import UNLOCK, jpeg_bytes
from tests.faults_disk import fill, small_filesystem
from tests.test_apply import post_apply, receipt


def test_appended_bytes_come_back_from_their_place(tmp_path: Path) -> None:
    store = Spool(tmp_path / "spool")  # the folder is made by the first append
    first, second = os.urandom(200 * 1024), b"%PDF-1.4 a second, smaller upload"
    places = [store.append(first), store.append(second)]
    assert places[0].segment == places[1].segment, "one open file takes both"
    assert places[1].offset == len(first)
    assert [store.read(Place.parse(str(place))) for place in places] == [first, second]
    assert len(list((tmp_path / "spool").iterdir())) == 1


def test_a_new_file_once_the_current_one_is_full_or_old(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store = Spool(tmp_path, segment_bytes=1000, segment_seconds=60)
    a, b = store.append(b"a" * 600), store.append(b"b" * 600)
    assert a.segment != b.segment, "600 more bytes would pass 1,000"
    big = store.append(b"c" * 5000)  # larger than a whole file: it gets one of its own
    assert big.segment != b.segment and big.offset == 0
    clock = time.monotonic() + 61
    monkeypatch.setattr(spool.time, "monotonic", lambda: clock)
    late = store.append(b"d")
    assert late.segment != big.segment, "a file takes appends for 60 s at most"
    assert [store.read(p) for p in (a, b, big, late)] == [b"a" * 600, b"b" * 600,
                                                          b"c" * 5000, b"d"]


def test_a_forked_process_never_appends_to_its_parents_file(tmp_path: Path) -> None:
    store = Spool(tmp_path)
    parent = store.append(b"parent")
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(writer, str(store.append(b"child")).encode())
        finally:
            os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    place = Place.parse(os.read(reader, 200).decode())
    os.close(reader)
    assert place.segment != parent.segment and place.offset == 0
    assert store.read(place) == b"child" and store.read(parent) == b"parent"
    assert store.append(b"again").segment == parent.segment


def test_a_place_that_is_not_one_is_refused() -> None:
    for text in ("../../etc/passwd:0:10", "1763790000-abcdef012345:-1:10",
                 "1763790000-abcdef012345:0", "documents/ab:0:1"):
        with pytest.raises(ValueError):
            Place.parse(text)


def test_a_missing_or_cut_short_file_reads_as_missing(tmp_path: Path) -> None:
    store = Spool(tmp_path)
    place = store.append(b"x" * 100)
    with pytest.raises(FileNotFoundError):
        store.read(Place(place.segment, 50, 100))
    store.close()
    (tmp_path / place.segment).unlink()
    with pytest.raises(FileNotFoundError):
        store.read(place)


def test_a_full_disk_refuses_the_append_and_the_next_one_goes_through() -> None:
    with small_filesystem(megabytes=2) as root:
        store = Spool(root / "spool")
        kept = store.append(b"k" * 1000)
        filler = fill(root, 8 * 1024)
        with pytest.raises(OSError):
            store.append(os.urandom(64 * 1024))
        assert (root / "spool" / kept.segment).stat().st_size == 1000, "the part written is cut"
        filler.unlink()
        after = store.append(b"after")
        assert store.read(kept) == b"k" * 1000 and store.read(after) == b"after"


def test_sweep_deletes_only_old_files_nothing_waits_in(tmp_path: Path) -> None:
    writer, worker = Spool(tmp_path), Spool(tmp_path)  # a web process and the worker
    names = []
    for _ in range(3):
        names.append(writer.append(b"upload").segment)
        writer.close()
    (tmp_path / "notes.txt").write_text("not the spool's: never touched")
    later = time.time() + KEEP_SECONDS + 1
    assert worker.sweep(waiting=[names[1]]) == 0, "nothing was appended 10 minutes ago"
    assert worker.sweep(waiting=[names[1]], now=later) == 2
    assert {path.name for path in tmp_path.iterdir()} == {names[1], "notes.txt"}
    assert worker.read(Place(names[1], 0, 6)) == b"upload"


def test_sweep_keeps_the_file_its_own_process_appends_to(tmp_path: Path) -> None:
    own = Spool(tmp_path)
    place = own.append(b"in-process worker: the web process's own spool")
    assert own.sweep(waiting=[], now=time.time() + KEEP_SECONDS + 1) == 0
    assert own.read(place).startswith(b"in-process")


async def test_the_worker_files_spooled_uploads_then_sweeps_their_spool(
        client, settings, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = jpeg_bytes()
    response = await post_apply(client, "unlock", UNLOCK, receipt(sent))
    assert response.status_code == 303, response.text
    document = await Document.get()
    store = DocumentStore.of(settings)
    assert document.spooled is not None and not store.path(document.storage_key).exists()
    place = Place.parse(document.spooled)
    store.spool.close()  # as if this process had moved on to a new spool file
    later = time.time() + KEEP_SECONDS + 1
    monkeypatch.setattr(spool.time, "time", lambda: later)
    assert await sweep_spool(settings) == 0, "a document still waits in it"

    assert await sanitise_pending(settings) == 1
    await document.refresh_from_db()
    assert document.spooled is None and document.sanitised_at is not None
    filed = store.path(document.storage_key).read_bytes()
    assert document.size == len(filed)
    with Image.open(io.BytesIO(filed)) as image:  # the re-encoded copy, whole
        image.load()
        assert image.size == Image.open(io.BytesIO(sent)).size
    assert await sweep_spool(settings) == 1
    assert not (settings.spool_dir / place.segment).exists()


async def test_a_document_our_code_fails_on_is_kept_as_sent_for_an_operator(
        client, settings, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = jpeg_bytes()
    assert (await post_apply(client, "unlock", UNLOCK, receipt(sent))).status_code == 303

    def broken(*args: object) -> int:
        raise RuntimeError("a bug in our code, not the file")

    monkeypatch.setattr(filing, "sanitise", broken)
    assert await sanitise_pending(settings) == 1
    document = await Document.get()
    assert document.content_type == "unsafe:image/jpeg" and document.spooled is None
    assert DocumentStore.of(settings).path(document.storage_key).read_bytes() == sent
