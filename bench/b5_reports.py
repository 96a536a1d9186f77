"""B5: the reports page, its rollups and the CSV exports at a million applications.

PostgreSQL. Makes a fresh database with B2's generator (``--rows`` applications with their
events, documents and risk flags), adds one notification per application (half a percent
dead), then measures:

- the worker's rollups (``reports.refresh``): the first run, which builds thirty days from
  nothing (a new installation), and the run every minute after it (today only);
- the reports page and one report CSV, server time as in B2 (the app in this process
  behind httpx2's ASGI transport), with the statements of one request under
  ``EXPLAIN (ANALYZE, BUFFERS)`` in ``bench/plans/``;
- the queue exports: ``support serve`` as its own process, a lead's session, the
  "recently decided" tab (about 80 % of the rows) streamed to this process and counted,
  twice, while the server's RSS is sampled every 100 ms. Flat memory means the peak during
  the export stays near the idle figure and the second export ends where the first did.

    .venv/bin/python bench/b5_reports.py [--rows 1000000] [--samples 100] [--keep]
    .venv/bin/python bench/b5_reports.py --database bench_b5_xxxx   # reuse a kept database
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2  # noqa: E402

from bench.b2_queue import (  # noqa: E402
    BASE,
    PLANS,
    Operation,
    Timed,
    explain,
    generate,
    sign_in,
)
from bench.harness import (  # noqa: E402
    BIN,
    ROOT,
    SECRET,
    RssSampler,
    code_state,
    drop_database,
    free_port,
    load_average,
    new_postgres,
    postgres_url,
    rss_mb,
    support_env,
    wait_for,
)
from bench.machine import describe, record  # noqa: E402
from support.config import Settings  # noqa: E402
from support.data import db  # noqa: E402

TARGET_MS = 200

NOTIFICATIONS = """
INSERT INTO notification (application_id, channel, recipient, template, context, locale,
    status, attempts, next_attempt_at, last_error, attempt_log, idempotency_key, created_at,
    sent_at)
SELECT id, CASE WHEN id % 2 = 0 THEN 'email' ELSE 'sms' END,
    CASE WHEN id % 2 = 0 THEN email ELSE phone END, 'received', '{}', locale,
    CASE WHEN id % 200 = 7 THEN 'dead' ELSE 'sent' END,
    CASE WHEN id % 200 = 7 THEN 6 ELSE 1 END,
    created_at + interval '5 minutes', '', '[]', 'b5-' || id, created_at,
    CASE WHEN id % 200 = 7 THEN NULL ELSE created_at + interval '1 minute' END
FROM application
"""


async def add_notifications(url: str) -> tuple[int, float]:
    """One message per application (every 200th dead), unless there are some already."""
    conn = await asyncpg.connect(url)
    try:
        existing = int(await conn.fetchval("SELECT count(*) FROM notification"))
        if existing:
            return existing, 0.0
        started = time.perf_counter()
        await conn.execute("SET synchronous_commit = off")
        await conn.execute(NOTIFICATIONS)
        await conn.execute("VACUUM (ANALYZE) notification")
        count = int(await conn.fetchval("SELECT count(*) FROM notification"))
        return count, time.perf_counter() - started
    finally:
        await conn.close()


async def _not_a_request(i: int) -> httpx2.Response:
    raise AssertionError("the rollup is timed directly, not through a request")


@dataclass
class Rollups:
    first_s: float
    first_statements: int
    days_written: int
    minute: Operation


async def rollups(settings: Settings, samples: int) -> Rollups:
    """The first run on an empty rollup table, then the per-minute run, timed."""
    from support.data.models import ReportDay, ReportDuration
    from support.reads import reports

    await db.init(settings.database_url)
    try:
        await ReportDay.all().delete()
        await ReportDuration.all().delete()
        started = time.perf_counter()
        with db.statements_sent() as seen:
            written = await reports.refresh(force=True)
        first = time.perf_counter() - started
        minute = Operation("rollup, the run every minute (today)", _not_a_request)
        for _ in range(samples):
            started = time.perf_counter()
            await reports.refresh(force=True)
            minute.times.append(time.perf_counter() - started)
        with db.statements_sent() as again:
            await reports.refresh(force=True)
        minute.captured = list(again)
    finally:
        await db.close()
    return Rollups(first, len(seen), len(written), minute)


async def measure(settings: Settings, samples: int) -> list[Operation]:
    from support.app import create_app

    app = create_app(settings)
    timed = Timed(app)
    async with app.router.lifespan_context(app):
        lead = await sign_in(timed, "Lead Asha")
        ops = [
            Operation("reports page (lead)", lambda i: lead.get("/review/reports")),
            Operation("report CSV: share approved by model",
                      lambda i: lead.get("/review/reports.csv",
                                         params={"table": "approved-by-model"})),
            Operation("queue CSV, filtered: IN, unlock, flag (lead)",
                      lambda i: lead.get("/review/queue.csv", params={
                          "country": "IN", "kind": "unlock", "flag": "unlock_not_offered"})),
        ]
        for op in ops:
            for i in range(5):
                await op.request(i + samples)
            for i in range(samples):
                response = await op.request(i)
                assert response.status_code == op.expect, (op.name, response.status_code)
                op.times.append(timed.last)
            with db.statements_sent() as seen:
                await op.request(samples + 7)
            op.captured = list(seen)
            print(f"  {op.name}: p50 {op.p(0.5):.1f} ms, p95 {op.p(0.95):.1f} ms, "
                  f"{len(op.captured)} statements", flush=True)
        await lead.aclose()
    return ops


@dataclass
class Export:
    name: str
    rows: int
    megabytes: float
    seconds: float
    first_byte_ms: float
    idle_mb: float
    peak_mb: float
    after_mb: float
    cpu_s: float


async def session_token(url: str, name: str) -> str:
    from support.accounts import auth
    from support.data.models import Reviewer

    await db.init(url)
    try:
        reviewer = await Reviewer.get(name=name)
        # Leads must have a second factor, else every desk page sends them to set one up:
        # a secret as if set up, the session as if its code was typed (both steps done).
        await Reviewer.filter(id=reviewer.id).update(totp_secret="B" * 32)
        return await auth.start_session(reviewer)
    finally:
        await db.close()


async def exports(url: str, tab: str, repeat: int, work: Path) -> list[Export]:
    """Stream the queue export from a real server, counting rows, sampling its RSS."""
    token = await session_token(url, "Lead Asha")
    port = free_port()
    env = support_env(url, work, port, SUPPORT_INPROCESS_WORKER="0")
    results: list[Export] = []
    with (work / "server.log").open("wb") as log:
        process = subprocess.Popen([str(BIN / "support"), "serve"], env=env, cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(port, process)
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                      timeout=None) as client:
            client.cookies.set("support_session", token)
            assert (await client.get("/review/queue")).status_code == 200  # warm
            for n in range(repeat):
                idle = rss_mb(process.pid)
                rows = size = 0
                first_byte = 0.0
                with RssSampler(process.pid) as sampler:
                    started = time.perf_counter()
                    async with client.stream("GET", "/review/queue.csv",
                                             params={"tab": tab}) as response:
                        assert response.status_code == 200, response.status_code
                        async for chunk in response.aiter_raw():
                            if not size:
                                first_byte = time.perf_counter() - started
                            size += len(chunk)
                            rows += chunk.count(b"\r\n")
                    seconds = time.perf_counter() - started
                await asyncio.sleep(1)
                results.append(Export(
                    f"queue CSV, tab {tab}, run {n + 1}", rows - 1, size / 1e6, seconds,
                    first_byte * 1000, idle, sampler.peak_kb / 1024, rss_mb(process.pid),
                    sampler.cpu_used))
                print(f"  {results[-1]}", flush=True)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return results


def table(ops: list[Operation]) -> str:
    lines = ["| operation | p50 ms | p95 ms | max ms | SQL statements | samples |",
             "|---|---|---|---|---|---|"]
    for op in ops:
        mark = "" if op.p(0.95) <= TARGET_MS else " ✗"
        lines.append(f"| {op.name} | {op.p(0.5):.1f} | {op.p(0.95):.1f}{mark} | "
                     f"{max(op.times) * 1000:.1f} | {len(op.captured)} | {len(op.times)} |")
    return "\n".join(lines)


def export_table(runs: list[Export]) -> str:
    lines = ["| export | rows | MB | s | rows/s | first byte ms | server RSS idle → peak → "
             "after MB | server CPU s |", "|---|---|---|---|---|---|---|---|"]
    for run in runs:
        lines.append(f"| {run.name} | {run.rows:,} | {run.megabytes:.1f} | {run.seconds:.1f} | "
                     f"{run.rows / run.seconds:,.0f} | {run.first_byte_ms:.0f} | "
                     f"{run.idle_mb:.1f} → {run.peak_mb:.1f} → {run.after_mb:.1f} | "
                     f"{run.cpu_s:.1f} |")
    return "\n".join(lines)


def report(args: argparse.Namespace, name: str, generated: Any, notifications: tuple[int, float],
           built: Rollups, ops: list[Operation], runs: list[Export], plans: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H%M")
    PLANS.mkdir(exist_ok=True)
    plan_path = PLANS / f"b5-{stamp}.txt"
    plan_path.write_text(f"B5 {stamp}\n{describe()}\n{plans}", encoding="utf-8")
    lines = [f"### B5 reports and exports: {args.samples} samples each, PostgreSQL",
             "", code_state()]
    if generated is not None:
        counts = ", ".join(f"{t} {c:,}" for t, c in generated.counts.items())
        lines.append(f"- generated {args.rows:,} applications in {generated.seconds:.0f} s: "
                     f"{counts}")
    else:
        lines.append(f"- reused database {name}")
    lines.append(f"- notifications: {notifications[0]:,} (one per application, 0.5 % dead; "
                 f"added in {notifications[1]:.0f} s)")
    lines.append(f"- load average (1 min) at the start and end: {args.load_before} and "
                 f"{args.load_after}")
    lines.append(f"- plans: bench/plans/{plan_path.name}")
    minute = built.minute
    lines.append(f"- rollups: the first run (30 days from nothing) took {built.first_s:.1f} s "
                 f"in {built.first_statements} statements and wrote {built.days_written} "
                 f"days; the run every minute after it: p50 {minute.p(0.5):.1f} ms, p95 "
                 f"{minute.p(0.95):.1f} ms, {len(minute.captured)} statements\n")
    lines.append(table(ops))
    lines.append("")
    lines.append(export_table(runs))
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--exports", type=int, default=2, help="times to run the big export")
    parser.add_argument("--tab", default="decided", help="the queue tab to export")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--database", help="reuse this kept database (B2's or B5's)")
    parser.add_argument("--no-record", action="store_true",
                        help="print only; do not append to results.md")
    args = parser.parse_args()
    print(describe(), flush=True)
    url = (postgres_url(args.database) if args.database
           else await new_postgres(f"b5_{secrets.token_hex(4)}"))
    name = url.rsplit("/", 1)[1]
    generated = None
    try:
        print(f"B5: database {name}: migrating", flush=True)
        await db.migrate(url)
        if not args.database:
            print(f"B5: generating {args.rows:,} applications", flush=True)
            generated = await generate(url, args.rows)
        notifications = await add_notifications(url)
        print(f"B5: {notifications[0]:,} notifications", flush=True)
        args.load_before = load_average(minutes=1)
        with tempfile.TemporaryDirectory(prefix="bench-b5-") as tmp:
            settings = Settings(data_dir=Path(tmp), database_url=url, secret_key=SECRET,
                                base_url=BASE, inprocess_worker=False)
            print("B5: rollups", flush=True)
            built = await rollups(settings, min(args.samples, 30))
            print(f"  first run {built.first_s:.1f} s, every minute p95 "
                  f"{built.minute.p(0.95):.1f} ms", flush=True)
            print("B5: the page and report CSVs", flush=True)
            ops = await measure(settings, args.samples)
            print("B5: queue exports through support serve", flush=True)
            runs = await exports(url, args.tab, args.exports, Path(tmp))
        args.load_after = load_average(minutes=1)
        # Bulk inserts go as one statement with many rows of values: nothing to explain.
        reads = Operation(built.minute.name, _not_a_request, captured=[
            (sql, values) for sql, values in built.minute.captured
            if not sql.lstrip().upper().startswith("INSERT")])
        plans = await explain(url, [reads, *ops])
    finally:
        if not args.keep and not args.database:
            await drop_database(url)
    text = report(args, name, generated, notifications, built, ops, runs, plans)
    print(text)
    if not args.no_record:
        record("B5", text)


if __name__ == "__main__":
    os.environ.setdefault("SUPPORT_INPROCESS_WORKER", "0")
    asyncio.run(main())
