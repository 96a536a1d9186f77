"""Reviewer accounts from the command line, run the way an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.accounts import auth
from support.data.models import Reviewer

PASSWORD = "correct horse battery"


@pytest.fixture
def cli(app, database_url: str, tmp_path: Path):
    """`support ...` in a subprocess on the test database (the `app` fixture emptied it
    and lets the test read rows back)."""
    env = {
        **os.environ,
        "SUPPORT_DATABASE_URL": database_url,
        "SUPPORT_DATA_DIR": str(tmp_path / "cli-data"),
    }

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "support", *args], env=env, input=stdin,
            capture_output=True, text=True, timeout=60, check=False,
        )

    return run


def create(cli, email: str = "ann@example.com", *extra: str, password: str = PASSWORD):
    return cli("create-reviewer", email, "--name", "Ann Reviewer", "--role", "lead", *extra,
               stdin=password + "\n")


async def test_create_reviewer_reads_the_password_from_stdin(cli):
    result = create(cli, "Ann@Example.com", "--kinds", "unlock,appeal", "--countries", "in,RU")
    assert result.returncode == 0, result.stderr
    assert "ann@example.com created" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    reviewer = await Reviewer.get()
    assert (reviewer.email, reviewer.name, reviewer.role) == ("ann@example.com", "Ann Reviewer",
                                                              "lead")
    assert reviewer.kinds == ["unlock", "appeal"]
    assert reviewer.countries == ["IN", "RU"]
    assert (await auth.authenticate("ann@example.com", PASSWORD)).id == reviewer.id


async def test_create_reviewer_defaults_to_every_queue(cli):
    assert create(cli).returncode == 0
    reviewer = await Reviewer.get()
    assert reviewer.kinds == ["unlock", "recovery", "appeal"]
    assert reviewer.countries == []


async def test_a_short_password_is_refused(cli):
    result = create(cli, password="short")
    assert result.returncode == 1
    assert "at least 12" in result.stderr
    assert "Traceback" not in result.stderr
    assert await Reviewer.all().count() == 0


async def test_a_duplicate_email_is_refused(cli):
    assert create(cli).returncode == 0
    again = create(cli, "ANN@example.com")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert await Reviewer.all().count() == 1


async def test_bad_queues_and_countries_are_explained(cli):
    kinds = create(cli, "ann@example.com", "--kinds", "unlock,flash")
    assert kinds.returncode == 1 and "Unknown queue flash" in kinds.stderr
    countries = create(cli, "ann@example.com", "--countries", "XX")
    assert countries.returncode == 1 and "Unknown country code XX" in countries.stderr
    role = cli("create-reviewer", "a@example.com", "--name", "A", "--role", "boss",
               stdin=PASSWORD + "\n")
    assert role.returncode == 2 and "invalid choice: 'boss'" in role.stderr


async def test_list_reviewers_shows_a_table(cli):
    empty = cli("list-reviewers")
    assert empty.returncode == 0 and "No reviewers yet" in empty.stdout
    assert create(cli, "ann@example.com", "--kinds", "recovery").returncode == 0
    await auth.authenticate("ann@example.com", PASSWORD)
    await auth.create_reviewer("zoe@example.com", "Zoe", "reviewer", PASSWORD)
    await auth.deactivate("zoe@example.com")
    result = cli("list-reviewers")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["EMAIL", "NAME", "ROLE", "ACTIVE", "QUEUES", "COUNTRIES",
                                "LAST", "LOGIN"]
    ann, zoe = lines[1], lines[2]
    assert ann.startswith("ann@example.com") and "Ann Reviewer" in ann and "lead" in ann
    assert " yes " in ann and "recovery" in ann and "UTC" in ann
    assert zoe.startswith("zoe@example.com") and " no " in zoe and "never" in zoe
    assert "unlock,recovery,appeal" in zoe
    assert "argon2" not in result.stdout


async def test_deactivate_reviewer_ends_their_sessions(cli):
    assert create(cli).returncode == 0
    reviewer = await auth.authenticate("ann@example.com", PASSWORD)
    token = await auth.start_session(reviewer)
    result = cli("deactivate-reviewer", "ann@example.com")
    assert result.returncode == 0, result.stderr
    assert "deactivated" in result.stdout and "1 session ended" in result.stdout
    assert await auth.session_reviewer(token) is None
    assert (await Reviewer.get()).active is False
    with pytest.raises(auth.AuthError, match="Wrong email or password"):
        await auth.authenticate("ann@example.com", PASSWORD)


async def test_deactivating_an_unknown_email_says_so(cli):
    result = cli("deactivate-reviewer", "nobody@example.com")
    assert result.returncode == 1
    assert "no reviewer with the email nobody@example.com" in result.stderr


async def test_set_reviewer_password(cli):
    assert create(cli).returncode == 0
    short = cli("set-reviewer-password", "ann@example.com", stdin="short\n")
    assert short.returncode == 1 and "at least 12" in short.stderr
    result = cli("set-reviewer-password", "ann@example.com", stdin="a brand new passphrase\n")
    assert result.returncode == 0, result.stderr
    assert await auth.authenticate("ann@example.com", "a brand new passphrase")


async def test_bootstrap_admin_works_every_queue(cli):
    result = cli("bootstrap", "--email", "root@example.com")
    assert result.returncode == 0, result.stderr
    admin = await Reviewer.get()
    assert admin.role == "admin" and admin.email == "root@example.com"
    assert admin.kinds == ["unlock", "recovery", "appeal"]
