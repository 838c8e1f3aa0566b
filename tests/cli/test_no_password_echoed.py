"""A password in LEDGER_DATABASE_URL is never printed: stderr ends up in CI logs and terminals.
`ledger demo` on a store that holds events named the store by its URL as given, password and
all ("error: the store at postgresql://postgres:s3cret-pw@127.0.0.1:5432/test?schema=... is not
empty")."""

from __future__ import annotations

import os
import subprocess
import sys

from ledger.application import LedgerApplication
from tests.builders import School

PASSWORD = "s3cret-pw"


def test_demo_on_a_store_with_events_does_not_print_the_password(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    assert PASSWORD in url  # trust auth: the server never asks for it
    app = LedgerApplication(database_url=url)
    try:
        School.build(app)
        before = app.position()
    finally:
        app.close()
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--students", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LEDGER_DATABASE_URL": url},
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not empty" in lines[0], done.stderr
    assert "postgres:***@127.0.0.1" in lines[0]
    assert PASSWORD not in done.stderr and PASSWORD not in done.stdout
    app = LedgerApplication(database_url=url)
    try:
        assert app.position() == before
    finally:
        app.close()
