"""Usage errors are one line on stderr and a non-zero exit, like every other CLI error."""

from __future__ import annotations

import subprocess
import sys

import pytest


def ledger(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "args",
    [
        ("export", "transcript"),
        ("demo", "--students", "many"),
        ("no-such-command",),
        ("import", "case"),
    ],
)
def test_usage_error_is_one_line(args):
    done = ledger(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_help_still_prints_and_succeeds():
    done = ledger("--help")
    assert done.returncode == 0 and "export" in done.stdout
