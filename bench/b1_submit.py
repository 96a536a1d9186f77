"""B1: how many unlock applications (with a 200 KB receipt) one uvicorn process takes.

wrk (another process, in C) posts the real form for a while against ``support serve`` and,
in the same run, against bench/bare_app.py, the stack's own limit. The server's RSS is
sampled from /proc while it runs; afterwards the applications in the database are counted
and must equal the 303 answers wrk saw.

    .venv/bin/python bench/b1_submit.py [--db sqlite|postgres|both] [--duration 20]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from PIL import Image

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe, record  # noqa: E402
from support import tokens  # noqa: E402

SECRET = "bench-secret-" + "k" * 40
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent


def receipt_jpeg(path: Path, target: int = 200 * 1024) -> int:
    """A photo-like JPEG of about 200 KB (noise compresses badly, as real photos do)."""
    rng = random.Random(7)
    size = 420
    while True:
        image = Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        if buffer.tell() >= target:
            path.write_bytes(buffer.getvalue())
            return buffer.tell()
        size += 20


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
    """Peak resident memory of one process, read from /proc every 100 ms."""

    pid: int
    peak_kb: int = 0
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _rss(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self._rss()
            except OSError:
                return
            self.samples.append(rss)
            self.peak_kb = max(self.peak_kb, rss)
            time.sleep(0.1)

    def __enter__(self) -> RssSampler:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join()


async def make_database(kind: str, data_dir: Path, label: str) -> str:
    if kind == "sqlite":
        return f"sqlite://{data_dir / (label + '.sqlite3')}"
    name = f"bench_b1_{label}_{os.getpid()}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"postgres://postgres@127.0.0.1:5432/{name}"


async def drop_database(url: str) -> None:
    if url.startswith("postgres"):
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await admin.close()


async def count_rows(url: str, table: str) -> int:
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite://")) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
    finally:
        await conn.close()


def run_wrk(port: int, env: dict[str, str], duration: int, connections: int,
            threads: int) -> dict[str, float]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
               "-s", str(BENCH / "wrk_submit.lua"), f"http://127.0.0.1:{port}/apply/unlock"]
    out = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True,
                         check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH_JSON "))
    result: dict[str, float] = json.loads(line.removeprefix("BENCH_JSON "))
    result["rps"] = result["ok"] / (result["duration_us"] / 1e6)
    return result


def serve(target: str, url: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PORT": str(port), "SUPPORT_DATA_DIR": str(data_dir),
           "SUPPORT_DATABASE_URL": url, "SUPPORT_SECRET_KEY": SECRET,
           "SUPPORT_BASE_URL": f"http://127.0.0.1:{port}",
           "BENCH_DB_URL": url, "BENCH_UPLOAD_DIR": str(data_dir / "bare-uploads")}
    if target == "support":
        subprocess.run([str(BIN / "support"), "migrate"], env=env, check=True,
                       capture_output=True)
        command = [str(BIN / "support"), "serve"]
    else:
        command = [str(BIN / "uvicorn"), "bench.bare_app:app", "--port", str(port),
                   "--log-level", "info"]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def one(target: str, kind: str, args: argparse.Namespace, work: Path) -> dict[str, object]:
    data_dir = work / f"{target}-{kind}"
    data_dir.mkdir()
    url = await make_database(kind, data_dir, target)
    token_file = work / f"tokens-{target}-{kind}.txt"
    now = time.time()
    token_file.write_text("\n".join(tokens.new_submission_token(SECRET, now)
                                    for _ in range(args.tokens)) + "\n")
    port = free_port()
    process = serve(target, url, data_dir, port)
    try:
        wait_for(port, process)
        env = {"BENCH_TOKENS": str(token_file), "BENCH_JPEG": str(work / "receipt.jpg"),
               "BENCH_THREADS": str(args.threads)}
        with RssSampler(process.pid) as rss:
            result = run_wrk(port, env, args.duration, args.connections, args.threads)
        time.sleep(1)  # let the last transactions land before counting
        table = "application" if target == "support" else "bench_submission"
        rows = await count_rows(url, table)
    finally:
        process.terminate()
        process.wait(timeout=30)
        await drop_database(url)
    # wrk stops with up to one request per connection in flight: the server finishes those,
    # so rows may exceed wrk's count by that much. Fewer rows than 303s would be a loss.
    return {"target": target, "db": kind, **result, "rows": rows,
            "rss_peak_mb": round(rss.peak_kb / 1024, 1),
            "complete": result["ok"] <= rows <= result["ok"] + args.connections}


def report(results: list[dict[str, object]], args: argparse.Namespace) -> str:
    lines = [f"### B1 submission, {args.connections} connections, {args.duration} s, "
             f"{args.receipt_kb} KB receipt", "",
             "| target | db | ok/s | p50 ms | p99 ms | max ms | non-303 | rows / 303s "
             "| peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['target']} | {r['db']} | {r['rps']:.1f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['other']} | "
            f"{r['rows']} / {r['ok']} {'✓' if r['complete'] else '✗ lost'} | {r['rss_peak_mb']} |")
    by_db: dict[str, dict[str, float]] = {}
    for r in results:
        by_db.setdefault(str(r["db"]), {})[str(r["target"])] = float(r["rps"])  # type: ignore[arg-type]
    lines.append("")
    for db, rates in by_db.items():
        if "bare" in rates and "support" in rates and rates["bare"]:
            lines.append(f"- {db}: the full path runs at {rates['support'] / rates['bare']:.0%} "
                         "of the bare app's rate (target ≥ 50%).")
    lines.append("- rows / 303s: every 303 wrk saw has its row; up to one request per "
                 "connection was still in flight when wrk stopped and landed after.")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=60000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk (make bench does this)")
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    print(describe())
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-b1-") as tmp:
        work = Path(tmp)
        args.receipt_kb = receipt_jpeg(work / "receipt.jpg") // 1024
        for kind in kinds:
            for target in ("bare", "support"):
                print(f"B1: {target} on {kind} ...", flush=True)
                results.append(await one(target, kind, args, work))
    text = report(results, args)
    print(text)
    record("B1", text)


if __name__ == "__main__":
    asyncio.run(main())
