"""A bad LEDGER_* setting stops every command before it does anything, not only those that happen
to read the settings first. With LEDGER_DATABASE_URL set (as a deployment sets it) most commands
never asked for the other settings until late or at all: `ledger users add` and `ledger import
case` wrote and exited 0, and `ledger demo` built the whole school, then exited 2 without
printing a single token (4,249 events, and a second run says the store is not empty)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.imports.conftest import case_package

BAD = {"LEDGER_HEAD_TIMEOUT_SECONDS": "600"}


def _ledger(url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LEDGER_DATABASE_URL": url, **env},
    )


def _events(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
        if "stored_events" not in tables:
            return 0
        return conn.execute("SELECT count(*) FROM stored_events").fetchone()[0]


def test_a_bad_setting_stops_commands_that_write_before_they_write(tmp_path: Path) -> None:
    store = tmp_path / "ledger.sqlite"
    url = f"sqlite:///{store}"
    package = tmp_path / "fw.json"
    package.write_text(json.dumps(case_package()))
    commands = [
        ("users", "add", "--role", "admin", "--name", "Ada"),
        ("import", "case", str(package)),
        ("demo", "--students", "2", "--experiences", "1", "--hours", "1"),
    ]
    for args in commands:
        done = _ledger(url, *args, **BAD)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: LEDGER_HEAD_TIMEOUT_SECONDS"), (
            args,
            done.stderr,
        )
        assert "token" not in done.stdout and "clt_" not in done.stdout
        assert _events(store) == 0, args


def test_a_bad_setting_stops_projection_commands_and_help_still_answers(tmp_path: Path) -> None:
    store = tmp_path / "ledger.sqlite"
    url = f"sqlite:///{store}"
    made = _ledger(url, "users", "add", "--role", "admin", "--name", "Ada")
    assert made.returncode == 0, made.stderr
    for args in (("rebuild",), ("project",)):
        done = _ledger(url, *args, **BAD)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.strip().splitlines() == [
            "error: LEDGER_HEAD_TIMEOUT_SECONDS: Input should be less than or equal to 300"
            " (got '600')"
        ]
        assert "rebuilt" not in done.stdout and "projected" not in done.stdout
    # Asking how to use a command is not using it: help answers whatever the settings say.
    for args in (("--help",), ("users", "add", "--help"), ("rebuild", "--help")):
        done = _ledger(url, *args, **BAD)
        assert done.returncode == 0, (args, done.stderr)
        assert "Usage" in done.stdout
