"""Fixtures shared by the suite.

The suite runs once per database: ``SUPPORT_TEST_DB=sqlite`` (default) or ``postgres``.
Each run migrates a fresh database with the real migrations, and every test starts from
empty tables and its own data dir (mail, SMS log, documents).

``SUPPORT_TEST_STORE=s3`` keeps every test's documents in a bucket of the private Ceph
gateway (tests/servers/radosgw.py), under a prefix of the test's own, instead of its data
dir: ``make test`` runs the document tests (``DOCUMENT_TESTS`` in the Makefile) so too.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import io
import json
import os
import re
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import pyotp
import pytest
from PIL import Image
from starlette.applications import Starlette
from tortoise.contrib.test import truncate_all_models

from support.app import create_app
from support.config import Settings
from support.data import db
from support.notify import delivery
from tests.servers.radosgw import radosgw  # noqa: F401 - the session's gateway, when asked

DB_KIND = os.environ.get("SUPPORT_TEST_DB", "sqlite")
STORE_KIND = os.environ.get("SUPPORT_TEST_STORE", "disk")
PG_ADMIN_URL = os.environ.get("SUPPORT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BASE = "http://testserver"


def pytest_report_header() -> str:
    return f"database: {DB_KIND}, documents: {STORE_KIND}"


def free_port() -> int:
    """A loopback port nobody listens on, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def empty_database(label: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own that nobody has migrated (a file on SQLite, a database on the
    shared PostgreSQL server, dropped afterwards)."""
    if DB_KIND != "postgres":
        yield f"sqlite://{tmp_path / (label + '.sqlite3')}"
        return
    name = f"support_{label}_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# The same for every `support` process a test starts (serve, worker, the CLI): they read
# the environment, and their placeholder receipts would be sent back as too small to read.
os.environ.setdefault("SUPPORT_PHOTO_ADVICE", "0")


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with empty_database("test", tmp_path_factory.mktemp("db")) as url:
        await db.migrate(url)
        yield url


@pytest.fixture
async def empty_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """For tests that start real processes: the CLI must migrate it."""
    async with empty_database("server", tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def test_bucket(request: pytest.FixtureRequest) -> dict[str, str] | None:
    """With ``SUPPORT_TEST_STORE=s3``, a bucket of the session's gateway: the settings a
    test's store needs but its prefix. None: documents stay in the data dir."""
    if STORE_KIND != "s3":
        return None
    gateway = request.getfixturevalue("radosgw")
    name = "desk-tests-" + secrets.token_hex(4)
    gateway.make_bucket(name)
    return {"url": f"s3://{name}/{{prefix}}?endpoint={gateway.endpoint}&region={gateway.region}",
            "access_key": gateway.access_key, "secret_key": gateway.secret_key}


def store_settings(bucket: dict[str, str] | None) -> dict[str, str]:
    """The storage settings of a new test: a prefix of its own in the session's bucket."""
    if bucket is None:
        return {}
    return {"storage_url": bucket["url"].format(prefix="t-" + secrets.token_hex(6)),
            "s3_access_key": bucket["access_key"], "s3_secret_key": bucket["secret_key"]}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, test_bucket: dict[str, str] | None) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-" + "x" * 40,
        base_url=BASE,
        inprocess_worker=False,
        # The suite's receipts are placeholder pixels (jpeg_bytes): the advice on photos too
        # poor to read is turned on by its own tests (test_photo_quality, a browser journey).
        photo_advice=False,
        **store_settings(test_bucket),  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[Starlette]:
    """The app with its lifespan started, on empty tables."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await truncate_all_models()
        yield application


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    async with running_app(settings) as application:
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http


@dataclass
class Outbox:
    """What the applicant would receive: delivers the outbox, then reads the backends."""

    settings: Settings

    async def deliver(self) -> int:
        return await delivery.deliver_due(self.settings, delivery.Backends.from_settings(self.settings))

    def sms(self) -> list[dict[str, Any]]:
        if not self.settings.sms_log.exists():
            return []
        lines = self.settings.sms_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]

    def emails(self) -> list[EmailMessage]:
        if not self.settings.mail_dir.exists():
            return []
        return [
            email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for path in sorted(self.settings.mail_dir.glob("*.eml"))
        ]

    async def last_code(self) -> str:
        await self.deliver()
        # In any language: the code SMS is the one with six digits standing alone and no link.
        code = re.compile(r"(?<![\w-])(\d{6})(?!\w)")
        texts = [m["text"] for m in self.sms() if code.search(m["text"]) and "://" not in m["text"]]
        assert texts, "no code SMS was sent"
        match = code.search(texts[-1])
        assert match
        return match.group(1)

    def links(self) -> list[str]:
        found = []
        for message in self.emails():
            body = message.get_body(("plain",))
            assert body is not None
            found += re.findall(r"http://testserver(/status/[A-Za-z0-9_-]+)", body.get_content())
        return found


@pytest.fixture
def outbox(settings: Settings) -> Outbox:
    return Outbox(settings)


def jpeg_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 40)).save(buffer, "PNG")
    return buffer.getvalue()


PDF_BYTES = (  # one blank page and the cross-reference table a parser needs (storage: pdfs.py)
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\n"
    b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n"
    b"0000000101 00000 n \ntrailer<</Size 4/Root 1 0 R>>\nstartxref\n164\n%%EOF\n"
)

UNLOCK = {
    "account_id": "6123456789",
    "country": "IN",
    "phone": "98765 43210",
    "email": "asha@example.com",
    "model": "Redmi Note 10 Pro",
    "firmware": "21.3.17",
    "reason": "I develop a custom kernel for this phone and need to flash my test builds.",
}
RECOVERY = {
    **UNLOCK,
    "firmware": "V12.5.3.0.RKHMIXM",
    "imei": "490154203237518",
    "reason": "My phone number changed and I forgot the password; the old email is closed.",
}


class Applicant:
    """Drives the pages the way a browser would: GET the form, read its hidden fields,
    POST it back."""

    def __init__(self, client: httpx2.AsyncClient) -> None:
        self.client = client

    async def form_tokens(self, kind: str) -> dict[str, str]:
        page = await self.client.get(f"/apply/{kind}")
        assert page.status_code == 200
        return hidden_fields(page.text)

    async def submit(
        self, kind: str, fields: dict[str, str], files: dict[str, tuple[str, bytes, str]] | None = None,
        tokens: dict[str, str] | None = None,
    ) -> httpx2.Response:
        data = {**(tokens or await self.form_tokens(kind)), **fields}
        if files is None:
            files = {"receipt": ("receipt.jpg", jpeg_bytes(), "image/jpeg")}
        return await self.client.post(f"/apply/{kind}", data=data, files=files)

    async def post_form(self, path: str, data: dict[str, str]) -> httpx2.Response:
        if "support_csrf" not in self.client.cookies:
            await self.client.get("/")
        token = self.client.cookies["support_csrf"]
        return await self.client.post(path, data={"csrf_token": token, **data})

    async def apply_and_verify(self, outbox: Outbox, kind: str = "unlock") -> str:
        """The whole happy path; returns the status page's path."""
        fields = UNLOCK if kind == "unlock" else RECOVERY
        response = await self.submit(kind, fields)
        assert response.status_code == 303, response.text
        verify_path = response.headers["location"]
        code = await outbox.last_code()
        confirmed = await self.post_form(verify_path, {"code": code})
        assert confirmed.status_code == 303, confirmed.text
        return confirmed.headers["location"].split("?")[0]


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


@pytest.fixture
def applicant(client: httpx2.AsyncClient) -> Applicant:
    return Applicant(client)


async def fresh_code(reviewer: Any) -> str:
    """A code from the reviewer's authenticator app that the desk has not seen yet: the
    current one, or the next step's (accepted too, ±1 step) when the current one was
    used. So a test can sign the same reviewer in twice within 30 seconds."""
    from support.data.models import Reviewer

    row = await Reviewer.get(id=reviewer.id)
    assert row.totp_secret, "this reviewer has no second factor"
    totp = pyotp.TOTP(row.totp_secret)
    step = totp.timecode(datetime.now(UTC))
    if row.totp_last_step is not None and row.totp_last_step >= step:
        step = row.totp_last_step + 1
    return totp.generate_otp(step)


async def enrol(reviewer: Any) -> str:
    """Give a reviewer a second factor as if they had set it up; returns its secret."""
    from support.data.models import Reviewer

    secret = pyotp.random_base32()
    await Reviewer.filter(id=reviewer.id).update(totp_secret=secret,
                                                 totp_enabled_at=datetime.now(UTC))
    reviewer.totp_secret = secret
    return secret


class Signed:
    """A reviewer with their own browser (cookie jar), signed in."""

    def __init__(self, reviewer: Any, client: httpx2.AsyncClient) -> None:
        self.reviewer = reviewer
        self.client = client

    async def code(self) -> str:
        return await fresh_code(self.reviewer)

    async def get(self, path: str) -> httpx2.Response:
        return await self.client.get(path)

    async def post(self, path: str, data: dict[str, Any] | None = None) -> httpx2.Response:
        if "support_csrf" not in self.client.cookies:
            await self.client.get("/")
        token = self.client.cookies["support_csrf"]
        return await self.client.post(path, data={"csrf_token": token, **(data or {})})


class Desk:
    """Makes reviewers and signs them in, each with a separate client."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.clients: list[httpx2.AsyncClient] = []
        self.count = 0

    async def reviewer(
        self, name: str = "", role: str = "reviewer", kinds: list[str] | None = None,
        countries: list[str] | None = None, *, enrolled: bool = True, pending: bool = False,
    ) -> Signed:
        """Signed in with both steps done, and a second factor set up (leads and admins
        must have one: without it every desk page sends them to set it up). ``pending``:
        only the password given, the second step still to come."""
        from support.accounts import auth
        from support.data.models import Reviewer

        self.count += 1
        name = name or f"Reviewer {self.count}"
        reviewer = await Reviewer.create(
            email=f"r{self.count}@example.com", name=name, role=role, password_hash="-",
            kinds=kinds if kinds is not None else ["unlock", "recovery", "appeal"],
            countries=countries or [],
        )
        if enrolled:
            await enrol(reviewer)
        token = await auth.start_session(reviewer, pending=pending)
        client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=self.app), base_url=BASE)
        client.cookies.set("support_session", token)
        self.clients.append(client)
        return Signed(reviewer, client)

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


@pytest.fixture
async def desk(app: Starlette) -> AsyncIterator[Desk]:
    helper = Desk(app)
    yield helper
    await helper.close()
