"""What every benchmark prints first and records with its figures: the machine and versions."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.md"
PACKAGES = ("starlette", "uvicorn", "tortoise-orm", "asyncpg", "aiosqlite", "python-multipart")


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _command_version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "missing"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""


def describe() -> str:
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in PACKAGES)
    return "\n".join([
        f"- when: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {_cpu()}, {os.cpu_count()} cores, {_memory_gib():.0f} GiB, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; {versions}",
        f"- PostgreSQL: {_command_version(['psql', '--version'])}; "
        f"wrk: {_command_version(['wrk', '--version'])}",
    ])


def record(name: str, text: str) -> None:
    """Append to bench/results.md, kept in the repository: the history of every run."""
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(f"\n## {name}\n\n{describe()}\n\n{text}\n")
