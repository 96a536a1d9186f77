"""A ``support`` command running in a process of its own for a test: started with an
environment, its output kept, ``ready`` once it answers ``/healthz``, ``stop`` with
SIGTERM (then SIGKILL after 30 s). Shared by the tests that run real machines
(test_bucket_store, test_backup_drill)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time

import httpx2


class Process:
    def __init__(self, command: list[str], env: dict[str, str], port: int | None = None) -> None:
        self.port = port
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in stop
        args = [*command, "--port", str(port)] if port else command
        self.process = subprocess.Popen(  # noqa: ASYNC220 - started once, waited on below
            [sys.executable, "-m", "support", *args], env=env, stdout=self.log,
            stderr=subprocess.STDOUT, text=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        deadline = time.monotonic() + 60
        async with httpx2.AsyncClient() as http:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.output()
                with contextlib.suppress(httpx2.TransportError):
                    if (await http.get(self.url + "/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError("not ready: " + self.output())

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        output = self.output()
        self.log.close()
        return output
