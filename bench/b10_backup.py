"""B10: ``support backup`` of a busy SQLite desk, and ``support restore`` of it.

A desk of ``--applications`` applications with a document file each (``--document-kb`` of
incompressible bytes, as a re-encoded JPEG is) is seeded straight into SQLite (B6's seed)
and served by ``support serve`` with its worker inside, as `make run` runs it. One
applicant after another submits the unlock form (GET, then the POST with a receipt) every
``--interval`` seconds: for ``--baseline`` seconds with nothing else running, then while
``support backup`` runs. Reported: the backup's time and rate, the submissions' p50/p99
before and during it (and any that failed), the archive's check (``--verify``) and the
restore's time into an empty directory.

    .venv/bin/python bench/b10_backup.py [--applications 100000] [--document-kb 20]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from PIL import Image

sys.path.append(str(Path(__file__).resolve().parent.parent))

from bench.b6_sqlite_export import seed  # noqa: E402
from bench.harness import (  # noqa: E402
    BIN,
    ROOT,
    free_port,
    load_average,
    migrate,
    percentile,
    support_env,
    wait_for,
)
from bench.machine import describe, record  # noqa: E402

FORM = {"account_id": "6123456789", "country": "IN", "email": "asha@example.com",
        "model": "Redmi Note 10 Pro", "firmware": "21.3.17",
        "reason": "I develop a custom kernel for this phone and need to flash my test builds."}


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    def line(self) -> str:
        ms = [value * 1000 for value in self.latencies]
        return (f"| {self.name} | {len(ms)} | {percentile(ms, 0.5):.1f} | "
                f"{percentile(ms, 0.99):.1f} | {max(ms, default=0):.1f} | {self.failures} |")


def receipt() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 80), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def submitter(port: int, stop: threading.Event, interval: float, phase: list[Phase],
              counter: list[int]) -> None:
    """Applicants, one at a time: the form, then the submission; each timed whole."""
    photo = receipt()
    with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        while not stop.is_set():
            started = time.perf_counter()
            n = counter[0] = counter[0] + 1
            form = http.get("/apply/unlock")
            hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                                     form.text))
            sent = http.post("/apply/unlock",
                             data={**hidden, **FORM, "phone": f"98{n:08d}",
                                   "account_id": f"71{n:08d}"},
                             files={"receipt": ("receipt.jpg", photo, "image/jpeg")})
            elapsed = time.perf_counter() - started
            if sent.status_code == 303:
                phase[0].latencies.append(elapsed)
            else:
                phase[0].failures += 1
            time.sleep(max(0.0, interval - elapsed))


def files(work: Path, kb: int) -> float:
    """A file for every document row, under its key, as the worker files them."""
    started = time.perf_counter()
    connection = sqlite3.connect(work / "support.sqlite3")
    keys = [key for (key,) in connection.execute("SELECT storage_key FROM document")]
    connection.close()
    block = os.urandom(kb * 1024 + 4096)
    for n, key in enumerate(keys):
        folder = work / "documents" / key[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(block[n % 4096:n % 4096 + kb * 1024])
    return time.perf_counter() - started


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return time.perf_counter() - started, done.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--document-kb", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--baseline", type=float, default=30.0)
    parser.add_argument("--warm-up", type=float, default=30.0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    print(describe(), flush=True)
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-b10-", dir=os.environ.get("TMPDIR")) as tmp:
        work = Path(tmp) / "var"
        work.mkdir()
        port = free_port()
        url = f"sqlite://{work / 'support.sqlite3'}"
        # B6's applications were decided 420 days ago: kept here, not the purge's work.
        env = support_env(url, work, port, SUPPORT_INPROCESS_WORKER="1",
                          SUPPORT_LOG_FORMAT="text", SUPPORT_DOCUMENT_RETENTION_DAYS="3650",
                          SUPPORT_PII_RETENTION_DAYS="3650",
                          SUPPORT_PHOTO_ADVICE="0")  # its 40x80 receipt is too small to read
        migrate(env)
        seeded = seed(work / "support.sqlite3", 0, args.applications)
        writing = files(work, args.document_kb)
        print(f"B10: seeded {seeded.closed:,} applications in {seeded.seconds:.0f} s, "
              f"their files in {writing:.0f} s", flush=True)
        archive = Path(tmp) / "desk.tar"
        with (Path(tmp) / "server.log").open("wb") as log:
            server = subprocess.Popen([str(BIN / "support"), "serve"], env=env, cwd=ROOT,
                                      stdout=log, stderr=subprocess.STDOUT)
        phases = [Phase("before the backup"), Phase("during the backup")]
        current = [phases[0]]
        counter = [0]
        stop = threading.Event()
        try:
            wait_for(port, server)
            time.sleep(args.warm_up)  # the worker's start: its sweep of 100,000 files
            thread = threading.Thread(target=submitter,
                                      args=(port, stop, args.interval, current, counter))
            thread.start()
            time.sleep(args.baseline)
            current[0] = phases[1]
            backup_seconds, backup_said = timed(
                [str(BIN / "support"), "backup", "--quiet", str(archive)], env)
            stop.set()
            thread.join()
        finally:
            stop.set()
            server.terminate()
            server.wait(timeout=30)
        size = archive.stat().st_size
        verify_seconds, _ = timed([str(BIN / "support"), "backup", "--verify", "--quiet",
                                   str(archive)], env)
        restore_env = {**env, "SUPPORT_DATA_DIR": str(Path(tmp) / "restored"),
                       "SUPPORT_DATABASE_URL": ""}
        restore_env.pop("SUPPORT_SECRET_KEY")
        restore_seconds, _ = timed([str(BIN / "support"), "restore", "--quiet", str(archive)],
                                   restore_env)
    text = "\n".join([
        f"B10 at {args.applications:,} applications with a {args.document_kb} KB document "
        f"each (SQLite; load {load_before} before, {load_average()} after):",
        "",
        "| | seconds | rate |",
        "|---|---|---|",
        f"| backup, {size / 1e9:.2f} GB archive | {backup_seconds:.1f} | "
        f"{size / 1e6 / backup_seconds:.0f} MB/s |",
        f"| --verify | {verify_seconds:.1f} | {size / 1e6 / verify_seconds:.0f} MB/s |",
        f"| restore into an empty directory | {restore_seconds:.1f} | "
        f"{size / 1e6 / restore_seconds:.0f} MB/s |",
        "",
        f"The backup said: {backup_said}",
        "",
        f"Submissions, one applicant at a time every {args.interval * 1000:.0f} ms "
        "(GET the form, POST it with a receipt; ms):",
        "",
        "| phase | submissions | p50 | p99 | max | failed |",
        "|---|---|---|---|---|---|",
        *[phase.line() for phase in phases],
    ])
    print(text)
    if not args.no_record:
        record("B10", text)


if __name__ == "__main__":
    main()
