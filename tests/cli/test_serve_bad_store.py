"""`ledger serve` with a LEDGER_DATABASE_URL that does not open: one line, as from every other
command, before it says it serves. It printed "serving the ledger at ...", then each worker's
traceback (77 lines for an empty URL, 223 for an unreachable server with --workers 2), and
exited 3, or 0 with --workers 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PASSWORD = "s3cret-pw"


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize(
    "url",
    [
        "",
        "mysql://someone@127.0.0.1/db",
        "postgresql://postgres@127.0.0.1:5432/test?schema=a;drop",
        f"postgresql://someone:{PASSWORD}@127.0.0.1:1/nope?connect_timeout=1",
    ],
)
def test_a_store_that_does_not_open_is_one_line_before_serving(url: str, workers: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "serve", "--port", "1", "--workers", workers],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LEDGER_DATABASE_URL": url},
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "serving" not in done.stdout
    assert PASSWORD not in done.stderr and PASSWORD not in done.stdout
