"""The restore drill (issue 25): a desk under a steady load of submissions and decisions
is backed up, its data directory is deleted as a dead disk would take it, the archive is
restored into a new directory and the desk started there. Everything answered before the
backup began is there and works; a damaged archive is refused and writes nothing.

Real processes: ``support serve`` (with its worker) and the ``support backup`` and
``support restore`` commands an operator runs. On SQLite the archive holds the database;
on PostgreSQL the database outlives the disk (it is backed up with its own tools), and the
archive brings back the documents and the secret key that signs every status link.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx2
import pytest

from support.documents import spool
from tests.conftest import UNLOCK, free_port, hidden_fields, jpeg_bytes
from tests.processes import Process

PASSWORD = "drill-password-" + "x" * 12
CODE = re.compile(r"(?<![\w-])(\d{6})(?!\w)")


def desk_env(data_dir: Path, database_url: str | None, port: int) -> dict[str, str]:
    env = {**os.environ, "SUPPORT_DATA_DIR": str(data_dir), "SUPPORT_LOG_FORMAT": "text",
           "SUPPORT_WORKER_INTERVAL_MS": "100", "SUPPORT_RATE_LIMITS": "0",
           "SUPPORT_BASE_URL": f"http://127.0.0.1:{port}"}
    for name in ("SUPPORT_SECRET_KEY", "SUPPORT_DATABASE_URL", "SUPPORT_STORAGE_URL"):
        env.pop(name, None)  # the secret is the data dir's own file: the backup must keep it
    if database_url:
        env["SUPPORT_DATABASE_URL"] = database_url
    return env


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "support", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=300, check=False)


class Desk(Process):
    """``support serve`` in a process of its own, on one data dir."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        super().__init__(["serve"], env, port)


def sms_codes(data_dir: Path) -> list[tuple[str, str]]:
    """(phone, code) of every confirmation code the desk's SMS log holds."""
    log = data_dir / "sms.log"
    found = []
    for line in log.read_text().splitlines() if log.exists() else []:
        message = json.loads(line)
        match = CODE.search(message["text"])
        if match and "://" not in message["text"]:
            found.append((message["to"], match.group(1)))
    return found


@dataclass
class Load:
    """What the load did: each submission's answer and when it came, each decision."""

    answered: list[tuple[float, str]] = field(default_factory=list)  # (when, reference)
    refused: list[int] = field(default_factory=list)
    decided: list[str] = field(default_factory=list)
    running: bool = True


def _phone(n: int) -> str:
    return f"98{n:08d}"


async def submit(http: httpx2.AsyncClient, n: int) -> httpx2.Response:
    form = await http.get("/apply/unlock")
    fields = {**hidden_fields(form.text), **UNLOCK, "phone": _phone(n),
              "account_id": f"61{n:08d}", "email": f"drill{n}@example.com"}
    return await http.post("/apply/unlock", data=fields,
                           files={"receipt": ("receipt.jpg", jpeg_bytes(), "image/jpeg")})


async def code_for(data_dir: Path, phone: str) -> str:
    """The code the desk sent to ``phone`` (its worker writes the SMS log)."""
    for _ in range(400):
        codes = [code for to, code in sms_codes(data_dir) if to.endswith(phone[-8:])]
        if codes:
            return codes[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no code for {phone}")


async def submitter(desk: Desk, data_dir: Path, load: Load, first: int) -> None:
    """An applicant after another: apply, then type the code."""
    n = first
    async with httpx2.AsyncClient(base_url=desk.url, timeout=30) as http:
        while load.running:
            answer = await submit(http, n)
            if answer.status_code != 303:
                load.refused.append(answer.status_code)
                continue
            reference = answer.headers["location"].split("/")[2]
            load.answered.append((time.monotonic(), reference))
            await confirm(http, answer.headers["location"], await code_for(data_dir, _phone(n)))
            n += 1


async def sign_in(desk: Desk) -> httpx2.AsyncClient:
    http = httpx2.AsyncClient(base_url=desk.url, timeout=30)
    form = await http.get("/review/login")
    signed = await http.post("/review/login", data={
        **hidden_fields(form.text), "email": "rev@example.com", "password": PASSWORD})
    assert signed.status_code == 303 and "/login" not in signed.headers["location"], signed.text
    return http


def _approve_form(page: str) -> dict[str, str]:
    for form in re.findall(r"<form[^>]*/decide\"[^>]*>(.*?)</form>", page, re.S):
        fields = hidden_fields(form)
        if fields.get("action") == "approve":
            message = re.search(r"<textarea[^>]*name=\"message\"[^>]*>(.*?)</textarea>", form,
                                re.S)
            assert message
            return {**fields, "message": html.unescape(message.group(1)) or "Approved."}
    raise AssertionError("no approval form on the page")


async def decider(desk: Desk, load: Load) -> None:
    http = await sign_in(desk)
    try:
        while load.running:
            taken = await http.post("/review/next",
                                    data={"csrf_token": http.cookies["support_csrf"]})
            where = taken.headers.get("location", "")
            if "/review/applications/" not in where:
                await asyncio.sleep(0.2)  # nothing confirmed yet
                continue
            page = await http.get(where)
            decided = await http.post(where + "/decide", data=_approve_form(page.text))
            assert decided.status_code == 303, decided.text
            load.decided.append(where.rsplit("/", 1)[1])
    finally:
        await http.aclose()


async def confirm(http: httpx2.AsyncClient, verify_path: str, code: str) -> str:
    """The applicant types their code; returns the status link the desk sends them."""
    confirmed = await http.post(verify_path, data={"csrf_token": http.cookies["support_csrf"],
                                                   "code": code})
    assert confirmed.status_code == 303, confirmed.text
    return confirmed.headers["location"].split("?")[0]


async def documents_of(references: set[str] | None, data_dir: Path,
                       database_url: str | None) -> dict[str, list[tuple[str, str | None]]]:
    """Each application's documents in the restored database: (storage key, spool place)."""
    query = ("SELECT a.reference, d.storage_key, d.spooled FROM application a "
             "JOIN document d ON d.application_id = a.id")
    if database_url is None:
        with contextlib.closing(sqlite3.connect(data_dir / "support.sqlite3")) as db:
            rows = list(db.execute(query))
    else:
        connection = await asyncpg.connect(database_url)
        try:
            rows = [tuple(row) for row in await connection.fetch(query)]
        finally:
            await connection.close()
    found: dict[str, list[tuple[str, str | None]]] = {}
    for reference, key, spooled in rows:
        if references is None or reference in references:
            found.setdefault(reference, []).append((key, spooled))
    return found


def kept_on(data_dir: Path, key: str, spooled: str | None) -> bool:
    """The document's bytes are in the restored data dir: its file, or its spool place."""
    if spooled is None:
        return (data_dir / "documents" / key[:2] / key).is_file()
    place = spool.Place.parse(spooled)
    segment = data_dir / "spool" / place.segment
    return segment.is_file() and segment.stat().st_size >= place.offset + place.length


@pytest.mark.slow
async def test_the_drill_a_desk_under_load_is_backed_up_lost_and_restored(
        empty_database_url, tmp_path):
    on_sqlite = empty_database_url.startswith("sqlite")
    database_url = None if on_sqlite else empty_database_url
    old, new, port = tmp_path / "old" / "var", tmp_path / "new" / "var", free_port()
    archive = tmp_path / "desk.tar"
    env = desk_env(old, database_url, port)
    assert run(env, "migrate").returncode == 0
    created = run(env, "create-reviewer", "rev@example.com", "--name", "Rev", "--role",
                  "reviewer", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr

    desk = Desk(env, port)
    load = Load()
    try:
        await desk.ready()
        async with httpx2.AsyncClient(base_url=desk.url, timeout=30) as applicant:
            # Before the backup: three applicants confirm and get their status links; a
            # fourth has a code and has not typed it yet.
            links, waiting = [], []
            for n in range(4):
                sent = await submit(applicant, 900 + n)
                assert sent.status_code == 303, sent.text
                code = await code_for(old, _phone(900 + n))
                if n < 3:
                    links.append(await confirm(applicant, sent.headers["location"], code))
                else:
                    waiting.append((sent.headers["location"], code))
            for link in links:
                assert (await applicant.get(link)).status_code == 200

        # A steady load: two applicants submitting, a reviewer deciding.
        workers = [asyncio.create_task(submitter(desk, old, load, 1000)),
                   asyncio.create_task(submitter(desk, old, load, 5000)),
                   asyncio.create_task(decider(desk, load))]
        await asyncio.sleep(1.5)
        # On PostgreSQL the database outlives the disk; its dump is taken first, then the
        # archive (docs/deploy.md): the rows as the dump holds them are what must find
        # their files in the archive.
        dumped = None if on_sqlite else await documents_of(None, old, database_url)
        began = time.monotonic()
        backup = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "support", "backup", str(archive), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        said, _ = await backup.communicate()
        assert backup.returncode == 0, said.decode()
        await asyncio.sleep(0.5)  # the load goes on after it
        load.running = False
        await asyncio.gather(*workers)
    finally:
        load.running = False
        output = desk.stop()
    assert "Traceback" not in output, output
    before = {reference for when, reference in load.answered if when < began}
    assert len(before) >= 5 and load.decided, (len(load.answered), load.decided)
    assert not load.refused, load.refused
    assert "Wrote" in said.decode()

    # The disk dies.
    shutil.rmtree(tmp_path / "old")

    # Damaged archives first: cut short, one byte changed. Refused, nothing written.
    whole = archive.read_bytes()
    for name, damaged in [("short.tar", whole[:len(whole) // 2]),
                          ("flipped.tar", whole[:len(whole) // 3]
                           + bytes([whole[len(whole) // 3] ^ 1]) + whole[len(whole) // 3 + 1:])]:
        (tmp_path / name).write_bytes(damaged)
        refused = run(desk_env(new, database_url, port), "restore", str(tmp_path / name))
        assert refused.returncode == 1, refused.stderr
        assert "is damaged" in refused.stderr and "Nothing was written" in refused.stderr
        assert not new.exists() and sorted(p.name for p in (tmp_path / "new").iterdir()) == [] \
            if (tmp_path / "new").exists() else True
    assert not any(path.name.startswith(".var.restoring") for path in tmp_path.rglob("*"))

    # The archive, restored on a new machine's directory.
    new_env = desk_env(new, database_url, port)
    restored = run(new_env, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "Start it with `support serve`" in restored.stderr
    documents = await documents_of(before, new, database_url) if dumped is None else \
        {reference: kept for reference, kept in dumped.items() if reference in before}
    assert set(documents) == before, before - set(documents)
    for reference, kept in documents.items():
        assert all(kept_on(new, key, spooled) for key, spooled in kept), reference

    desk = Desk(new_env, port)
    try:
        await desk.ready()
        async with httpx2.AsyncClient(base_url=desk.url, timeout=30) as applicant:
            # Status links sent before the backup open, and say where each one stands.
            for link in links:
                page = await applicant.get(link)
                assert page.status_code == 200, page.text[:500]
                assert re.search(r"<title>UL-[A-Z0-9-]+ ·", page.text), page.text[:500]
            # The code sent before the backup still confirms.
            await applicant.get("/")
            verify_path, code = waiting[0]
            link = await confirm(applicant, verify_path, code)
            assert (await applicant.get(link)).status_code == 200
            # Every application answered before the backup began is there with its receipt.
            reviewer = await sign_in(desk)
            try:
                for reference in sorted(before):
                    page = await reviewer.get(f"/review/applications/{reference}")
                    assert page.status_code == 200, (reference, page.status_code)
                    ids = re.findall(r"/review/documents/(\d+)", page.text)
                    assert ids, reference
                    receipt = await reviewer.get(f"/review/documents/{ids[0]}")
                    assert receipt.status_code == 200, (reference, receipt.text[:300])
                    assert receipt.headers["content-type"] == "image/jpeg"
                    assert receipt.content[:2] == b"\xff\xd8"
            finally:
                await reviewer.aclose()
    finally:
        output = desk.stop()
    assert "Traceback" not in output, output
