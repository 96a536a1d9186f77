"""The real thing: the CLI migrates and bootstraps, uvicorn serves in a subprocess, the
worker inside it delivers, and an applicant goes through the whole path over TCP.

In-process tests cannot see Tortoise's context bug under a real server (STACK.md);
this one can.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from tests.conftest import UNLOCK, free_port, hidden_fields, jpeg_bytes

pytestmark = pytest.mark.slow


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "support", *args], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )


async def _wait_for_code(sms_log: Path, seconds: float = 15) -> str:
    for _ in range(int(seconds * 10)):
        if sms_log.exists():
            for line in sms_log.read_text(encoding="utf-8").splitlines():
                match = re.search(r"Code (\d{6})", json.loads(line)["text"])
                if match:
                    return match.group(1)
        await asyncio.sleep(0.1)
    raise AssertionError("the worker inside the server never wrote the code SMS")


async def test_cli_and_real_server_end_to_end(tmp_path: Path, empty_database_url: str) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = {
        **os.environ,
        "SUPPORT_DATA_DIR": str(data_dir),
        "SUPPORT_DATABASE_URL": empty_database_url,
        "PORT": str(port),
    }
    env.pop("SUPPORT_SECRET_KEY", None)

    migrated = _cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    first = _cli(env, "bootstrap")
    assert first.returncode == 0, first.stderr
    assert re.search(r"password:\s+\S{12,}", first.stdout)
    second = _cli(env, "bootstrap")
    assert "already exists" in second.stdout
    assert "password" not in second.stdout
    assert (data_dir / "secret_key").exists()

    server = subprocess.Popen(  # noqa: ASYNC220 - a server that must outlive this call
        [sys.executable, "-m", "support", "serve"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx2.AsyncClient(base_url=base, timeout=10) as http:
            for _ in range(100):
                try:
                    health = await http.get("/healthz")
                    break
                except httpx2.TransportError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("server did not start")
            assert health.status_code == 200
            assert health.json()["database"] == "ok"
            assert health.json()["worker"] == "running"

            form = await http.get("/apply/unlock")
            assert form.status_code == 200
            fields = {**hidden_fields(form.text), **UNLOCK}
            files = {"receipt": ("receipt.jpg", jpeg_bytes(), "image/jpeg")}
            submitted = await http.post("/apply/unlock", data=fields, files=files)
            assert submitted.status_code == 303, submitted.text
            verify_path = submitted.headers["location"]

            code = await _wait_for_code(data_dir / "sms.log")
            confirmed = await http.post(verify_path, data={
                "csrf_token": http.cookies["support_csrf"], "code": code,
            })
            assert confirmed.status_code == 303, confirmed.text
            status = await http.get(confirmed.headers["location"])
            assert status.status_code == 200
            assert "Waiting for a reviewer" in status.text
            assert verify_path.split("/")[2] in status.text
        assert list((data_dir / "documents").rglob("*")), "the receipt was not stored"
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=20)
    # uvicorn re-raises SIGTERM after a clean shutdown, so -15 is a normal exit here.
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert f"http://127.0.0.1:{port}/" in output
    # No personal data in the server's log.
    token = confirmed.headers["location"].split("/")[2].split("?")[0]
    for secret in ("asha@example.com", "9876543210", code, token):
        assert secret not in output


async def _started(http: httpx2.AsyncClient) -> httpx2.Response:
    for _ in range(150):
        try:
            return await http.get("/healthz")
        except httpx2.TransportError:
            await asyncio.sleep(0.1)
    raise AssertionError("server did not start")


async def test_two_web_processes_and_a_worker_process(tmp_path: Path,
                                                       empty_database_url: str) -> None:
    """The shape docs/deploy.md runs: `support serve --workers 2` with the in-process
    worker off, and `support worker` beside it. Forms served by either web process are
    accepted by the other, and the worker process delivers every code."""
    data_dir = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "SUPPORT_DATA_DIR": str(data_dir), "PORT": str(port),
           "SUPPORT_DATABASE_URL": empty_database_url, "SUPPORT_INPROCESS_WORKER": "0"}
    env.pop("SUPPORT_SECRET_KEY", None)  # both processes read the one in the data dir
    assert _cli(env, "migrate").returncode == 0
    processes = [
        subprocess.Popen(  # noqa: ASYNC220 - servers that must outlive this call
            [sys.executable, "-m", "support", *command], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for command in (["serve", "--workers", "2"], ["worker"])
    ]
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            health = await _started(http)
            assert health.json() == {"status": "ok", "database": "ok", "worker": "off"}
            references = []
            for n in range(6):  # fresh connections, so the kernel spreads them
                async with httpx2.AsyncClient(base_url=http.base_url, timeout=10) as one:
                    form = await one.get("/apply/unlock")
                    # Six applicants (their own account and phone: one phone may apply
                    # three times a day, support/platform/ratelimit.py).
                    fields = {**hidden_fields(form.text), **UNLOCK, "account_id": f"61234000{n:02d}",
                              "phone": f"98765 432{n:02d}"}
                    files = {"receipt": ("receipt.jpg", jpeg_bytes(), "image/jpeg")}
                    submitted = await one.post("/apply/unlock", data=fields, files=files)
                    assert submitted.status_code == 303, submitted.text
                    references.append(submitted.headers["location"].split("/")[2])
        sms_log = data_dir / "sms.log"
        for _ in range(150):
            texts = [json.loads(line)["text"] for line in sms_log.read_text().splitlines()] \
                if sms_log.exists() else []
            if all(any(ref in text for text in texts) for ref in references):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the worker process did not send every code: {texts}")
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=20)[0] for process in processes]
    assert outputs[0].count("Application startup complete") == 2, outputs[0]
