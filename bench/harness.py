"""What every benchmark here needs: the support command, fresh databases, a free port,
a server to wait for, and the server's memory and CPU read from /proc.

Each benchmark starts the real ``support serve`` as its own process with the settings from
``support_env``, so what is measured is what `make run` and docs/deploy.md run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent
SECRET = "bench-secret-" + "k" * 40
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


def support_env(url: str, data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a ``support`` process for one run; ``extra`` adds or overrides.

    Abuse limits are off: every benchmark sends thousands of forms from one address, and
    would otherwise measure the 429 page (B1 past its tenth application)."""
    return {**os.environ, "PORT": str(port), "SUPPORT_DATA_DIR": str(data_dir),
            "SUPPORT_DATABASE_URL": url, "SUPPORT_SECRET_KEY": SECRET,
            "SUPPORT_BASE_URL": f"http://127.0.0.1:{port}", "SUPPORT_RATE_LIMITS": "0",
            **extra}


def migrate(env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "support"), "migrate"], env=env, check=True, capture_output=True)


def code_state() -> str:
    """The commit measured, and which files under support/ differed from it (read-only git)."""
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.rstrip("\n") if out.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = [line[3:] for line in git("status", "--porcelain", "--", "support").splitlines()]
    return f"- code: {head}" + (f" with uncommitted changes to {', '.join(changed)}"
                                if changed else ", support/ unchanged")


def load_average(minutes: int = 3) -> str:
    """Other work on the machine skews every figure: say how busy it was (the 1-minute
    figure, or the 1-, 5- and 15-minute ones)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[: 1 if minutes == 1 else 3])


def cpu_wait_ns(pid: int) -> int:
    """How long a process's main thread has waited, runnable, for a CPU (Linux schedstat):
    the share of the run it spent so says whether something else took its cores."""
    try:
        return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    return rss_kb(pid) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time one process has used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {port}")


@dataclass
class RssSampler:
    """Peak resident memory of a server, read from /proc every 100 ms, the CPU it used
    while the block ran, and the share of that time its main thread waited for a CPU.
    A ``pid`` of 0 samples nothing (no such process in this run)."""

    pid: int
    peak_kb: int = 0
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _tree(self) -> list[int]:
        """The process and its children (``support serve --workers N`` forks N)."""
        pids, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        return pids

    interval = 0.1  # seconds between readings

    def _rss(self) -> int:
        """The largest single process: each web process must stay under the target."""
        return max(rss_kb(pid) for pid in self._tree())

    def run(self) -> None:
        while self.pid and not self._stop.is_set():
            try:
                rss = self._rss()
            except OSError:
                return
            self.samples.append(rss)
            self.peak_kb = max(self.peak_kb, rss)
            time.sleep(self.interval)

    def _cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self._tree()) if self.pid else 0.0

    def _waits(self) -> dict[int, int]:
        return {pid: cpu_wait_ns(pid) for pid in self._tree()} if self.pid else {}

    def __enter__(self) -> RssSampler:
        self.cpu_start = self._cpu()
        self.wait_start, self.wall_start = self._waits(), time.monotonic()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu_used = self._cpu() - self.cpu_start
        wall = time.monotonic() - self.wall_start
        waits = [ns - self.wait_start.get(pid, ns) for pid, ns in self._waits().items()]
        # the most any one process waited: with --web N, the busiest web process
        self.cpu_wait_share = max(waits, default=0) / 1e9 / wall if wall > 0 else 0.0
        self._stop.set()
        self.thread.join()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile by nearest rank over ``n - 1`` (the one definition every script's
    p50/p95 uses)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def postgres_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


async def new_database(kind: str, data_dir: Path, label: str) -> str:
    """A fresh, empty database for one run: a SQLite file in ``data_dir``, or PostgreSQL."""
    if kind == "sqlite":
        return f"sqlite://{data_dir / (label + '.sqlite3')}"
    return await new_postgres(label)


async def new_postgres(label: str) -> str:
    """A PostgreSQL database named after the run (dropped first if a killed run left it)."""
    name = f"bench_{label}_{os.getpid()}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return postgres_url(name)


async def drop_database(url: str) -> None:
    """Drop what ``new_database`` made (a SQLite file goes with its temporary folder)."""
    if url.startswith("postgres"):
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await admin.close()


def bucket_env(gateway: Any, name: str) -> dict[str, str]:
    """A new bucket of the bench's gateway, as a server's settings."""
    gateway.make_bucket(name)
    return {"SUPPORT_STORAGE_URL": f"s3://{name}/desk?endpoint={gateway.endpoint}"
                                   f"&region={gateway.region}",
            "SUPPORT_S3_ACCESS_KEY": gateway.access_key,
            "SUPPORT_S3_SECRET_KEY": gateway.secret_key}
