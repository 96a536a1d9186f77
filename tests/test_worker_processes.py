"""`support worker` as real processes: several deliver each message exactly once
(PostgreSQL; SQLite runs one process), SIGTERM stops cleanly, and a worker killed with
SIGKILL mid-batch loses nothing once another starts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.data.models import Channel, DeliveryStatus, Notification
from tests.conftest import DB_KIND

pytestmark = pytest.mark.slow


async def _outbox(count: int) -> list[str]:
    now = datetime.now(UTC)
    phones = [f"+9198{n:08d}" for n in range(count)]
    await Notification.bulk_create([
        Notification(
            channel=Channel.SMS, recipient=phone, template="status_link",
            context={"reference": f"UL-TEST-{n:04d}", "status_url": "https://x.test/status/t"},
            next_attempt_at=now, idempotency_key=f"bulk-{n}.sms",
        )
        for n, phone in enumerate(phones)
    ])
    return phones


def _start(settings, count: int, **extra: str) -> list[subprocess.Popen[str]]:
    env = {
        **os.environ,
        "SUPPORT_DATABASE_URL": settings.database_url,
        "SUPPORT_DATA_DIR": str(settings.data_dir),
        "SUPPORT_SECRET_KEY": settings.secret_key,
        "SUPPORT_WORKER_INTERVAL_MS": "50",
        **extra,
    }
    processes = []
    for _ in range(count):
        # A file, not a pipe: the worker logs a line per message, and a pipe nobody reads
        # until the end fills up and blocks it.
        log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives as long as the process
        process = subprocess.Popen([sys.executable, "-m", "support", "worker"],  # noqa: ASYNC220
                                   env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        process.log = log
        processes.append(process)
    return processes


def _recipients(log: Path) -> Counter[str]:
    if not log.exists():
        return Counter()
    return Counter(json.loads(line)["to"] for line in log.read_text().splitlines() if line)


async def _wait_until_sent(total: int, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await Notification.filter(status=DeliveryStatus.SENT).count() == total:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the workers did not deliver everything in time")


def _stop(processes: list[subprocess.Popen[str]]) -> list[str]:
    outputs = []
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=30)
        process.log.seek(0)
        output = process.log.read()
        assert process.returncode == 0, output
        outputs.append(output)
    return outputs


async def test_workers_deliver_each_message_exactly_once(app, settings):
    phones = await _outbox(500)
    workers = _start(settings, 2 if DB_KIND == "postgres" else 1)
    try:
        await _wait_until_sent(500)
    finally:
        outputs = _stop(workers)
    counts = _recipients(settings.sms_log)
    assert set(counts) == set(phones)
    assert max(counts.values()) == 1, [p for p, n in counts.items() if n > 1][:5]
    for output in outputs:
        assert "+9198" not in output  # no phone numbers in the worker's log


async def test_a_worker_killed_mid_batch_loses_nothing(app, settings):
    phones = await _outbox(400)
    [victim] = _start(settings, 1, SUPPORT_DELIVERY_LEASE_SECONDS="1")
    deadline = time.monotonic() + 60
    while sum(_recipients(settings.sms_log).values()) < 30 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert await Notification.filter(status=DeliveryStatus.SENT).count() < 400, "too late"

    [successor] = _start(settings, 1, SUPPORT_DELIVERY_LEASE_SECONDS="1")
    try:
        await _wait_until_sent(400)
    finally:
        _stop([successor])
    counts = _recipients(settings.sms_log)
    assert set(counts) == set(phones)  # nothing lost
    # At most the batch in hand when the worker died is sent twice.
    assert sum(n - 1 for n in counts.values()) <= 50
