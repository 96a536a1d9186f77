"""A real, small filesystem for the data dir, to fill up.

A 2 MB tmpfs (we run as root); where mounting tmpfs is refused, a loop-mounted ext4 image
of the same size. Either way the kernel itself answers ``ENOSPC``, exactly as a full disk
does, at the write or at the close that flushes it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=60,
                          check=False)


def _unmount(root: Path) -> None:
    if _run("umount", str(root)).returncode != 0:
        _run("umount", "-l", str(root))  # something still holds it: detach now, free later


@contextlib.contextmanager
def small_filesystem(megabytes: int = 2) -> Iterator[Path]:
    """Mount a filesystem of ``megabytes`` on a fresh folder; unmount and delete it after.
    Skips the test, saying why, if this machine lets us mount neither kind."""
    root = Path(tempfile.mkdtemp(prefix="support-faults-disk-"))
    image: Path | None = None
    mounted = _run("mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700", "tmpfs",
                   str(root))
    if mounted.returncode != 0:
        image = root.with_suffix(".img")
        with image.open("wb") as handle:
            handle.truncate(megabytes * 1024 * 1024)
        made = _run("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
        looped = _run("mount", "-o", "loop", str(image), str(root)) if made.returncode == 0 \
            else made
        if looped.returncode != 0:
            image.unlink(missing_ok=True)
            root.rmdir()
            pytest.skip(f"cannot mount a small filesystem here: tmpfs: {mounted.stderr.strip()}; "
                        f"loop image: {looped.stderr.strip()}")
    try:
        yield root
    finally:
        _unmount(root)
        shutil.rmtree(root, ignore_errors=True)
        if image is not None:
            image.unlink(missing_ok=True)


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def fill(root: Path, leave: int) -> Path:
    """Write a filler file until only ``leave`` bytes are free; return it (delete it to
    free the disk again)."""
    filler = root / "filler"
    block = b"\0" * 65536
    with filler.open("ab", buffering=0) as handle:
        while (room := free_bytes(root) - leave) > 0:
            try:
                handle.write(block[:room])
            except OSError:  # a filesystem's own bookkeeping took the last blocks
                break
    return filler


def files_under(path: Path) -> list[Path]:
    return [found for found in path.rglob("*") if found.is_file()] if path.exists() else []
