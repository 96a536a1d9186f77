"""A throwaway PostgreSQL cluster of the test's own, to restart at will.

The shared server on 127.0.0.1:5432 serves other test runs, so it is never touched: this
one is made with ``initdb`` in a temporary folder owned by ``postgres`` (PostgreSQL
refuses to run as root), listens on a free loopback port with trust authentication, and
is stopped and deleted when the test ends. ``serve`` runs the app against it in its own
process; ``Load`` is several applicants posting the form meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx2

from tests.conftest import UNLOCK, free_port, hidden_fields, jpeg_bytes

# What the applicant must read on a page answered while the database is away.
TRY_AGAIN = "try again in a moment"
HANG = 20.0  # seconds: a request still unanswered by then counts as a hang


def postgres_bin() -> Path | None:
    """The newest installed server's binaries, or None when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def _as_postgres(*command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    runner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*runner, *command], capture_output=True, text=True, timeout=timeout,
                          check=False)


@dataclass
class Cluster:
    bin: Path
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``pg_ctl`` on this cluster; ``-w`` waits until the action is done."""
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.root} -c fsync=off")
        done = _as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                            str(self.root / "server.log"), "-o", options, "-w", *args)
        assert done.returncode == 0, f"pg_ctl {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @classmethod
    def create(cls, bin_dir: Path) -> Cluster:
        root = Path(tempfile.mkdtemp(prefix="support-faults-pg-"))
        if os.geteuid() == 0:  # PostgreSQL will not run as root: the cluster is postgres's
            shutil.chown(root, "postgres", "postgres")
        cluster = cls(bin_dir, root, free_port())
        made = _as_postgres(str(bin_dir / "initdb"), "-D", str(cluster.data), "-A", "trust",
                            "-U", "postgres", "--no-sync", "-E", "UTF8")
        if made.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise AssertionError(f"initdb failed: {made.stdout}{made.stderr}")
        return cluster

    def destroy(self) -> None:
        """Stop the server (without waiting for clients) and delete the cluster; if pg_ctl
        cannot stop it, end the postmaster this cluster started, by its own pid file."""
        stopped = _as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
                               "immediate", "-w", "stop")
        pid_file = self.data / "postmaster.pid"
        if stopped.returncode != 0 and pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Served:
    """``support serve`` in its own process against the cluster, its log in a file (a pipe
    nobody reads would fill during an outage and stall the server)."""

    base: str
    data_dir: Path
    log: Path
    process: subprocess.Popen[str]


@contextlib.asynccontextmanager
async def serve(cluster: Cluster, workdir: Path, **env: str) -> AsyncIterator[Served]:
    """Create and migrate the ``support`` database with the CLI, serve it, wait until
    /healthz answers; on the way out, stop the server with SIGTERM."""
    admin = await asyncpg.connect(cluster.url("postgres"))
    try:
        await admin.execute('CREATE DATABASE "support"')
    finally:
        await admin.close()
    port = free_port()
    data_dir = workdir / "data"
    full_env = {**os.environ, "SUPPORT_DATA_DIR": str(data_dir), "PORT": str(port),
                "SUPPORT_DATABASE_URL": cluster.url("support"), "SUPPORT_RATE_LIMITS": "0",
                **env}
    full_env.pop("SUPPORT_SECRET_KEY", None)
    migrated = subprocess.run([sys.executable, "-m", "support", "migrate"], env=full_env,
                              capture_output=True, text=True, timeout=60, check=False)
    assert migrated.returncode == 0, migrated.stderr
    log = workdir / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: ASYNC220 - a server that must outlive this call
            [sys.executable, "-m", "support", "serve"], env=full_env, stdout=output,
            stderr=subprocess.STDOUT, text=True)
    served = Served(f"http://127.0.0.1:{port}", data_dir, log, process)
    try:
        async with httpx2.AsyncClient(base_url=served.base, timeout=5) as http:
            for _ in range(200):
                with contextlib.suppress(httpx2.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                if process.poll() is not None:
                    raise AssertionError(f"server did not start:\n{log.read_text()}")
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"server did not start:\n{log.read_text()}")
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
                outcome = Outcome(loop.time(), 0.0, None)
                try:
                    form = await http.get("/apply/unlock")
                    answer = form
                    if form.status_code == 200:
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

    async def back_after(self, moment: float, seconds: float = 15) -> float:
        """How long after ``moment`` (the database is back) a submission that started
        then was accepted."""
        await self.until_successes(1, moment, seconds)
        return min(o.finished for o in self.successes_after(moment)) - moment
