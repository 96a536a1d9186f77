"""Whether this web process is in a burst of applications, for the one check that gives
way to it: the advice on photos too poor to read (issue 26, ``documents.quality``).

That check decodes the whole photo: 3 ms of CPU for a 200 KB receipt, 25-30 ms for a
12 MP one (B12), twice that on a loaded event loop. In a burst every core is the front
door's (B1: 135 submissions a second with it, 324 without), so while more than ``BURST``
submissions are in this process at once, photos are taken as they come: the worker still
reads each one, and a reviewer asks for another if it cannot be read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

BURST = 4  # submissions in this process at once; a quiet desk has 0 or 1
_in_flight = 0


@contextlib.contextmanager
def submitting() -> Iterator[None]:
    """Around a submission's handling (one event loop per process: a plain counter)."""
    global _in_flight
    _in_flight += 1
    try:
        yield
    finally:
        _in_flight -= 1


def in_burst() -> bool:
    return _in_flight > BURST
