"""Faults with real parts (issue 7): PostgreSQL restarted under load, the disk filling
during an upload, an SMTP server that never answers.

Each test breaks something real (its own PostgreSQL cluster, a 2 MB filesystem, a socket
server that stays silent) and checks what an applicant would notice and what is left in
the database and on disk afterwards.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx2
import pytest

from tests.conftest import UNLOCK, hidden_fields, jpeg_bytes
from tests.faults_pg import Cluster, free_port, postgres_bin

pytestmark = pytest.mark.slow

# What the applicant must read on a page answered while the database is away.
TRY_AGAIN = "try again in a moment"
HANG = 20.0  # seconds: a request still unanswered by then counts as a hang


# --- 1. PostgreSQL restarted during a load of submissions --------------------------------


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries are not installed "
                    "(no /usr/lib/postgresql/*/bin/initdb): cannot start a cluster to restart")
    own = Cluster.create(bin_dir)
    try:
        own.ctl("start")
        yield own
    finally:
        own.destroy()


@dataclass
class Outcome:
    started: float
    finished: float
    status: int | None  # None: no HTTP answer at all
    reference: str = ""
    problem: str = ""


@dataclass
class Load:
    """Several applicants posting the unlock form in a loop, each from its own browser."""

    base: str
    outcomes: list[Outcome] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def successes_after(self, moment: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == 303 and o.started >= moment]

    async def applicant(self, number: int) -> None:
        loop = asyncio.get_running_loop()
        sent = 0
        async with httpx2.AsyncClient(base_url=self.base, timeout=HANG) as http:
            while not self.stop.is_set():
                sent += 1
                started = loop.time()
                outcome = Outcome(started, started, None)
                try:
                    form = await http.get("/apply/unlock")
                    if form.status_code != 200:
                        outcome.status = form.status_code
                        outcome.problem = "" if TRY_AGAIN in form.text else form.text[:300]
                    else:
                        fields = {**hidden_fields(form.text), **UNLOCK,
                                  "account_id": f"7{number:02d}{sent:07d}"}
                        files = {"receipt": ("receipt.jpg", jpeg_bytes(), "image/jpeg")}
                        answer = await http.post("/apply/unlock", data=fields, files=files)
                        outcome.status = answer.status_code
                        if answer.status_code == 303:
                            outcome.reference = answer.headers["location"].split("/")[2]
                        elif TRY_AGAIN not in answer.text:
                            outcome.problem = answer.text[:300]
                except httpx2.TimeoutException:
                    outcome.problem = f"no answer within {HANG} s"
                except httpx2.TransportError as exc:
                    outcome.problem = f"connection failed: {type(exc).__name__}"
                outcome.finished = loop.time()
                self.outcomes.append(outcome)
                if outcome.status != 303:
                    await asyncio.sleep(0.05)  # as a person would, rather than spin

    async def until_successes(self, count: int, after: float, seconds: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while len(self.successes_after(after)) < count:
            if loop.time() > deadline:
                raise AssertionError(f"fewer than {count} submissions succeeded in {seconds} s; "
                                     f"last answers: {self.outcomes[-5:]}")
            await asyncio.sleep(0.05)

    async def wait_for_success_after(self, moment: float, seconds: float) -> float:
        """How long after ``moment`` a submission started then succeeded."""
        loop = asyncio.get_running_loop()
        while loop.time() < moment + seconds:
            done = self.successes_after(moment)
            if done:
                return min(o.finished for o in done) - moment
            await asyncio.sleep(0.05)
        raise AssertionError(f"no submission succeeded within {seconds} s of the database's "
                             f"return; last answers: {self.outcomes[-5:]}")


async def _started(http: httpx2.AsyncClient, server: subprocess.Popen[str], log: Path) -> None:
    for _ in range(200):
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        if server.poll() is not None:
            break
        await asyncio.sleep(0.1)
    raise AssertionError(f"server did not start:\n{log.read_text()}")


@pytest.mark.parametrize("clients", [6])
async def test_postgres_restarts_under_load(tmp_path: Path, cluster: Cluster,
                                            clients: int) -> None:
    admin = await asyncpg.connect(cluster.url("postgres"))
    await admin.execute('CREATE DATABASE "support"')
    await admin.close()
    data_dir = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "SUPPORT_DATA_DIR": str(data_dir), "PORT": str(port),
           "SUPPORT_DATABASE_URL": cluster.url("support"),
           "SUPPORT_RATE_LIMITS": "0"}
    env.pop("SUPPORT_SECRET_KEY", None)
    migrated = subprocess.run([sys.executable, "-m", "support", "migrate"], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
    assert migrated.returncode == 0, migrated.stderr
    log = tmp_path / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(  # noqa: ASYNC220 - a server that must outlive this call
            [sys.executable, "-m", "support", "serve"], env=env, stdout=output,
            stderr=subprocess.STDOUT, text=True)
    load = Load(f"http://127.0.0.1:{port}")
    loop = asyncio.get_running_loop()
    try:
        async with httpx2.AsyncClient(base_url=load.base, timeout=HANG) as http:
            await _started(http, server, log)
            applicants = [asyncio.create_task(load.applicant(n)) for n in range(clients)]
            try:
                recoveries = {}
                for mode in ("fast", "immediate"):
                    await load.until_successes(2 * clients, after=loop.time())
                    await asyncio.to_thread(cluster.ctl, "-m", mode, "restart")
                    back = loop.time()
                    recoveries[mode] = await load.wait_for_success_after(back, 15)
                await load.until_successes(2 * clients, after=back)
            finally:
                load.stop.set()
                await asyncio.gather(*applicants)
            health = await http.get("/healthz")
        assert server.poll() is None, "the app died instead of recovering"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)

    # During the outages: a readable 503 page, never a 500, a hang or a dropped connection.
    failed = [o for o in load.outcomes if o.status != 303]
    assert failed, f"the restarts went unnoticed; is the load running? {cluster.log()[-2000:]}"
    assert all(o.status == 503 and not o.problem for o in failed), [
        (o.status, o.problem) for o in failed if o.status != 503 or o.problem][:5]
    assert all(o.finished - o.started < HANG for o in load.outcomes)
    assert all(seconds < 5 for seconds in recoveries.values()), recoveries
    assert health.json()["database"] == "ok"

    # Every applicant sent to the verify page has an application, with its receipt on disk.
    promised = {o.reference for o in load.outcomes if o.status == 303}
    check = await asyncpg.connect(cluster.url("support"))
    try:
        stored = {row["reference"] for row in await check.fetch("SELECT reference FROM application")}
        keys = {row["storage_key"] for row in await check.fetch(
            "SELECT d.storage_key FROM document d JOIN application a ON a.id = d.application_id")}
    finally:
        await check.close()
    assert promised - stored == set(), f"lost applications: {sorted(promised - stored)}"
    files = {path.name for path in (data_dir / "documents").rglob("*") if path.is_file()}
    assert keys - files == set(), "applications whose receipt is missing"
    assert files - keys == set(), "receipts that belong to no application"
    assert not list((data_dir / "tmp").glob("*")), "staged uploads left behind"
