"""Documents in an S3 bucket (issue 24), against the private Ceph gateway
(tests/servers/radosgw.py): three machines that share no disk, a gateway that stops in
the middle of submissions, and the sweep of objects no row owns.

The rest of the document tests run on a bucket too (``SUPPORT_TEST_STORE=s3``, which
``make test`` sets for them); these need one whatever the run's store is.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import secrets
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from PIL import Image
from starlette.applications import Starlette

from support.accounts import auth
from support.config import Settings
from support.data.models import Application, Document, Event, Reviewer, Status
from support.documents import sweep
from support.documents.filing import sanitise_pending
from support.documents.storage import NOT_SAVED
from support.documents.store import DOCUMENTS, UPLOADS
from tests import hostile
from tests.conftest import (
    BASE,
    PDF_BYTES,
    UNLOCK,
    Applicant,
    Outbox,
    free_port,
    jpeg_bytes,
    running_app,
)
from tests.factories import make_application, page_version
from tests.kept import everything_kept, kept, store_env
from tests.processes import Process
from tests.servers.radosgw import Radosgw

# Each test's documents in a prefix of their own, in a bucket of this module's.
_BUCKET = "desk-bucket-" + secrets.token_hex(4)


@pytest.fixture
def bucket_settings(settings: Settings, radosgw: Radosgw) -> Settings:
    if not getattr(radosgw, "_desk_bucket_made", False):
        radosgw.make_bucket(_BUCKET)
        radosgw._desk_bucket_made = True  # type: ignore[attr-defined]
    return settings.with_(
        storage_url=f"s3://{_BUCKET}/t-{secrets.token_hex(6)}?endpoint={radosgw.endpoint}"
                    f"&region={radosgw.region}",
        s3_access_key=radosgw.access_key, s3_secret_key=radosgw.secret_key)


@pytest.fixture
async def bucket_app(bucket_settings: Settings) -> AsyncIterator[Starlette]:
    async with running_app(bucket_settings) as application:
        yield application


@pytest.fixture
async def on_bucket(bucket_app: Starlette) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=bucket_app)
    async with httpx2.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http


@contextlib.contextmanager
def gateway_down(radosgw: Radosgw) -> Iterator[None]:
    """The S3 gateway stopped (connections refused), and started again after the block."""
    radosgw.stop_gateway()
    try:
        yield
    finally:
        radosgw.start_gateway()


def names_in(settings: Settings) -> list[str]:
    """Every object under the test's prefix, by name after it (``uploads/…``)."""
    bucket = settings.storage
    assert bucket is not None
    from tests.kept import _bucket  # the plain client, beside the one under test

    _, client = _bucket(settings)
    found = client.list_objects_v2(Bucket=bucket.name, Prefix=bucket.prefix)
    return sorted(item["Key"][len(bucket.prefix):] for item in found.get("Contents", []))


# --- the gateway stops --------------------------------------------------------------


async def test_a_submission_while_the_gateway_is_down_says_try_again_and_keeps_nothing(
        on_bucket, bucket_settings, radosgw):
    applicant = Applicant(on_bucket)
    with gateway_down(radosgw):
        tokens = await applicant.form_tokens("unlock")
        refused = await applicant.submit("unlock", UNLOCK, tokens=tokens)
        assert refused.status_code == 422
        assert NOT_SAVED.split(".")[0] in refused.text.replace("\n", " ")
        assert 'value="asha@example.com"' in refused.text  # what they typed is kept
        assert await Application.all().count() == 0
    assert names_in(bucket_settings) == []  # nothing half-written
    sent = await applicant.submit("unlock", UNLOCK)  # the gateway is back: it just works
    assert sent.status_code == 303, sent.text
    document = await Document.get()
    assert names_in(bucket_settings) == [UPLOADS + document.storage_key]


async def test_submissions_across_an_outage_each_land_whole_or_not_at_all(
        on_bucket, bucket_settings, radosgw):
    """The gateway stops while submissions are under way and comes back: each answer is
    a 303 with its application and its object, or a "try again" with neither."""
    applicant = Applicant(on_bucket)
    tokens = [await applicant.form_tokens("unlock") for _ in range(12)]

    async def one(n: int) -> int:
        fields = {**UNLOCK, "account_id": f"61234{n:05d}", "phone": f"98765 4{n:04d}",
                  "email": f"asha{n}@example.com"}
        response = await applicant.submit("unlock", fields, tokens=tokens[n])
        return response.status_code

    first = [asyncio.create_task(one(n)) for n in range(6)]
    await asyncio.sleep(0.05)
    with gateway_down(radosgw):
        during = [await one(n) for n in range(6, 9)]
    last = [await one(n) for n in range(9, 12)]
    answers = [*await asyncio.gather(*first), *during, *last]

    assert set(answers) <= {303, 422}, answers
    assert during == [422, 422, 422] and last == [303, 303, 303]
    documents = await Document.all()
    assert len(documents) == answers.count(303) == await Application.all().count()
    assert names_in(bucket_settings) == sorted(UPLOADS + d.storage_key for d in documents)


async def test_the_worker_waits_for_the_gateway_and_files_everything_when_it_returns(
        on_bucket, bucket_settings, radosgw, caplog):
    applicant = Applicant(on_bucket)
    for n in range(3):
        fields = {**UNLOCK, "account_id": f"61234{n:05d}", "phone": f"98765 4{n:04d}"}
        files = {"receipt": ("receipt.jpg", hostile.photo_with_gps(), "image/jpeg")}
        assert (await applicant.submit("unlock", fields, files)).status_code == 303
    with gateway_down(radosgw):
        assert await sanitise_pending(bucket_settings) == 0
        assert "trying again later" in caplog.text
    # Not one was marked unsafe or lost: the outage was ours, not the files'.
    assert await Document.filter(sanitised_at=None).count() == 3
    assert await sanitise_pending(bucket_settings) == 3
    documents = await Document.all()
    assert all(not d.content_type.startswith("unsafe") for d in documents)
    assert names_in(bucket_settings) == sorted(DOCUMENTS + d.storage_key for d in documents)
    assert not await Event.filter(type="document_unsafe").exists()


async def test_a_reviewer_opening_a_document_while_the_gateway_is_down_is_told_to_wait(
        bucket_app, bucket_settings, radosgw):
    application = await make_application()
    key = secrets.token_urlsafe(24)
    kept(bucket_settings, key).write_bytes(jpeg_bytes())
    document = await Document.create(
        application=application, purpose="receipt", content_type="image/jpeg", size=1,
        sha256="0" * 64, storage_key=key, original_name="receipt.jpg",
        sanitised_at=datetime.now(UTC))
    reviewer = await Reviewer.create(email="ann@example.com", name="Ann", password_hash="-",
                                     kinds=["unlock"], countries=[])
    transport = httpx2.ASGITransport(app=bucket_app)
    async with httpx2.AsyncClient(transport=transport, base_url=BASE) as http:
        http.cookies.set("support_session", await auth.start_session(reviewer))
        pdf_key = secrets.token_urlsafe(24)
        kept(bucket_settings, pdf_key).write_bytes(PDF_BYTES)
        await Document.create(
            application=application, purpose="receipt", content_type="application/pdf",
            size=1, sha256="0" * 64, storage_key=pdf_key, original_name="bill.pdf",
            sanitised_at=datetime.now(UTC))
        with gateway_down(radosgw):
            waiting = await http.get(f"/review/documents/{document.id}")
            assert waiting.status_code == 503
            assert "This document cannot be opened just now" in waiting.text
            assert "Nothing is lost" in waiting.text
            assert f'href="/review/applications/{application.reference}"' in waiting.text
            assert waiting.headers["retry-after"]
            # The rest of the desk works: the application page, its PDF's count unknown.
            page = await http.get(f"/review/applications/{application.reference}")
            assert page.status_code == 200 and "bill.pdf" in page.text
        opened = await http.get(f"/review/documents/{document.id}")
        assert opened.status_code == 200 and opened.content == jpeg_bytes()
        assert opened.headers["content-length"] == str(len(jpeg_bytes()))


# --- the sweep ----------------------------------------------------------------------


async def test_the_sweep_takes_old_objects_no_row_owns_and_nothing_else(
        bucket_app, bucket_settings):
    application = await make_application()
    owned = secrets.token_urlsafe(24)
    kept(bucket_settings, owned).write_bytes(jpeg_bytes())
    await Document.create(application=application, purpose="receipt", content_type="image/jpeg",
                          size=1, sha256="0" * 64, storage_key=owned,
                          original_name="receipt.jpg", sanitised_at=datetime.now(UTC))
    filed_orphan, upload_orphan = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    kept(bucket_settings, filed_orphan).write_bytes(b"a safe copy whose row went")
    kept(bucket_settings, upload_orphan).write_upload(b"an upload whose insert failed")
    tmp = bucket_settings.upload_tmp_dir
    tmp.mkdir(parents=True)
    leftovers = [tmp / f"filing-{secrets.token_hex(12)}", tmp / f"view-{secrets.token_hex(12)}"]
    for path in leftovers:
        path.write_bytes(b"a copy a killed worker left")
    old = time.time() - 2 * sweep.MIN_AGE
    for path in leftovers:
        os.utime(path, (old, old))

    assert await sweep.sweep_leftovers(bucket_settings) == sweep.Swept(uploads=2)  # all young
    assert len(names_in(bucket_settings)) == 3

    later = time.time() + 2 * sweep.MIN_AGE  # objects' times are the gateway's: move ours
    assert await sweep.sweep_leftovers(bucket_settings, now=later) == sweep.Swept(documents=2)
    assert names_in(bucket_settings) == [DOCUMENTS + owned]
    assert not any(path.exists() for path in leftovers)


# --- three machines -----------------------------------------------------------------


class Machine(Process):
    """``support serve`` or ``support worker`` in a process of its own, with an empty data
    dir of its own; only the database, Redis and the bucket are shared."""

    def __init__(self, settings: Settings, root: Path, command: list[str],
                 port: int | None = None) -> None:
        self.data_dir = root
        env = {**os.environ, **store_env(settings),
               "SUPPORT_DATABASE_URL": settings.database_url,
               "SUPPORT_DATA_DIR": str(root), "SUPPORT_SECRET_KEY": settings.secret_key,
               "SUPPORT_REDIS_URL": "redis://127.0.0.1:6379/0",
               "SUPPORT_RATE_LIMIT_PREFIX": "three-" + secrets.token_hex(4),
               "SUPPORT_INPROCESS_WORKER": "0", "SUPPORT_WORKER_INTERVAL_MS": "100",
               "SUPPORT_LOG_FORMAT": "text", "SUPPORT_BASE_URL": f"http://127.0.0.1:{port or 1}"}
        super().__init__(command, env, port)

    def files(self) -> list[Path]:
        """What this machine keeps on its own disk besides its log, mail and metrics."""
        mine = ("documents", "spool", "tmp")
        return [path for name in mine if (self.data_dir / name).exists()
                for path in (self.data_dir / name).rglob("*") if path.is_file()]


async def _until(check, seconds: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("it did not happen in time")


async def _code_from(worker: Machine, sent_before: int) -> str:
    """The confirmation code the worker sent by SMS (its own data dir's SMS log)."""
    outbox = Outbox(Settings(data_dir=worker.data_dir, database_url="", secret_key="-"))

    async def sent() -> list[str]:
        return [m["text"] for m in outbox.sms()[sent_before:]
                if re.search(r"(?<![\w-])\d{6}(?!\w)", m["text"]) and "://" not in m["text"]]

    texts = await _until(sent)
    match = re.search(r"(?<![\w-])(\d{6})(?!\w)", texts[-1])
    assert match
    return match.group(1)


def _csrf(http: httpx2.AsyncClient) -> str:
    return http.cookies["support_csrf"]


@pytest.mark.slow
async def test_three_machines_share_only_the_database_redis_and_the_bucket(
        app, bucket_settings, tmp_path, radosgw):
    """An applicant applies through web A; the worker, on a third machine, sends the code
    and re-encodes the receipt; a reviewer on web B sees the safe copy, decides, and the
    applicant erases their data through A: the objects go. Another application's
    documents are purged by retention, run from the worker's machine."""
    settings = bucket_settings
    web_a = Machine(settings, tmp_path / "a", ["serve"], free_port())
    web_b = Machine(settings, tmp_path / "b", ["serve"], free_port())
    worker = Machine(settings, tmp_path / "w", ["worker"])
    machines = [web_a, web_b, worker]
    try:
        await web_a.ready()
        await web_b.ready()
        photo = hostile.photo_with_gps()
        async with httpx2.AsyncClient() as browser:
            # The applicant, on A.
            form = await browser.get(web_a.url + "/apply/unlock")
            hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                                     form.text))
            sent = await browser.post(web_a.url + "/apply/unlock", data={**hidden, **UNLOCK},
                                      files={"receipt": ("receipt.jpg", photo, "image/jpeg")})
            assert sent.status_code == 303, sent.text
            code = await _code_from(worker, 0)
            confirmed = await browser.post(web_a.url + sent.headers["location"],
                                           data={"csrf_token": _csrf(browser), "code": code})
            assert confirmed.status_code == 303, confirmed.text
            status_path = confirmed.headers["location"].split("?")[0]
            document = await Document.get()

            # The worker files it: the safe copy is in the bucket, and the upload goes once
            # the row says so (a moment after it is marked).
            async def filed() -> bool:
                await document.refresh_from_db()
                return document.sanitised_at is not None and \
                    names_in(settings) == [DOCUMENTS + document.storage_key]
            await _until(filed)

            # A reviewer, on B, sees the re-encoded receipt.
            reviewer = await Reviewer.create(email="ann@example.com", name="Ann",
                                             password_hash="-", kinds=["unlock"], countries=[])
            async with httpx2.AsyncClient(base_url=web_b.url) as desk:
                desk.cookies.set("support_session", await auth.start_session(reviewer))
                application = await Application.get()
                page = await desk.get(f"/review/applications/{application.reference}")
                assert page.status_code == 200 and "receipt.jpg" in page.text
                served = await desk.get(f"/review/documents/{document.id}")
                assert served.status_code == 200, served.text
                assert served.headers["content-type"] == "image/jpeg"
                with Image.open(io.BytesIO(served.content)) as image:
                    assert image.size == (40, 80) and not image.getexif()  # upright, no GPS
                assert hostile.SECRET_COMMENT not in served.content
                thumbnail = await desk.get(f"/review/documents/{document.id}/thumbnail")
                assert thumbnail.status_code == 200
                await desk.get("/")
                await desk.post("/review/next", data={"csrf_token": desk.cookies["support_csrf"]})
                decided = await desk.post(
                    f"/review/applications/{application.reference}/decide",
                    data={"csrf_token": desk.cookies["support_csrf"], "action": "reject",
                          "message": "The receipt does not show the phone.",
                          "reason_code": "reason_insufficient",
                          "seen": await page_version(application.reference)})
                assert decided.status_code == 303, decided.text

            # The applicant erases their data, on A: the object goes with it.
            erased = await browser.post(web_a.url + status_path + "/erase",
                                        data={"csrf_token": _csrf(browser)})
            assert erased.status_code == 303, erased.text
            assert names_in(settings) == []

        # Retention, run on the worker's machine, purges another application's documents.
        old = await make_application(status=Status.APPROVED, decision_text="Decided.",
                                     decided_at=datetime.now(UTC) - timedelta(days=100))
        key = secrets.token_urlsafe(24)
        kept(settings, key).write_bytes(jpeg_bytes())
        await Document.create(application=old, purpose="receipt", content_type="image/jpeg",
                              size=1, sha256="0" * 64, storage_key=key,
                              original_name="receipt.jpg", sanitised_at=datetime.now(UTC))
        purge = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "support", "purge", "--quiet",
            env={**os.environ, **store_env(settings), "SUPPORT_DATA_DIR": str(worker.data_dir),
                 "SUPPORT_DATABASE_URL": settings.database_url, "SUPPORT_LOG_FORMAT": "text"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await purge.communicate()
        assert purge.returncode == 0, output.decode()
        assert names_in(settings) == []
        assert everything_kept(settings) == []
        # No machine kept a document on its own disk.
        for machine in machines:
            assert machine.files() == [], machine.files()
    finally:
        outputs = [machine.stop() for machine in machines]
    for output in outputs:
        assert "Traceback" not in output, output


# --- a process's start --------------------------------------------------------------


@pytest.mark.parametrize(("change", "said", "code"), [
    ({"SUPPORT_S3_SECRET_KEY": "not-the-secret"},
     "SUPPORT_STORAGE_URL: the bucket {bucket!r} refused these keys (SignatureDoesNotMatch)", 1),
    ({"SUPPORT_STORAGE_URL": "s3://no-such-bucket/desk?endpoint={endpoint}"},
     "SUPPORT_STORAGE_URL: there is no bucket named 'no-such-bucket'", 1),
    ({"SUPPORT_STORAGE_URL": "s3://desk/p?endpoint=ftp://127.0.0.1"},
     "SUPPORT_STORAGE_URL: endpoint must be an http(s):// address", 2),
    ({"SUPPORT_S3_ACCESS_KEY": "", "AWS_ACCESS_KEY_ID": ""},
     "SUPPORT_STORAGE_URL needs SUPPORT_S3_ACCESS_KEY and SUPPORT_S3_SECRET_KEY (or "
     "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", 2),
], ids=["wrong secret", "no bucket", "not http", "no keys"])
async def test_a_worker_with_wrong_storage_settings_stops_at_once_saying_which(
        bucket_settings, radosgw, tmp_path, change, said, code):
    bucket = bucket_settings.storage
    assert bucket is not None
    env = {**os.environ, **store_env(bucket_settings), "SUPPORT_DATA_DIR": str(tmp_path),
           "SUPPORT_DATABASE_URL": bucket_settings.database_url}
    env.update({name: value.format(endpoint=radosgw.endpoint) for name, value in change.items()})
    started = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "support", "worker", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(started.communicate(), 60)
    assert started.returncode == code
    assert err.decode().strip().splitlines() == [
        "support worker: " + said.format(bucket=bucket.name)]
