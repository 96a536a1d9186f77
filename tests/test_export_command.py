"""`support export`: the queue as CSV from the command line, with the page's scope."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.data.models import Reviewer
from tests.factories import make_application


@pytest.fixture
def cli(app, database_url: str, tmp_path: Path):
    env = {**os.environ, "SUPPORT_DATABASE_URL": database_url,
           "SUPPORT_DATA_DIR": str(tmp_path / "cli-data")}

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "support", "export", *args], env=env,
                              capture_output=True, timeout=60, check=False)

    return run


async def _reviewer(email: str, role: str = "reviewer", **scope: list[str]) -> Reviewer:
    return await Reviewer.create(email=email, name=email.split("@")[0], role=role,
                                 password_hash="-",
                                 kinds=scope.get("kinds", ["unlock", "recovery", "appeal"]),
                                 countries=scope.get("countries", []))


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


async def test_exports_the_reviewers_scope_in_batches_with_progress(cli, tmp_path):
    await _reviewer("ru@example.com", countries=["RU"])
    mine = [await make_application(country="RU") for _ in range(5)]
    await make_application(country="IN")  # outside the reviewer's queues
    out = tmp_path / "ru.csv"
    result = cli("--as", "ru@example.com", "--batch-size", "2", "-o", str(out))
    assert result.returncode == 0, result.stderr
    rows = _rows(out.read_bytes())
    assert sorted(row["Reference"] for row in rows) == sorted(a.reference for a in mine)
    assert "Phone" not in rows[0]
    progress = result.stderr.decode()
    assert "2 rows" in progress and "5 rows in" in progress  # batch by batch, then the total


async def test_standard_output_holds_only_the_csv_and_filters_apply(cli):
    await _reviewer("all@example.com")
    unlock = await make_application(kind="unlock")
    await make_application(kind="recovery")
    result = cli("--as", "all@example.com", "--kind", "unlock")
    assert result.returncode == 0, result.stderr
    assert [row["Reference"] for row in _rows(result.stdout)] == [unlock.reference]


async def test_contacts_need_a_lead_and_formulas_stay_text(cli):
    await _reviewer("plain@example.com")
    await _reviewer("lead@example.com", role="lead")
    application = await make_application(email="=cmd@example.com")
    refused = cli("--as", "plain@example.com", "--contacts")
    assert refused.returncode == 2 and b"lead" in refused.stderr and refused.stdout == b""
    allowed = cli("--as", "lead@example.com", "--contacts")
    assert allowed.returncode == 0, allowed.stderr
    (row,) = _rows(allowed.stdout)
    assert row["Reference"] == application.reference
    assert row["Email"] == "'=cmd@example.com"
    assert row["Phone"] == "'" + application.phone  # "+91…" would be a formula too


async def test_an_unknown_reviewer_is_a_clear_error(cli):
    result = cli("--as", "nobody@example.com")
    assert result.returncode == 2
    assert b"no active reviewer" in result.stderr
