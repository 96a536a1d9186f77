"""B1's other half: what the delivery worker costs per message, in CPU, its own and
PostgreSQL's.

In B1's burst every submission queues two messages (the code by email and by SMS), and
the worker that sends them shares the two cores with the web process, PostgreSQL and
wrk: each millisecond it spends is one the web process does not get. Its rate in the
burst says little (it yields, and catches up after), so this measures CPU time, which
does not drift with the VM's speed as rates do: N messages are put in the outbox of a
fresh database, ``support worker`` (file email, log SMS, as B1 and `make run` have it)
is started, and the CPU of the worker and of every PostgreSQL process is read from
/proc from its start until the last row is marked sent.

    .venv/bin/python bench/b1_worker.py [--messages 4000] [--db postgres|sqlite] [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    BIN,
    ROOT,
    code_state,
    cpu_seconds,
    drop_database,
    free_port,
    migrate,
    new_database,
    support_env,
)
from bench.machine import describe, record  # noqa: E402


def postgres_cpu() -> float:
    """CPU of every PostgreSQL process (the worker's backend among them)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                total += cpu_seconds(int(entry.name))
        except (OSError, ValueError):
            continue
    return total


async def fill_outbox(url: str, count: int) -> None:
    """``count`` messages as a burst of submissions leaves them: half the code by email,
    half by SMS, each with its application's reference and a request id."""
    from support.data import db
    from support.data.models import Application, Channel, Notification
    from support.notify.outbox import applicant_messages
    from support.platform import tokens

    await db.init(url)
    try:
        rows: list[Notification] = []
        for number in range(count // 2):
            application = Application(
                reference=tokens.new_reference("UL"), kind="unlock", locale="en",
                email=f"applicant{number}@example.org", phone=f"+4479460{number:05d}",
            )
            rows += applicant_messages(application, "verification_code",
                                       {"code": tokens.new_code(), "minutes": 15})
        assert {row.channel for row in rows} == {Channel.EMAIL, Channel.SMS}
        await Notification.bulk_create(rows, batch_size=1000)
    finally:
        await db.close()


async def pending(url: str) -> int:
    from bench.b1_submit import count_rows

    return await count_rows(url, "notification", "status = 'pending'")


async def measure(kind: str, count: int, work: Path) -> dict[str, float]:
    url = await new_database(kind, work, "b1_worker")
    env = support_env(url, work, free_port())
    try:
        migrate(env)
        await fill_outbox(url, count)
        worker = subprocess.Popen([str(BIN / "support"), "worker"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # From its first send, so that starting Python and importing are not counted
            while (left := await pending(url)) == count:
                await asyncio.sleep(0.01)
            own_before, pg_before = cpu_seconds(worker.pid), postgres_cpu()
            started, measured = time.perf_counter(), left
            while await pending(url) > 0:
                await asyncio.sleep(0.05)
            own = cpu_seconds(worker.pid) - own_before
            wall = time.perf_counter() - started
            pg = (postgres_cpu() - pg_before) if kind == "postgres" else 0.0
        finally:
            worker.terminate()
            worker.wait(10)
        sent = len(list((work / "mail").glob("*.eml")))
        return {"messages": measured, "emails": sent, "wall_s": wall,
                "worker_ms": 1000 * own / measured, "postgres_ms": 1000 * pg / measured}
    finally:
        await drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-record", action="store_true",
                        help="print only; do not append to results.md")
    args = parser.parse_args()
    print(describe())
    lines = [f"### B1 worker, {args.messages} messages on {args.db}", ""]
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="b1w-") as tmp:
            result = asyncio.run(measure(args.db, args.messages, Path(tmp)))
        lines.append(f"- run {run}: {result['messages']} messages ({result['emails']} emails "
                     f"in all) in {result['wall_s']:.1f} s; CPU per message: worker "
                     f"{result['worker_ms']:.2f} ms, PostgreSQL {result['postgres_ms']:.2f} ms")
        print(lines[-1], flush=True)
    lines.append(code_state())
    if not args.no_record:
        record("B1 worker", "\n".join(lines))


if __name__ == "__main__":
    main()
