"""The directory prometheus-client's multiprocess mode keeps its counters in.

``support serve --workers N`` runs N processes and ``support worker`` runs beside them;
a scrape reaches one web process, which must report what all of them counted. In
multiprocess mode each process writes its values to memory-mapped files in one directory
and the scraped process adds them up. prometheus-client reads ``PROMETHEUS_MULTIPROC_DIR``
when it is imported and stores each value where that said when the value is made; so
``prepare`` runs first thing in ``support.cli``, ``support.platform.metrics`` makes its metrics on
first use, and this module imports neither.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
_FILE = re.compile(r"[a-z_]+_(\d+)\.db")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def prepare(directory: Path) -> Path:
    """Use ``directory`` (or an operator's own ``PROMETHEUS_MULTIPROC_DIR``) and remove
    the files of processes that are gone.

    A dead process's counters disappear from the sums when the next process starts; to
    Prometheus that is a counter reset, which ``rate()`` handles. Files of live processes
    (the other web processes, a running worker) are left alone, so starting a worker does
    not wipe the web processes' counts. The check is by process id, so the directory must
    be local to the machine (``SUPPORT_METRICS_DIR``), not on a volume shared between
    machines.
    """
    path = Path(os.environ.get(ENV) or directory).resolve()
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        match = _FILE.fullmatch(entry.name)
        if match and not _alive(int(match.group(1))):
            entry.unlink(missing_ok=True)
    os.environ[ENV] = str(path)
    values = sys.modules.get("prometheus_client.values")
    if values is not None:  # imported already (by a module the parser needed): re-choose
        values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]
    return path
