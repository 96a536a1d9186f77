"""docs/security.md names the test that proves each defence: those names must stay true.

A renamed or deleted test would otherwise leave the threat model pointing at nothing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security.md"
# `file.py::name` starts a run; a following `::name` in the same cell is the same file, and
# a bare `name` in a "proved by (`file.py`)" table's cell means that file.
CELL_REF = re.compile(r"`(?:(test_\w+\.py))?::(test_\w+)")
TABLE_FILE = re.compile(r"proved by \(`(test_\w+\.py)`\)")
BARE = re.compile(r"`(test_\w+)(?:\[[^`]*\])?`")


def _tests_in(file: str) -> set[str]:
    tree = ast.parse((ROOT / "tests" / file).read_text())
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")}


def _references() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    table_file: str | None = None
    for line in DOC.read_text().splitlines():
        header = TABLE_FILE.search(line)
        if header:
            table_file = header.group(1)
            continue
        if not line.startswith("|"):
            table_file = None if not line.strip() else table_file
            continue
        for cell in line.split("|"):
            current: str | None = None
            for match in CELL_REF.finditer(cell):
                current = match.group(1) or current
                if current is None:
                    raise AssertionError(f"`::{match.group(2)}` with no file before it: {cell}")
                found.append((current, match.group(2)))
            if table_file and not CELL_REF.search(cell):
                found.extend((table_file, name) for name in BARE.findall(cell))
    return found


def test_the_threat_model_names_tests_that_exist():
    references = _references()
    assert len(references) > 60, "the parser stopped finding the document's test names"
    missing = sorted({f"{file}::{name}" for file, name in references
                      if not (ROOT / "tests" / file).exists() or name not in _tests_in(file)})
    assert not missing, "docs/security.md names tests that do not exist:\n" + "\n".join(missing)
