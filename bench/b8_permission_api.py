"""B8: the maker's permission check and redeem at 1,000,000 applications and 200,000
permissions, on PostgreSQL.

Makes a fresh database, migrates it, fills it with B2's population (``b2_queue.Population``:
a year of applications, most accounts with one or two) by COPY, then gives the newest
approved unlock applications their ``Permission`` rows (live, redeemed, expired, revoked),
indexes and analyses. Then:

- the check, ``GET /api/v1/accounts/{id}/permission?model=...``, from ``support serve``
  (one process, a real service key, its allowance counted) and from a bare Starlette app
  answering the same JSON from one indexed statement (``bare_permission_app.py``), under
  ``wrk`` (16 connections, ``b8_check.lua``: paths drawn at random from a list, half for
  accounts with a live permission, 30 % other states, 20 % unknown accounts), a warm-up and
  then ``--duration`` seconds each, alternated for ``--rounds``;
- redeems of distinct live permissions, each from its own device (``b8_redeem.lua``), and
  20 concurrent redeems of one permission from 20 devices (exactly one grant), on
  PostgreSQL and on a small SQLite database.

    .venv/bin/python bench/b8_permission_api.py                     # everything, recorded
    .venv/bin/python bench/b8_permission_api.py --keep --no-record  # keep the database
    .venv/bin/python bench/b8_permission_api.py --database bench_b8_xxxx --rounds 1
    .venv/bin/python bench/b8_permission_api.py --only bare         # before the API exists
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2  # noqa: E402

from bench import b2_queue  # noqa: E402
from bench.harness import (  # noqa: E402
    BENCH,
    BIN,
    ROOT,
    RssSampler,
    code_state,
    drop_database,
    free_port,
    load_average,
    new_postgres,
    postgres_url,
    support_env,
    wait_for,
)
from bench.machine import describe, record  # noqa: E402

DAY = 86400.0
PERMISSION_DAYS = 14  # rules/kinds.py: an unlock permission's period
QUOTA_DAYS = 365
PERMISSION_COLUMNS = ["application_id", "account_id", "model", "granted_at", "expires_at",
                      "redeemed_at", "device_id", "grant", "grant_expires_at", "revoked_at",
                      "revoked_by", "revoked_reason"]
# A grant as long as a real one (a compact JWS of about 420 characters), for row widths.
FAKE_GRANT = "eyJhbGciOiJFZERTQSIsImtpZCI6ImJlbmNoIn0." + "x" * 330 + "." + "s" * 86
CHECK_PATH = "/api/v1/accounts/{}/permission?model={}"
REDEEM_PATH = "/api/v1/accounts/{}/permission/redeem"
API_SCOPES = ["permissions:read", "permissions:redeem"]


# --- the population ------------------------------------------------------------------

@dataclass
class Seeded:
    seconds: float
    copy_seconds: float
    permission_seconds: float
    index_seconds: float
    analyze_seconds: float
    counts: dict[str, int]


def permission_rows(candidates: list[asyncpg.Record], count: int, live_extra: int,
                    rng: random.Random, now: float) -> list[tuple[Any, ...]]:
    """Permissions for the newest ``count`` approved unlock applications, as the desk would
    hold them a year after the API came: granted at the decision for 14 days; an old one
    redeemed (70 %), revoked (6 %) or expired; a recent one redeemed (half), revoked (3 %)
    or still live. ``live_extra`` more are re-dated into the last 13 days and left live, as
    a desk approving about 550 unlocks a day holds several thousand live permissions (B2's
    dates alone give under 2,000), so the redeems below have distinct ones to use."""
    chosen = candidates[-count:]
    relive = set(rng.sample(range(len(chosen)), min(live_extra, len(chosen))))
    rows = []
    for index, row in enumerate(chosen):
        granted = row["decided_at"].timestamp()
        redeemed = revoked = None
        if index in relive:
            granted = now - rng.uniform(3600, 13 * DAY)
        elif granted + PERMISSION_DAYS * DAY > now:
            draw = rng.random()
            if draw < 0.5:
                redeemed = min(now - 60, granted + rng.uniform(600, 3 * DAY))
            elif draw < 0.53:
                revoked = min(now - 60, granted + rng.uniform(3600, 5 * DAY))
        else:
            draw = rng.random()
            if draw < 0.70:
                redeemed = granted + rng.uniform(600, 3 * DAY)
            elif draw < 0.76:
                revoked = granted + rng.uniform(3600, 10 * DAY)
        rows.append((
            row["id"], row["account_id"], row["model"], b2_queue.when(granted),
            b2_queue.when(granted + PERMISSION_DAYS * DAY), b2_queue.maybe(redeemed),
            None if redeemed is None else secrets.token_hex(8),
            None if redeemed is None else FAKE_GRANT,
            None if redeemed is None else b2_queue.when(redeemed + 900),
            b2_queue.maybe(revoked), None if revoked is None else "Lead Asha",
            None if revoked is None else "Granted in error: the receipt was not the buyer's.",
        ))
    return rows


async def seed(url: str, applications: int, permissions: int, live_extra: int) -> Seeded:
    """B2's applications by COPY (without their events and documents: the check reads
    neither), then the permissions, then every index and ANALYZE."""
    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        reviewer_ids = await b2_queue.insert_reviewers(conn)
        drops, creates = await b2_queue.secondary_schema(conn)
        for statement in drops:
            await conn.execute(statement)
        population = b2_queue.Population(applications, reviewer_ids, seed=8)
        gc.disable()
        try:
            await conn.copy_records_to_table(
                "application", columns=b2_queue.APPLICATION_COLUMNS,
                records=b2_queue.progress("application", population.applications(),
                                          applications))
        finally:
            gc.enable()
        await conn.execute(f"SELECT setval('application_id_seq', {applications})")
        copied = time.perf_counter()
        print(f"  application: {copied - started:.1f} s", flush=True)
        candidates = await conn.fetch(
            "SELECT id, account_id, model, decided_at FROM application WHERE status = "
            "'approved' AND kind IN ('unlock', 'appeal') ORDER BY decided_at, id")
        if len(candidates) < permissions:
            raise SystemExit(f"only {len(candidates):,} approved unlocks for "
                             f"{permissions:,} permissions: raise --rows")
        rows = permission_rows(candidates, permissions, live_extra, random.Random(8),
                               population.now)
        await conn.copy_records_to_table("permission", records=rows,
                                         columns=PERMISSION_COLUMNS)
        # The applications say what their permissions say (issue 22's columns).
        await conn.execute(
            "UPDATE application a SET decided_at = p.granted_at, updated_at = p.granted_at, "
            "last_activity_at = p.granted_at, permission_expires_at = p.expires_at, "
            "permission_used_at = p.redeemed_at FROM permission p WHERE p.application_id = a.id")
        permitted = time.perf_counter()
        print(f"  permission: {permitted - copied:.1f} s", flush=True)
        await b2_queue.run_in_parallel(url, creates)
        indexed = time.perf_counter()
        print(f"  indexes and constraints: {indexed - permitted:.1f} s", flush=True)
        await conn.execute("VACUUM (ANALYZE)")
        analysed = time.perf_counter()
        counts = {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"'))  # noqa: S608
                  for t in ("application", "permission")}
        counts["accounts"] = int(await conn.fetchval(
            "SELECT count(DISTINCT account_id) FROM application"))
    finally:
        await conn.close()
    return Seeded(analysed - started, copied - started, permitted - copied,
                  indexed - permitted, analysed - indexed, counts)


async def states(url: str) -> dict[str, int]:
    """The permissions by state now (for the report)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT CASE WHEN revoked_at IS NOT NULL THEN 'revoked' "
            "WHEN redeemed_at IS NOT NULL THEN 'redeemed' WHEN expires_at <= now() "
            "THEN 'expired' ELSE 'live' END AS state, count(*) FROM permission GROUP BY 1")
        return {row["state"]: int(row["count"]) for row in rows}
    finally:
        await conn.close()


# --- what wrk asks --------------------------------------------------------------------

LIVE_SQL = """
SELECT p.account_id, p.model FROM permission p
 WHERE p.revoked_at IS NULL AND p.redeemed_at IS NULL AND p.expires_at > now() + interval '1 hour'
   AND NOT EXISTS (SELECT 1 FROM permission q WHERE q.account_id = p.account_id
                    AND q.id <> p.id AND (q.redeemed_at > now() - interval '365 days'
                                          OR q.redeemed_at IS NULL AND q.revoked_at IS NULL
                                             AND q.expires_at > now()))
"""


async def request_lists(url: str, size: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """Accounts by what the check should find: ``live`` (may unlock that model now), the
    other states (a redeemed, expired or revoked permission, an application under review,
    refused or never an unlock, a live permission asked for another model) and accounts
    the desk has never seen. Each a list of (account, model)."""
    rng = random.Random(seed)
    conn = await asyncpg.connect(url)
    try:
        live = [(r[0], r[1]) for r in await conn.fetch(LIVE_SQL)]
        spent = [(r[0], r[1]) for r in await conn.fetch(
            "SELECT account_id, model FROM permission TABLESAMPLE BERNOULLI (10) "
            "WHERE revoked_at IS NOT NULL OR redeemed_at IS NOT NULL OR expires_at <= now()")]
        unpermitted = [(r[0], r[1]) for r in await conn.fetch(
            "SELECT a.account_id, a.model FROM application a TABLESAMPLE BERNOULLI (3) "
            "WHERE NOT EXISTS (SELECT 1 FROM permission p WHERE p.account_id = a.account_id)")]
        models = [r[0] for r in await conn.fetch("SELECT DISTINCT model FROM permission")]
    finally:
        await conn.close()
    mismatch = [(account, rng.choice([m for m in models if m != model]))
                for account, model in rng.sample(live, min(len(live), 5000))]
    unknown = [(str(4_000_000_000 + rng.randrange(10**9)), rng.choice(models))
               for _ in range(20_000)]
    return {"live": live, "spent": spent, "unpermitted": unpermitted,
            "mismatch": mismatch, "unknown": unknown}


def check_paths(lists: dict[str, list[tuple[str, str]]], size: int,
                seed: int) -> list[str]:
    """``size`` paths: 50 % live, 12 % spent permissions, 12 % applications without a
    permission, 6 % another model, 20 % unknown accounts, shuffled."""
    rng = random.Random(seed)
    shares = {"live": 0.50, "spent": 0.12, "unpermitted": 0.12, "mismatch": 0.06,
              "unknown": 0.20}
    paths = []
    for name, share in shares.items():
        pool = lists[name]
        paths += [CHECK_PATH.format(a, quote(m, safe=""))
                  for a, m in (rng.choice(pool) for _ in range(round(size * share)))]
    rng.shuffle(paths)
    return paths


# --- servers and wrk ------------------------------------------------------------------

def server_env(url: str, data_dir: Path, port: int, pool: str) -> dict[str, str]:
    """``support serve`` as B1 runs it (no delivery worker in the web process), with the
    limiter on, so each call counts against its key's allowance as in production, and that
    allowance far above what wrk sends."""
    return support_env(url + pool, data_dir, port, SUPPORT_INPROCESS_WORKER="0",
                       SUPPORT_RATE_LIMITS="1", SUPPORT_LIMIT_API_KEY="100000000/minute",
                       BENCH_DB_URL=url)


def start(target: str, env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    if target == "support":
        command = [str(BIN / "support"), "serve"]
    else:
        command = [str(BIN / "uvicorn"), "bench.bare_permission_app:app", "--port", str(port),
                   "--log-level", "info"]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=log.open("wb"))


def run_wrk(script: str, url: str, env: dict[str, str], duration: int, connections: int,
            threads: int, done_dir: Path | None = None) -> dict[str, Any]:
    """wrk's figures (its Lua's BENCH_JSON line). With ``done_dir``, wrk is stopped (SIGINT:
    it prints its figures as at the end) once each thread has left a file there: its
    share of the list answered (``wrk.thread:stop()`` ends a thread, not wrk)."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
               "-s", str(BENCH / script), url]
    extra = {"BENCH_THREADS": str(threads)}
    if done_dir is not None:
        done_dir.mkdir(exist_ok=True)
        extra["BENCH_DONE"] = str(done_dir / "thread-")
    process = subprocess.Popen(command, env={**os.environ, **env, **extra}, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if done_dir is not None:
        while process.poll() is None and len(list(done_dir.iterdir())) < threads:
            time.sleep(0.05)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=duration + 60)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed: {err}")
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH_JSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    result["rps"] = result["ok"] / (result["duration_us"] / 1e6)
    return result


def profiler(pid: int, out: Path | None, duration: int) -> subprocess.Popen[bytes] | None:
    """py-spy (not a dependency: pip install py-spy) samples the server during the run."""
    spy = BIN / "py-spy"
    if out is None:
        return None
    if not spy.exists():
        sys.exit("--profile needs py-spy: .venv/bin/pip install py-spy")
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--duration",
                             str(duration), "--format", "raw", "--output", str(out),
                             "--nonblocking"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def make_key(url: str, name: str) -> str:
    """A service key for the run, made as an admin would (``api_keys.create``)."""
    from support.data import db
    from support.web.api import registry
    from support.workflow import api_keys

    await db.init(url)
    try:
        return (await api_keys.create(name, API_SCOPES, registry.SCOPES, by="bench")).secret
    finally:
        await db.close()


async def sample_answers(base: str, paths: list[str], key: str) -> list[tuple[int, Any]]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(base_url=base, timeout=30, headers=headers) as client:
        out = []
        for path in paths:
            response = await client.get(path)
            out.append((response.status_code, response.json()))
        return out


def answer_code(body: Any) -> str:
    """What a check answered, for the tally: its code, or "allowed"."""
    if not isinstance(body, dict):
        return "?"
    return str(body.get("code") or body.get("error", {}).get("code") or "?")


# --- redeems --------------------------------------------------------------------------

async def redeem_list(url: str, count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    conn = await asyncpg.connect(url)
    try:
        live = [(r[0], r[1]) for r in await conn.fetch(LIVE_SQL)]
    finally:
        await conn.close()
    rng.shuffle(live)
    return live[:count]


def device() -> str:
    return secrets.token_hex(8)


async def redeem_race(base: str, key: str, account: str, model: str,
                      devices: int = 20) -> list[tuple[int, Any]]:
    """``devices`` redeems of one permission at once, each from another device, each on
    its own connection, sent when all are connected."""
    clients = [httpx2.AsyncClient(base_url=base, timeout=30,
                                  headers={"authorization": f"Bearer {key}"})
               for _ in range(devices)]
    try:
        await asyncio.gather(*(c.get("/api/v1/keys") for c in clients))  # connect first
        go = asyncio.Event()

        async def one(client: httpx2.AsyncClient) -> tuple[int, Any]:
            await go.wait()
            response = await client.post(REDEEM_PATH.format(account),
                                         json={"model": model, "device_id": device()})
            return response.status_code, response.json()

        tasks = [asyncio.create_task(one(c)) for c in clients]
        await asyncio.sleep(0.05)
        go.set()
        return list(await asyncio.gather(*tasks))
    finally:
        for client in clients:
            await client.aclose()


def grant_of(body: Any) -> str | None:
    if isinstance(body, dict):
        for name in ("grant", "token", "unlock_grant"):
            if isinstance(body.get(name), str):
                return str(body[name])
    return None


async def race_rounds(base: str, key: str, pairs: list[tuple[str, str]],
                      fetch_row: Any) -> list[dict[str, Any]]:
    """One race per pair; each must answer exactly one 2xx, and the database must hold
    that device and that grant."""
    results = []
    for account, model in pairs:
        answers = await redeem_race(base, key, account, model)
        granted = [body for status, body in answers if 200 <= status < 300]
        refused = sorted({status for status, _ in answers if not 200 <= status < 300})
        row = await fetch_row(account, model)
        ok = (len(granted) == 1 and row is not None and row["redeemed_at"] is not None
              and grant_of(granted[0]) == row["grant"])
        results.append({"account": account, "grants": len(granted), "refused": refused,
                        "codes": sorted({answer_code(b) for s, b in answers if s >= 300}),
                        "stored": ok})
    return results


async def sqlite_race(work: Path, rounds: int) -> list[dict[str, Any]]:
    """The race on SQLite: a small database with ``rounds`` approved unlocks and their
    live permissions, ``support serve`` on it, one race per permission."""
    import sqlite3

    from support.data import db

    data_dir = work / "sqlite"
    data_dir.mkdir()
    url = f"sqlite://{data_dir / 'b8.sqlite3'}"
    await db.migrate(url)
    now = time.time()
    pairs = []
    with sqlite3.connect(data_dir / "b8.sqlite3") as conn:
        for n in range(rounds):
            account, model = str(7_000_000_000 + n), "Redmi Note 10 Pro"
            iso = datetime.fromtimestamp(now - 3600, UTC).isoformat()
            cursor = conn.execute(
                "INSERT INTO application (reference, kind, status, account_id, country, phone, "
                "email, model, firmware, firmware_channel, reason, locale, priority, "
                "submission_key, created_at, updated_at, decided_at, phone_reversed, "
                "permission_expires_at) VALUES (?, 'unlock', 'approved', ?, 'IN', "
                "'+919812345678', 'a@example.com', ?, '21.3.17', 'developer', 'bench', 'en', "
                "0, ?, ?, ?, ?, '876543218919+', ?)",
                (f"UL-B8{n:03d}-AAAA"[:14], account, model, secrets.token_hex(16), iso, iso,
                 iso, datetime.fromtimestamp(now + 13 * DAY, UTC).isoformat()))
            conn.execute(
                "INSERT INTO permission (application_id, account_id, model, granted_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?)",
                (cursor.lastrowid, account, model, iso,
                 datetime.fromtimestamp(now + 13 * DAY, UTC).isoformat()))
            pairs.append((account, model))
    key = await make_key(url, "bench-b8-sqlite")
    port = free_port()
    env = support_env(url, data_dir, port, SUPPORT_INPROCESS_WORKER="1")
    process = start("support", env, port, data_dir / "server.log")
    try:
        wait_for(port, process)

        async def fetch_row(account: str, model: str) -> Any:
            with sqlite3.connect(data_dir / "b8.sqlite3") as conn:
                conn.row_factory = sqlite3.Row
                return conn.execute("SELECT * FROM permission WHERE account_id = ? AND "
                                    "model = ?", (account, model)).fetchone()

        return await race_rounds(f"http://127.0.0.1:{port}", key, pairs, fetch_row)
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- the run --------------------------------------------------------------------------

async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--permissions", type=int, default=200_000)
    parser.add_argument("--live", type=int, default=12_000,
                        help="permissions re-dated to be live (see permission_rows)")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--light-connections", type=int, default=1,
                        help="one more run of each at this many connections (0: none)")
    parser.add_argument("--redeems", type=int, default=3000)
    parser.add_argument("--redeem-connections", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--races", type=int, default=10,
                        help="20-device races on PostgreSQL (and on SQLite)")
    parser.add_argument("--pg-pool", default="?maxsize=20")
    parser.add_argument("--only", choices=["bare", "support"], help="one target only")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--database", help="reuse this kept database")
    parser.add_argument("--profile", type=Path,
                        help="write a py-spy profile of support's check and redeem here")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk (make bench does this)")
    print(describe(), flush=True)
    url = (postgres_url(args.database) if args.database
           else await new_postgres(f"b8_{secrets.token_hex(4)}"))
    name = url.rsplit("/", 1)[1]
    seeded: Seeded | None = None
    targets = [args.only] if args.only else ["bare", "support"]
    results: dict[str, Any] = {"rounds": [], "light": [], "redeem": [], "races": [],
                               "sqlite": []}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        from support.data import db

        print(f"B8: database {name}: migrating", flush=True)
        await db.migrate(url)
        if not args.database:
            print(f"B8: seeding {args.rows:,} applications, {args.permissions:,} permissions",
                  flush=True)
            seeded = await seed(url, args.rows, args.permissions, args.live)
            print(f"B8: seeded in {seeded.seconds:.1f} s: {seeded.counts}", flush=True)
        results["states"] = await states(url)
        lists = await request_lists(url, 100_000, seed=8)
        paths = check_paths(lists, 100_000, seed=8)
        print("B8: accounts " + ", ".join(f"{k} {len(v):,}" for k, v in lists.items()),
              flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-b8-") as tmp:
            work = Path(tmp)
            (work / "paths.txt").write_text("\n".join(paths) + "\n")
            key = await make_key(url, f"bench-b8-{secrets.token_hex(3)}") \
                if "support" in targets else ""
            ports = {}
            for target in targets:
                ports[target] = free_port()
                env = server_env(url, work, ports[target], args.pg_pool)
                processes[target] = start(target, env, ports[target], work / f"{target}.log")
            try:
                await measure(args, targets, work, ports, processes, paths, key, url, results)
            except BaseException:
                for log in sorted(work.glob("*.log")):
                    print(f"--- {log.name} (last lines)\n"
                          + "\n".join(log.read_text(errors="replace").splitlines()[-25:]),
                          file=sys.stderr)
                raise
        if "support" in targets and args.races:
            with tempfile.TemporaryDirectory(prefix="bench-b8-sqlite-") as tmp:
                results["sqlite"] = await sqlite_race(Path(tmp), args.races)
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(timeout=30)
        if not args.keep and not args.database:
            await drop_database(url)
    text = report(results, seeded, args, name)
    print(text)
    if not args.no_record:
        record("B8", text)


async def measure(args: argparse.Namespace, targets: list[str], work: Path,
                  ports: dict[str, int], processes: dict[str, subprocess.Popen[bytes]],
                  paths: list[str], key: str, url: str, results: dict[str, Any]) -> None:
    for target in targets:
        wait_for(ports[target], processes[target])
    # The same requests to each: the answers must be the same JSON.
    sample = random.Random(9).sample(paths, 300)
    answers = {t: await sample_answers(f"http://127.0.0.1:{ports[t]}", sample, key)
               for t in targets}
    results["tally"] = {t: tally(a) for t, a in answers.items()}
    if len(targets) == 2:
        results["same"] = sum(a == b for a, b in zip(answers["bare"],
                                                     answers["support"], strict=True))
        results["differ"] = [(p, a, b) for p, a, b in zip(
            sample, answers["bare"], answers["support"], strict=True) if a != b][:3]
    for round_ in range(1, args.rounds + 1):
        for target in targets:
            base = f"http://127.0.0.1:{ports[target]}"
            env = {"BENCH_PATHS": str(work / "paths.txt"), "BENCH_SEED": str(round_),
                   "BENCH_KEY": key if target == "support" else ""}
            run_wrk("b8_check.lua", f"{base}/", env, args.warmup, args.connections,
                    args.threads)
            spy = (profiler(processes[target].pid,
                            args.profile / f"check-{target}-{round_}.txt",
                            args.duration) if args.profile and target == "support"
                   else None)
            load = load_average(minutes=1)
            with RssSampler(processes[target].pid) as rss:
                result = run_wrk("b8_check.lua", f"{base}/", env, args.duration,
                                 args.connections, args.threads)
            if spy is not None:
                spy.wait(timeout=60)
            result.update(target=target, round=round_, load=load,
                          cpu_ms=rss.cpu_used * 1000 / max(result["ok"], 1),
                          rss_mb=rss.peak_kb / 1024, waited=rss.cpu_wait_share)
            results["rounds"].append(result)
            print(f"  check {target} round {round_}: {result['rps']:.0f}/s, "
                  f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
                  f"non-2xx {result['other']}", flush=True)
    for target in targets if args.light_connections else []:
        # Latency without queueing: a few callers at a time, not wrk's 16 always busy.
        base = f"http://127.0.0.1:{ports[target]}"
        env = {"BENCH_PATHS": str(work / "paths.txt"), "BENCH_SEED": "99",
               "BENCH_KEY": key if target == "support" else ""}
        load = load_average(minutes=1)
        with RssSampler(processes[target].pid) as rss:
            result = run_wrk("b8_check.lua", f"{base}/", env, args.duration // 2,
                             args.light_connections, 1)
        result.update(target=target, round=f"{args.light_connections} conn.",
                      load=load, cpu_ms=rss.cpu_used * 1000 / max(result["ok"], 1),
                      rss_mb=rss.peak_kb / 1024, waited=rss.cpu_wait_share)
        results["light"].append(result)
        print(f"  check {target}, {args.light_connections} connections: "
              f"{result['rps']:.0f}/s, p50 {result['p50_ms']:.1f} ms, "
              f"p99 {result['p99_ms']:.1f} ms", flush=True)
    if "support" in targets:
        await redeems(url, args, work, ports["support"], processes["support"], key,
                      results)


def tally(answers: list[tuple[int, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for status, body in answers:
        label = f"{status} {answer_code(body)}"
        out[label] = out.get(label, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


async def redeems(url: str, args: argparse.Namespace, work: Path, port: int,
                  process: subprocess.Popen[bytes], key: str, results: dict[str, Any]) -> None:
    base = f"http://127.0.0.1:{port}"
    total = args.redeems * len(args.redeem_connections) + args.races
    pairs = await redeem_list(url, total, seed=10)
    if len(pairs) < total:
        raise SystemExit(f"only {len(pairs):,} live permissions for {total:,} redeems")
    conn = await asyncpg.connect(url)
    try:
        for n, connections in enumerate(args.redeem_connections):
            batch = pairs[n * args.redeems:(n + 1) * args.redeems]
            lines = [f"{REDEEM_PATH.format(a)} "
                     + json.dumps({"model": m, "device_id": device()}, separators=(",", ":"))
                     for a, m in batch]
            file = work / f"redeems-{connections}.txt"
            file.write_text("\n".join(lines) + "\n")
            started = datetime.now(UTC)
            spy = profiler(process.pid, args.profile / f"redeem-{connections}.txt", 60) \
                if args.profile else None
            with RssSampler(process.pid) as rss:
                result = run_wrk("b8_redeem.lua", f"{base}/", {
                    "BENCH_REDEEMS": str(file), "BENCH_KEY": key}, 600, connections,
                    min(args.threads, connections), done_dir=work / f"done-{connections}")
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes what it has, then exits
                spy.wait(timeout=60)
            accounts = [a for a, _ in batch]
            stored = int(await conn.fetchval(
                "SELECT count(*) FROM permission WHERE account_id = ANY($1::text[]) AND "
                "redeemed_at >= $2 AND \"grant\" IS NOT NULL", accounts, started))
            result.update(connections=connections, lines=len(batch), stored=stored,
                          cpu_ms=rss.cpu_used * 1000 / max(result["ok"], 1))
            results["redeem"].append(result)
            print(f"  redeem, {connections} connections: {result['rps']:.0f}/s, p50 "
                  f"{result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, non-2xx "
                  f"{result['other']}, stored {stored}/{len(batch)}", flush=True)

        async def fetch_row(account: str, model: str) -> Any:
            return await conn.fetchrow("SELECT * FROM permission WHERE account_id = $1 AND "
                                       "model = $2 ORDER BY granted_at DESC LIMIT 1",
                                       account, model)

        if args.races:
            results["races"] = await race_rounds(base, key, pairs[-args.races:], fetch_row)
        print(f"  races: {results['races']}", flush=True)
    finally:
        await conn.close()


def report(results: dict[str, Any], seeded: Seeded | None, args: argparse.Namespace,
           name: str) -> str:
    lines = [f"### B8 permission API{' (' + args.label + ')' if args.label else ''}: "
             "PostgreSQL, one `support serve` process", "", code_state()]
    if seeded is not None:
        counts = ", ".join(f"{k} {v:,}" for k, v in seeded.counts.items())
        lines.append(f"- seeded in {seeded.seconds:.0f} s (applications by COPY "
                     f"{seeded.copy_seconds:.0f} s, permissions {seeded.permission_seconds:.0f}"
                     f" s, indexes {seeded.index_seconds:.0f} s, VACUUM ANALYZE "
                     f"{seeded.analyze_seconds:.0f} s): {counts}")
    else:
        lines.append(f"- reused database {name}")
    lines.append("- permissions by state before the run: " + ", ".join(
        f"{k} {v:,}" for k, v in sorted(results["states"].items())))
    for target, counts in results.get("tally", {}).items():
        lines.append(f"- 300 sampled checks, {target}: " + ", ".join(
            f"{k} {v}" for k, v in counts.items()))
    if "same" in results:
        lines.append(f"- the same JSON from both in {results['same']}/300 sampled checks"
                     + (f"; first differences: {results['differ']}" if results["differ"]
                        else ""))
    lines += ["", f"Check: wrk, {args.connections} connections, {args.duration} s after a "
              f"{args.warmup} s warm-up:", "",
              "| target | round | ok/s | p50 ms | p99 ms | max ms | non-2xx | CPU ms/ok | "
              "peak RSS MB | waited for a CPU | load (1 min) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["rounds"] + results["light"]:
        lines.append(f"| {r['target']} | {r['round']} | {r['rps']:.1f} | {r['p50_ms']:.1f} | "
                     f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['other']} | "
                     f"{r['cpu_ms']:.2f} | {r['rss_mb']:.1f} | {r['waited']:.0%} | "
                     f"{r['load']} |")
    bare = {r["round"]: r["rps"] for r in results["rounds"] if r["target"] == "bare"}
    shares = [r["rps"] / bare[r["round"]] for r in results["rounds"]
              if r["target"] == "support" and bare.get(r["round"])]
    if shares:
        lines.append(f"\nShare of the bare rate by round: "
                     f"{', '.join(f'{s:.0%}' for s in shares)} (target ≥ 50%)")
    if results["redeem"]:
        lines += ["", "Redeems, each of another live permission from its own device:", "",
                  "| connections | redeems | ok/s | p50 ms | p99 ms | max ms | non-2xx | "
                  "redeemed in the database | CPU ms/ok |", "|---|---|---|---|---|---|---|---|---|"]
        for r in results["redeem"]:
            lines.append(f"| {r['connections']} | {r['lines']} | {r['rps']:.1f} | "
                         f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | "
                         f"{r['other']} | {r['stored']} | {r['cpu_ms']:.2f} |")
    for label, races in (("PostgreSQL", results["races"]), ("SQLite", results["sqlite"])):
        if races:
            good = sum(r["grants"] == 1 and r["stored"] for r in races)
            refused = sorted({s for r in races for s in r["refused"]})
            codes = sorted({c for r in races for c in r["codes"]})
            lines.append(f"- 20 concurrent redeems of one permission from 20 devices, "
                         f"{label}: exactly one grant, stored, in {good}/{len(races)} races; "
                         f"the others answered {refused} {codes}")
    return "\n".join(lines)


if __name__ == "__main__":
    asyncio.run(main())
