"""`support COMMAND --help` is enough to use a command: what it does, every option
explained, and examples to copy."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from support.cli import build_parser


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


COMMANDS = _commands()


def test_the_command_list_names_and_summarises_every_command():
    help_text = build_parser().format_help()
    for name in COMMANDS:
        assert name in help_text
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {choice.dest for choice in sub._choices_actions} == set(COMMANDS)
    assert all(choice.help and len(choice.help) >= 15 for choice in sub._choices_actions)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_of_every_command_is_explained(name):
    command = COMMANDS[name]
    text = command.format_help()
    assert command.description and len(command.description) >= 40, name
    for action in command._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
        assert len(action.help) >= 15, (name, action.dest)
        for option in action.option_strings:
            assert option in text, (name, option)
        if not action.option_strings:
            assert (action.metavar or action.dest) in text, (name, action.dest)
    assert "examples:" in text, name
    examples = text.split("examples:", 1)[1]
    assert f"support {name}" in examples, name


def test_help_runs_without_a_database_or_settings(tmp_path):
    """An operator reads --help before anything is set up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    for args in ([], *([name] for name in COMMANDS)):
        result = subprocess.run([sys.executable, "-m", "support", *args, "--help"], env=env,
                                cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (args, result.stderr)
        assert "usage: support" in result.stdout
        assert "examples:" in result.stdout
    assert not (tmp_path / "var").exists()  # nothing was created


def test_migrate_without_a_reachable_database_says_so_in_one_line(tmp_path):
    """It printed asyncpg's traceback (issue 19): one line on standard error now, naming
    the address without the password, and a non-zero exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    env.update(SUPPORT_DATA_DIR=str(tmp_path / "data"), SUPPORT_SECRET_KEY="k" * 40,
               SUPPORT_DATABASE_URL="postgres://support:s3cret-pw@127.0.0.1:1/support")
    result = subprocess.run([sys.executable, "-m", "support", "migrate"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result
    # Log lines (JSON, standard error is no terminal here: Tortoise's "shutdown") aside.
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("{")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("support migrate: cannot reach the database at "
                               "postgres://127.0.0.1:1/support"), lines[0]
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr
    assert "Database is up to date" not in result.stdout
