"""The package's layering (docs/architecture.md) holds: the import-linter contracts in
pyproject.toml are kept, and no import hides inside a function without saying why."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "support"


def test_the_import_contracts_are_kept():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout
    assert result.stdout.count("KEPT") >= 5


def _deferred_imports(path: Path) -> list[tuple[int, str]]:
    """Imports inside a function with no comment on the lines just above or beside them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if not isinstance(inner, ast.Import | ast.ImportFrom) or inner is node:
                continue
            window = lines[max(0, inner.lineno - 4):inner.lineno]
            if not any("#" in line for line in window):
                found.append((inner.lineno, lines[inner.lineno - 1].strip()))
    return found


def test_no_import_inside_a_function_without_a_reason():
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in SUPPORT.rglob("*.py")
        if "migrations" not in path.parts and (found := _deferred_imports(path))
    }
    assert offenders == {}


def test_a_deferred_import_without_a_comment_is_caught(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import json\n    return json\n\n"
                      "def g():\n    # why: it must come late\n    import os\n    return os\n")
    assert _deferred_imports(sample) == [(2, "import json")]


def test_the_top_of_the_package_lists_a_dozen_rooms_each_saying_what_it_holds():
    entries = sorted(p.name for p in SUPPORT.iterdir()
                     if not p.name.startswith(("_", ".")) and p.name != "py.typed")
    assert len(entries) <= 14, entries
    for package in (p for p in SUPPORT.iterdir() if (p / "__init__.py").exists()):
        if package.name == "migrations":
            continue
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert doc and "import" in doc, f"{package.name}/__init__.py must say what it may import"


def test_each_way_in_imports_on_its_own():
    """A fresh interpreter importing each way into the package: an import cycle can pass
    in the suite (whatever the tests imported first) and stop `support migrate` cold."""
    import subprocess  # why: only this test starts interpreters
    import sys
    ways = ["support.cli", "support.app", "support.clock.worker", "support.mailin.desk",
            "support.documents.storage", "support.documents.quality",
            "support.documents.reading", "support.documents.store", "support.web.apply_form"]
    for way in ways:
        done = subprocess.run([sys.executable, "-c", f"import {way}"], capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, f"import {way}:\n{done.stderr[-2000:]}"
