"""B3: "take next" under contention: reviewers claiming at once on PostgreSQL.

A fresh PostgreSQL database is migrated with ``support migrate`` and seeded (COPY) with
queued, confirmed applications and reviewer accounts, each with a server-side session.
``support serve`` runs as its own process (delivery worker off). This process then plays
the reviewers: one httpx2 client (cookie jar) per reviewer, all in one event loop. Each
opens the queue once (which hands it the CSRF cookie), then POSTs "take next" in a loop
and records the application the redirect names.

Two phases:
- steady: the queue never runs dry (claims per second, latency);
- drain: a short queue that the reviewers empty (racing for the last rows).

After each phase the database is checked: one ``claim`` event per claimed application,
each held by the reviewer whose browser was sent to it, no reference given to two
browsers, and as many claims in the database as browsers saw.

    .venv/bin/python bench/b3_claim.py [--reviewers 20] [--duration 30] [--pool 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    BIN,
    ROOT,
    RssSampler,
    code_state,
    drop_database,
    free_port,
    load_average,
    migrate,
    new_postgres,
    percentile,
    support_env,
    wait_for,
)
from bench.machine import describe, record  # noqa: E402
from support.platform import tokens  # noqa: E402
from support.rules.kinds import KINDS, promised_hours  # noqa: E402

MIB = 1024 * 1024

# What-if (--claim-index): indexes the shipped migrations do not have. The first matches
# claim_next's ORDER BY, so PostgreSQL walks it and stops at the first row it can lock
# instead of sorting every queued row (a LIMIT under FOR UPDATE cannot be a top-N sort);
# the other two serve the "barred from this appeal" look-up.
CLAIM_INDEXES = (
    "CREATE INDEX bench_claim_order_idx ON application (status, priority DESC, due_at, id)",
    "CREATE INDEX bench_decided_by_idx ON application (decided_by_id)",
    "CREATE INDEX bench_appeal_of_idx ON application (appeal_of_id)",
)

APPLICATION_COLUMNS = (
    "reference", "kind", "status", "account_id", "country", "phone", "email", "model",
    "firmware", "firmware_channel", "imei", "reason", "locale", "priority", "submission_key",
    "due_at", "verified_at", "created_at", "updated_at",
)


# --- the database -------------------------------------------------------------------------

def application_rows(count: int, seed: int) -> list[tuple[Any, ...]]:
    """Queued, confirmed applications: 80% unlock, 20% recovery, confirmed over the last
    three days, each due its kind's SLA after confirmation."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    references: set[str] = set()
    rows = []
    for n in range(count):
        kind = KINDS["unlock" if rng.random() < 0.8 else "recovery"]
        reference = tokens.new_reference(kind.prefix)
        while reference in references:
            reference = tokens.new_reference(kind.prefix)
        references.add(reference)
        verified = now - timedelta(seconds=rng.randrange(3 * 86400))
        sla = promised_hours(kind, {})
        rows.append((
            reference, kind.code, "queued", f"8{seed:02d}{n:07d}", "IN",
            f"+9197{seed:02d}{n:06d}", f"b3-{seed}-{n}@example.com", "Redmi Note 10 Pro",
            "21.3.17", "developer", f"35{seed:02d}{n:011d}" if kind.needs_imei else None,
            "I develop a custom kernel for this phone and need to flash test builds.", "en",
            kind.priority, f"b3-{seed}-{n}-{secrets.token_hex(8)}",
            verified + timedelta(hours=sla), verified, verified - timedelta(minutes=5), verified,
        ))
    return rows


async def seed_applications(url: str, count: int, seed: int, claim_index: bool) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table("application", records=application_rows(count, seed),
                                         columns=APPLICATION_COLUMNS)
        if claim_index:
            for statement in CLAIM_INDEXES:
                await conn.execute(statement)
        await conn.execute("ANALYZE application")
    finally:
        await conn.close()


async def seed_reviewers(url: str, count: int) -> list[tuple[int, str]]:
    """Reviewers of every queue (role "reviewer", the scoped one), each with a live session:
    [(reviewer id, session token for the cookie)]."""
    now = datetime.now(UTC)
    conn = await asyncpg.connect(url)
    try:
        sessions = []
        for n in range(count):
            reviewer_id = await conn.fetchval(
                "INSERT INTO reviewer (email, name, password_hash, role, active, created_at, "
                "kinds, countries) VALUES ($1, $2, '-', 'reviewer', true, $3, $4::jsonb, "
                "'[]'::jsonb) RETURNING id",
                f"b3-reviewer-{n}@example.com", f"Bench reviewer {n}", now,
                json.dumps(["unlock", "recovery", "appeal"]),
            )
            token = secrets.token_urlsafe(32)
            await conn.execute(
                "INSERT INTO reviewer_session (token_hash, reviewer_id, created_at, last_seen_at,"
                " expires_at) VALUES ($1, $2, $3, $3, $4)",
                tokens.token_hash(token), reviewer_id, now, now + timedelta(hours=12),
            )
            sessions.append((int(reviewer_id), token))
        return sessions
    finally:
        await conn.close()


async def reset_stats(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_stat_reset()")
    finally:
        await conn.close()


async def scan_stats(url: str) -> str:
    """How PostgreSQL read the application table during the run (counters reset after the
    seeding, read once the server has exited and its sessions have flushed them): the
    indexes used, the sequential scans, and the temporary files sorts spilled to."""
    conn = await asyncpg.connect(url)
    try:
        await asyncio.sleep(1.5)  # sessions flush their counters at most once a second
        indexes = await conn.fetch(
            "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes "
            "WHERE relname = 'application' AND idx_scan > 0 ORDER BY idx_scan DESC")
        table = await conn.fetchrow(
            "SELECT seq_scan, seq_tup_read FROM pg_stat_user_tables WHERE relname = 'application'")
        temp = await conn.fetchrow(
            "SELECT temp_files, temp_bytes FROM pg_stat_database "
            "WHERE datname = current_database()")
    finally:
        await conn.close()
    used = ", ".join(f"{row['indexrelname']} {row['idx_scan']}" for row in indexes) or "none"
    return (f"index scans: {used}; sequential scans: {table['seq_scan']} "
            f"({table['seq_tup_read']} rows read); temporary files: {temp['temp_files']} "
            f"({temp['temp_bytes'] / MIB:.0f} MiB)")


# --- the reviewers ------------------------------------------------------------------------

@dataclass
class Browser:
    reviewer_id: int
    claimed: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    empty: int = 0
    failed: dict[str, int] = field(default_factory=dict)


async def reviewer_loop(base: str, reviewer_id: int, token: str, start: asyncio.Event,
                        deadline: list[float], until_empty: bool) -> Browser:
    browser = Browser(reviewer_id)
    async with httpx2.AsyncClient(base_url=base, timeout=30) as client:
        client.cookies.set("support_session", token)
        queue = await client.get("/review/queue")  # the CSRF cookie comes with the page
        if queue.status_code != 200:
            raise RuntimeError(f"reviewer {reviewer_id}: queue answered {queue.status_code}")
        csrf = queue.cookies.get("support_csrf") or client.cookies.get("support_csrf")
        if not csrf:
            raise RuntimeError("no CSRF cookie on the queue page")
        await start.wait()
        while time.monotonic() < deadline[0]:
            began = time.perf_counter()
            try:
                response = await client.post("/review/next", data={"csrf_token": csrf})
            except httpx2.HTTPError as exc:
                key = type(exc).__name__
                browser.failed[key] = browser.failed.get(key, 0) + 1
                continue
            browser.latencies.append(time.perf_counter() - began)
            location = response.headers.get("location", "")
            if response.status_code == 303 and location.startswith("/review/applications/"):
                browser.claimed.append(location.rsplit("/", 1)[1].split("?")[0])
            elif response.status_code == 303 and "notice=empty" in location:
                browser.empty += 1
                if until_empty:
                    break
            else:
                key = str(response.status_code)
                browser.failed[key] = browser.failed.get(key, 0) + 1
    return browser


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


# --- checking the claims against the database ---------------------------------------------

async def check_claims(url: str, browsers: list[Browser]) -> dict[str, Any]:
    seen: dict[str, int] = {}
    given_twice = 0
    for browser in browsers:
        for reference in browser.claimed:
            if reference in seen:
                given_twice += 1
            seen[reference] = browser.reviewer_id
    conn = await asyncpg.connect(url)
    try:
        events = await conn.fetch(
            "SELECT a.reference, count(*) AS n, min(e.actor) AS actor, max(e.actor) AS other "
            "FROM event e JOIN application a ON a.id = e.application_id "
            "WHERE e.type = 'claim' GROUP BY a.reference")
        held = await conn.fetch(
            "SELECT reference, assignee_id FROM application WHERE status = 'in_review'")
        queued_left = await conn.fetchval(
            "SELECT count(*) FROM application WHERE status = 'queued'")
    finally:
        await conn.close()
    claim_events = {row["reference"]: row for row in events}
    assignee = {row["reference"]: row["assignee_id"] for row in held}
    double_events = sum(1 for row in events if row["n"] > 1)
    wrong_holder = sum(1 for ref, rid in seen.items() if assignee.get(ref) != rid)
    wrong_actor = sum(
        1 for ref, rid in seen.items()
        if ref not in claim_events or claim_events[ref]["actor"] != f"reviewer:{rid}"
        or claim_events[ref]["other"] != f"reviewer:{rid}"
    )
    unseen = len(set(claim_events) - set(seen))
    ok = (given_twice == 0 and double_events == 0 and wrong_holder == 0 and wrong_actor == 0
          and unseen == 0 and len(claim_events) == len(assignee) == len(seen))
    return {"seen": len(seen), "given_twice": given_twice, "claim_events": len(claim_events),
            "double_events": double_events, "in_review": len(assignee),
            "wrong_holder": wrong_holder, "wrong_actor": wrong_actor, "unseen": unseen,
            "queued_left": int(queued_left), "ok": ok}


# --- one phase ----------------------------------------------------------------------------

async def phase(name: str, args: argparse.Namespace, work: Path, applications: int,
                duration: float, until_empty: bool, claim_index: bool = False) -> dict[str, Any]:
    data_dir = work / name.replace("+", "_")
    data_dir.mkdir()
    url = await new_postgres(f"b3_{name.replace('+', '_')}")
    server_url = f"{url}?maxsize={args.pool}" if args.pool else url
    process: subprocess.Popen[bytes] | None = None
    try:
        migrate(support_env(url, data_dir, 0))
        seeded = time.perf_counter()
        await seed_applications(url, applications, seed=1, claim_index=claim_index)
        sessions = await seed_reviewers(url, args.reviewers)
        await reset_stats(url)
        seed_s = time.perf_counter() - seeded
        port = free_port()
        with (data_dir / "server.log").open("wb") as log:
            process = subprocess.Popen([str(BIN / "support"), "serve"],
                                       env=support_env(server_url, data_dir, port,
                                                       SUPPORT_INPROCESS_WORKER="0"), cwd=ROOT,
                                       stdout=log, stderr=subprocess.STDOUT)
        wait_for(port, process)
        base = f"http://127.0.0.1:{port}"
        start = asyncio.Event()
        deadline = [float("inf")]
        tasks = [asyncio.create_task(reviewer_loop(base, rid, token, start, deadline, until_empty))
                 for rid, token in sessions]
        await asyncio.sleep(1)  # every browser has its CSRF cookie
        own_cpu = resource.getrusage(resource.RUSAGE_SELF)
        busy = machine_busy()
        with RssSampler(process.pid) as rss:
            began = time.monotonic()
            deadline[0] = began + duration
            start.set()
            browsers = await asyncio.gather(*tasks)
            elapsed = time.monotonic() - began
        server_cpu = rss.cpu_used
        busy_after = machine_busy()
        machine = (busy_after[0] - busy[0]) / max(1, busy_after[1] - busy[1])
        after = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = (after.ru_utime - own_cpu.ru_utime) + (after.ru_stime - own_cpu.ru_stime)
        checked = await check_claims(url, browsers)
        process.terminate()
        process.wait(timeout=30)
        stats = await scan_stats(url)
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        await drop_database(url)
    latencies = [x for b in browsers for x in b.latencies]
    claims = sum(len(b.claimed) for b in browsers)
    failed: dict[str, int] = {}
    for browser in browsers:
        for key, n in browser.failed.items():
            failed[key] = failed.get(key, 0) + n
    per_reviewer = sorted(len(b.claimed) for b in browsers)
    return {
        "phase": name, "applications": applications, "seed_s": seed_s, "elapsed": elapsed,
        "requests": len(latencies), "claims": claims, "claims_per_s": claims / elapsed,
        "empty": sum(b.empty for b in browsers), "failed": failed,
        "p50_ms": percentile(latencies, 0.50) * 1000, "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000, "max_ms": max(latencies or [0]) * 1000,
        "per_reviewer": (per_reviewer[0], per_reviewer[-1]) if per_reviewer else (0, 0),
        "server_cpu": server_cpu / elapsed, "client_cpu": client_cpu / elapsed,
        "machine_busy": machine,
        "rss_peak_mb": round(rss.peak_kb / 1024, 1), "stats": stats, **checked,
    }


def report(results: list[dict[str, Any]], args: argparse.Namespace, load: str) -> str:
    pool = args.pool or 5
    lines = [f"### B3 claim-next, {args.reviewers} reviewers, PostgreSQL, "
             f"server pool {pool} connections", "",
             "| phase | queued at start | s | claims | claims/s | p50 ms | p95 ms | p99 ms "
             "| max ms | empty | failed | claims per reviewer | server CPU | client CPU "
             "| machine busy | server RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        failed = ", ".join(f"{k}: {v}" for k, v in r["failed"].items()) or "0"
        lines.append(
            f"| {r['phase']} | {r['applications']} | {r['elapsed']:.1f} | {r['claims']} | "
            f"{r['claims_per_s']:.1f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['empty']} | {failed} | "
            f"{r['per_reviewer'][0]}–{r['per_reviewer'][1]} | {r['server_cpu']:.0%} | "
            f"{r['client_cpu']:.0%} | {r['machine_busy']:.0%} | {r['rss_peak_mb']} |")
    lines += ["", "| phase | references seen | given to two browsers | claim events "
              "| apps with >1 claim event | in_review rows | holder ≠ browser "
              "| event actor ≠ browser | claims no browser saw | queued left | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['phase']} | {r['seen']} | {r['given_twice']} | {r['claim_events']} | "
            f"{r['double_events']} | {r['in_review']} | {r['wrong_holder']} | "
            f"{r['wrong_actor']} | {r['unseen']} | {r['queued_left']} | "
            f"{'✓ no double claim' if r['ok'] else '✗ DOUBLE OR LOST CLAIM'} |")
    lines += [""] + [f"- {r['phase']}, application table: {r['stats']}" for r in results]
    lines += ["- server and client CPU: share of one core over the run; machine busy: "
              f"share of all {os.cpu_count()} cores (PostgreSQL, the server and this client "
              "share them).", f"- load average when the run began: {load}",
              code_state()]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--applications", type=int, default=0,
                        help="queued at the start of the steady phase (default: 1000 per "
                             "reviewer, more than they can take in the run)")
    parser.add_argument("--drain", type=int, default=1000,
                        help="queued at the start of the drain phase (0 skips it)")
    parser.add_argument("--pool", type=int, default=0,
                        help="the server's PostgreSQL pool size (default: Tortoise's, 5)")
    parser.add_argument("--claim-index", action="store_true",
                        help="also run the steady phase with the indexes in CLAIM_INDEXES "
                             "added (a what-if: the migrations do not have them)")
    parser.add_argument("--no-record", action="store_true",
                        help="print only; do not append to bench/results.md")
    args = parser.parse_args()
    applications = args.applications or 1000 * args.reviewers
    load = load_average()
    print(describe(), flush=True)
    print(f"- load average: {load}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-b3-") as tmp:
        work = Path(tmp)
        print(f"B3: steady, {applications} queued, {args.duration:.0f} s ...", flush=True)
        results.append(await phase("steady", args, work, applications, args.duration, False))
        if args.claim_index:
            print("B3: steady with the what-if claim indexes ...", flush=True)
            results.append(await phase("steady+index", args, work, applications, args.duration,
                                       False, claim_index=True))
        if args.drain:
            print(f"B3: drain, {args.drain} queued, until every reviewer finds it empty ...",
                  flush=True)
            results.append(await phase("drain", args, work, args.drain, 120, True))
    text = report(results, args, load)
    print(text)
    if not args.no_record:
        record("B3", text)
    if not all(r["ok"] for r in results):
        sys.exit("B3: a claim was doubled or lost (see the table above)")


if __name__ == "__main__":
    asyncio.run(main())
