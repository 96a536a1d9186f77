"""B6: on SQLite, what a long read does to every other request of the process.

The SQLite client runs statements on the event loop's thread (B1): right for a
submission's short statements, but while one statement runs nothing else in the process
does. This seeds a SQLite database with ``--rows`` queued applications (the "queued" tab
holds them all; 3 % carry a risk flag) and ``--closed`` applications closed over a year
ago (with a document each: the retention purge's work), then:

1. the long jobs in this process, with a task that asks to wake every millisecond: how
   long each held the loop at a stretch (the longest stall is what a request arriving
   meanwhile waits): the queue export's batches, the report rollup (the first run, which
   builds thirty days, and the run every minute after it) and the retention purge;
2. a real server (``support serve``, the delivery worker inside it as ``make run`` runs
   it): a lead streams the whole "queued" tab with contacts (``/review/queue.csv``) while
   another client GETs the applicant's form (``/apply/unlock``) every ``--interval``
   seconds, one at a time; and the same GETs with no export running (the baseline).
   Alternated ``--runs`` times; the medians are reported.

Target: the form's p99 ≤ 100 ms during the export.

    .venv/bin/python bench/b6_sqlite_export.py [--rows 200000] [--runs 3] [--interval 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import random
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Appended, not inserted: a PYTHONPATH naming another copy of support/ (an A/B of two
# versions of the code, as bench/README.md describes) then wins here and in the server.
sys.path.append(str(Path(__file__).resolve().parent.parent))

import support  # noqa: E402  (first: bench.b2_queue puts this checkout first in sys.path)
from bench.b2_queue import (  # noqa: E402
    COUNTRY_WEIGHTS,
    EMAIL_DOMAINS,
    REASONS,
    PhonePlan,
    luhn_digit,
)
from bench.harness import (  # noqa: E402
    BIN,
    ROOT,
    SECRET,
    RssSampler,
    code_state,
    free_port,
    load_average,
    migrate,
    support_env,
    wait_for,
)
from bench.machine import describe, record  # noqa: E402
from support.config import Settings  # noqa: E402
from support.data import db  # noqa: E402
from support.platform.tokens import REFERENCE_ALPHABET  # noqa: E402
from support.rules.catalogue import devices  # noqa: E402
from support.rules.kinds import KINDS  # noqa: E402

TARGET_P99_MS = 100
SLA_HOURS = {"unlock": 72, "recovery": 168}  # what the seeded due dates promise
LEAD = "Lead Asha"
TAB = "queued"
DAY = 86400.0


# --- the database ----------------------------------------------------------------------

def stamp(ts: float) -> str:
    """A moment as Tortoise writes it to SQLite (``datetime.isoformat(" ")``, UTC)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(" ")


@dataclass
class Seeded:
    seconds: float
    queued: int
    closed: int
    flags: int


def seed(path: Path, rows: int, closed: int, seed_: int = 6) -> Seeded:
    """``rows`` queued applications of the last thirty days and ``closed`` approved ones
    decided 400 days ago (a document each, already made safe), straight into SQLite."""
    started = time.perf_counter()
    rng = random.Random(seed_)
    now = time.time()
    plans = {region: PhonePlan.for_country(region) for region in COUNTRY_WEIGHTS}
    countries, weights = zip(*COUNTRY_WEIGHTS.items(), strict=True)
    catalogue = devices()
    references: set[str] = set()

    def reference(prefix: str) -> str:
        while True:
            chars = "".join(rng.choices(REFERENCE_ALPHABET, k=8))
            text = f"{prefix}-{chars[:4]}-{chars[4:]}"
            if text not in references:
                references.add(text)
                return text

    def application(app_id: int, kind: str, created: float, status: str,
                    decided: float | None) -> tuple[Any, ...]:
        spec = KINDS[kind]
        country = rng.choices(countries, weights)[0]
        body = f"35{rng.randrange(10**12):012d}"
        verified = created + rng.uniform(30, 900)
        due = verified + 3600 * SLA_HOURS[kind]
        device = rng.choice(catalogue)
        return (app_id, reference(spec.prefix), kind, status, str(6_000_000_000 + app_id),
                country, plans[country].number(rng),
                f"user{app_id}@{rng.choice(EMAIL_DOMAINS)}", device.name,
                f"{rng.randrange(20, 25)}.{rng.randrange(1, 13)}.{rng.randrange(1, 29)}",
                "developer", body + luhn_digit(body) if spec.needs_imei else None,
                rng.choice(REASONS), "en", spec.priority, secrets.token_hex(16), stamp(due),
                stamp(verified), None if decided is None else stamp(decided), stamp(created),
                stamp(decided or verified), "approved" if decided else None)

    columns = ("id, reference, kind, status, account_id, country, phone, email, model, "
               "firmware, firmware_channel, imei, reason, locale, priority, submission_key, "
               "due_at, verified_at, decided_at, created_at, updated_at, decision_code")
    insert = f"INSERT INTO application ({columns}) VALUES ({', '.join('?' * 22)})"  # noqa: S608
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        with conn:
            moments = sorted(now - rng.random() * 30 * DAY for _ in range(rows))
            kinds = rng.choices(["unlock", "recovery"], [70, 30], k=rows)
            conn.executemany(insert, (application(i + 1, kinds[i], moments[i], "queued", None)
                                      for i in range(rows)))
            old = now - 420 * DAY
            conn.executemany(insert, (application(rows + i + 1, "unlock", old, "approved",
                                                  old + 20 * DAY) for i in range(closed)))
            flagged = rng.sample(range(1, rows + 1), rows * 3 // 100)
            conn.executemany(
                "INSERT INTO risk_flag (application_id, code, reason, related, created_at) "
                "VALUES (?, ?, 'Planted by the benchmark.', '[]', ?)",
                ((app_id, rng.choice(["shared_phone", "same_imei", "recent_unlock"]),
                  stamp(now)) for app_id in flagged))
            conn.executemany(
                "INSERT INTO document (application_id, purpose, content_type, size, sha256, "
                "storage_key, original_name, uploaded_by, sanitised_at, created_at) VALUES "
                "(?, 'receipt', 'image/jpeg', 200000, ?, ?, 'receipt.jpg', 'applicant', ?, ?)",
                ((rows + i + 1, hashlib.sha256(str(i).encode()).hexdigest(),
                  secrets.token_urlsafe(24), stamp(old), stamp(old)) for i in range(closed)))
            conn.execute(
                "INSERT INTO reviewer (email, name, password_hash, role, active, kinds, "
                "countries, created_at) VALUES ('lead@example.com', ?, '-', 'lead', 1, '[]', "
                "'[]', ?)", (LEAD, stamp(now)))
        conn.execute("ANALYZE")  # what a database in use for a while would have
    finally:
        conn.close()
    return Seeded(time.perf_counter() - started, rows, closed, len(flagged))


# --- the loop, in this process ---------------------------------------------------------

@dataclass
class Stalls:
    """A job timed while a task asked to wake every millisecond: each wake-up's lateness
    is how long something held the event loop."""

    name: str
    seconds: float = 0.0
    lags: list[float] = field(default_factory=list)
    note: str = ""

    def p(self, q: float) -> float:
        ordered = sorted(self.lags) or [0.0]
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    def over(self, ms: float) -> int:
        return sum(1 for lag in self.lags if lag * 1000 > ms)


async def stalls(name: str, job: Callable[[], Awaitable[str]]) -> Stalls:
    result = Stalls(name)
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            result.lags.append(max(0.0, time.perf_counter() - before - 0.001))

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    try:
        result.note = await job()
    finally:
        result.seconds = time.perf_counter() - started
        done.set()
        await task
    print(f"  {name}: {result.seconds:.2f} s, longest stall {result.p(1.0):.1f} ms, "
          f"p99 {result.p(0.99):.1f} ms {result.note}", flush=True)
    return result


async def jobs(url: str, settings: Settings) -> tuple[list[Stalls], str]:
    """The long jobs timed in this process; and a lead's session token for the server."""
    from support.accounts import auth
    from support.data.models import ReportDay, ReportDuration, Reviewer
    from support.reads import reports
    from support.reads.exports import QueueExport
    from support.reads.queue import Filters
    from support.workflow import purging

    await db.init(url)
    try:
        lead = await Reviewer.get(name=LEAD)
        # Leads must have a second factor, else every desk page sends them to set one up:
        # a secret as if set up, the session as if its code was typed (both steps done).
        await Reviewer.filter(id=lead.id).update(totp_secret="B" * 32)
        token = await auth.start_session(lead)

        async def export() -> str:
            rows = 0
            async for batch in QueueExport(lead, Filters(tab=TAB), contacts=True).batches():
                rows += len(batch)
            return f"({rows:,} rows)"

        async def rollup_first() -> str:
            await ReportDay.all().delete()
            await ReportDuration.all().delete()
            return f"({len(await reports.refresh(force=True))} days written)"

        async def rollup_minute() -> str:
            return f"({len(await reports.refresh(force=True))} day written)"

        async def purge() -> str:
            report = await purging.purge(settings)
            return f"({report.documents:,} applications' documents, {report.redacted:,} " \
                   "redacted)"

        results = [await stalls("queue export, whole tab (in process)", export),
                   await stalls("report rollup, first run (30 days)", rollup_first),
                   await stalls("report rollup, the run every minute", rollup_minute),
                   await stalls("retention purge", purge),
                   await stalls("retention purge, nothing left to do", purge)]
    finally:
        await db.close()
    return results, token


# --- the server ------------------------------------------------------------------------

@dataclass
class Phase:
    run: int
    name: str
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    export_s: float | None = None
    rows: int | None = None
    megabytes: float = 0.0
    cpu_s: float = 0.0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies) or [0.0]
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def probe(port: int, stop: threading.Event, interval: float, phase: Phase) -> None:
    """The applicant's form, one GET at a time on one kept-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        while not stop.is_set():
            started = time.perf_counter()
            conn.request("GET", "/apply/unlock")
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            if response.status == 200:
                phase.latencies.append(elapsed)
            else:
                phase.failures += 1
            time.sleep(max(0.0, interval - elapsed))
    finally:
        conn.close()


def export(port: int, token: str, phase: Phase) -> None:
    """The whole tab as CSV, with contacts, read as it streams; rows counted (a newline ends
    each: no exported cell holds one; the header is not a row)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    try:
        conn.request("GET", f"/review/queue.csv?tab={TAB}&contacts=1",
                     headers={"Cookie": f"support_session={token}"})
        response = conn.getresponse()
        assert response.status == 200, response.status
        lines = size = 0
        while chunk := response.read(1 << 16):
            size += len(chunk)
            lines += chunk.count(b"\n")  # a CRLF may straddle two chunks
    finally:
        conn.close()
    phase.export_s = time.perf_counter() - started
    phase.rows = lines - 1
    phase.megabytes = size / 1e6


def measure(port: int, pid: int, token: str, run: int, interval: float,
            baseline_s: float) -> list[Phase]:
    idle = Phase(run, "idle")
    stop = threading.Event()
    prober = threading.Thread(target=probe, args=(port, stop, interval, idle))
    with RssSampler(pid) as sampler:
        prober.start()
        time.sleep(baseline_s)
        stop.set()
        prober.join()
    idle.cpu_s = sampler.cpu_used
    busy = Phase(run, "during the export")
    stop = threading.Event()
    prober = threading.Thread(target=probe, args=(port, stop, interval, busy))
    with RssSampler(pid) as sampler:
        prober.start()
        try:
            export(port, token, busy)
        finally:
            stop.set()
            prober.join()
    busy.cpu_s = sampler.cpu_used
    for phase in (idle, busy):
        print(f"  run {run}, {phase.name}: {len(phase.latencies)} GETs, p50 {phase.p(0.5):.1f} "
              f"p95 {phase.p(0.95):.1f} p99 {phase.p(0.99):.1f} max {phase.p(1.0):.1f} ms"
              + ("" if phase.export_s is None else
                 f"; export {phase.export_s:.1f} s, {phase.rows:,} rows"), flush=True)
    return [idle, busy]


def serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([str(BIN / "support"), "serve"], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)


# --- the report ------------------------------------------------------------------------

def measured() -> str:
    """Which support/ ran, when it is not this checkout's (PYTHONPATH: an A/B)."""
    package = Path(support.__file__).resolve().parent
    return "" if package == ROOT / "support" else f"; measured: the support/ in {package.parent}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def report(args: argparse.Namespace, seeded: Seeded, jobs_: list[Stalls],
           phases: list[Phase]) -> str:
    lines = [f"### B6 SQLite: the form's GET during a {seeded.queued:,}-row queue export, "
             f"{args.runs} runs", "", code_state() + measured(),
             f"- seeded {seeded.queued:,} queued applications ({seeded.flags:,} risk flags) "
             f"and {seeded.closed:,} closed 400 days ago in {seeded.seconds:.0f} s",
             f"- load average (1, 5, 15 min) at the start and end: {args.load_before}; "
             f"{args.load_after}",
             f"- the server: `support serve`, the delivery worker inside it; the form GET every "
             f"{args.interval * 1000:.0f} ms, one at a time, from another client; the export "
             f"is `/review/queue.csv?tab={TAB}&contacts=1` as a lead", "",
             "| run | form GET | GETs | p50 ms | p95 ms | p99 ms | max ms | failed | export s "
             "| rows | MB | server CPU s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for phase in phases:
        mark = "" if phase.export_s is None or phase.p(0.99) <= TARGET_P99_MS else " ✗"
        export_cells = ("| | |" if phase.export_s is None else
                        f"| {phase.export_s:.1f} | {phase.rows:,} "
                        f"{'✓' if phase.rows == seeded.queued else '✗'} |")
        lines.append(f"| {phase.run} | {phase.name} | {len(phase.latencies)} | "
                     f"{phase.p(0.5):.1f} | {phase.p(0.95):.1f} | {phase.p(0.99):.1f}{mark} | "
                     f"{phase.p(1.0):.1f} | {phase.failures} {export_cells} "
                     f"{phase.megabytes:.1f} | {phase.cpu_s:.1f} |")
    lines.append("")
    for name in ("idle", "during the export"):
        own = [phase for phase in phases if phase.name == name]
        figures = ", ".join(f"{label} {median([ph.p(q) for ph in own]):.1f}"
                            for label, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99),
                                             ("max", 1.0)))
        extra = ""
        if name != "idle":
            extra = (f"; the export took {median([ph.export_s or 0.0 for ph in own]):.1f} s "
                     f"(median), every run complete: "
                     f"{'yes' if all(ph.rows == seeded.queued for ph in own) else 'NO'}")
        lines.append(f"- the form's GET {name}, the median of {len(own)} runs (ms): "
                     f"{figures}{extra}.")
    lines += ["", "The long jobs in the benchmark's own process (one run each): how long the "
              "event loop was held at a stretch while each ran.", "",
              "| job | took s | longest stall ms | p99 stall ms | stalls > 50 ms | |",
              "|---|---|---|---|---|---|"]
    for job in jobs_:
        lines.append(f"| {job.name} | {job.seconds:.2f} | {job.p(1.0):.1f} | {job.p(0.99):.1f} "
                     f"| {job.over(50)} | {job.note} |")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="queued applications")
    parser.add_argument("--closed", type=int, default=5_000,
                        help="applications closed 400 days ago (the retention purge's work)")
    parser.add_argument("--runs", type=int, default=3, help="idle/export pairs against one server")
    parser.add_argument("--interval", type=float, default=0.02,
                        help="seconds between the starts of two form GETs")
    parser.add_argument("--baseline", type=float, default=15.0,
                        help="seconds of form GETs with no export running, each run")
    parser.add_argument("--no-record", action="store_true",
                        help="print only; do not append to results.md")
    args = parser.parse_args()
    print(describe(), flush=True)
    args.load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-b6-") as tmp:
        work = Path(tmp)
        path = work / "b6.sqlite3"
        url = f"sqlite://{path}"
        port = free_port()
        env = support_env(url, work, port, SUPPORT_INPROCESS_WORKER="1")
        migrate(env)
        print(f"B6: seeding {args.rows:,} queued and {args.closed:,} closed applications",
              flush=True)
        seeded = seed(path, args.rows, args.closed)
        print(f"  {seeded.seconds:.0f} s", flush=True)
        settings = Settings(data_dir=work, database_url=url, secret_key=SECRET,
                            base_url=f"http://127.0.0.1:{port}", inprocess_worker=False)
        print("B6: the long jobs, in this process", flush=True)
        jobs_, token = await jobs(url, settings)
        print("B6: the form's GET, idle and during the export, through support serve",
              flush=True)
        process = serve(env, work / "server.log")
        phases: list[Phase] = []
        try:
            wait_for(port, process)
            time.sleep(5)  # the worker's first tick (its daily purge, the rollup) is over
            warm = Phase(0, "warm-up")
            stop = threading.Event()
            threading.Timer(2, stop.set).start()
            probe(port, stop, args.interval, warm)
            for run in range(1, args.runs + 1):
                phases += measure(port, process.pid, token, run, args.interval, args.baseline)
        finally:
            process.terminate()
            process.wait(timeout=30)
    args.load_after = load_average()
    text = report(args, seeded, jobs_, phases)
    print(text)
    if not args.no_record:
        record("B6", text)


if __name__ == "__main__":
    asyncio.run(main())
