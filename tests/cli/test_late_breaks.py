"""What a second adversarial pass found in the CLI: nothing recorded for a file never written,
no tracebacks for bad output paths, and read-only commands that never create a ledger."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid

import psycopg

from ledger.application import LedgerApplication
from tests.builders import School
from tests.conftest import POSTGRES_URL, _with_query, require_postgres


def ledger(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=120
    )


def one_line_error(done: subprocess.CompletedProcess) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr


def test_export_to_a_bad_path_records_nothing(sqlite_url, tmp_path):
    app = LedgerApplication(database_url=sqlite_url)
    try:
        school = School.build(app)
        sid, _ = school.enroll("E1")
        before = app.position()
    finally:
        app.close()
    for target in (tmp_path / "missing" / "t.pdf", tmp_path):
        done = ledger(
            "export", "transcript", str(sid), "-o", str(target), "--database-url", sqlite_url
        )
        one_line_error(done)
    app = LedgerApplication(database_url=sqlite_url)
    try:
        assert app.position() == before
    finally:
        app.close()


def test_writing_a_key_to_a_bad_path_is_one_line(sqlite_url, tmp_path):
    app = LedgerApplication(database_url=sqlite_url)
    app.close()
    done = ledger("keys", "public", "--out", str(tmp_path / "no" / "k.pem"))
    one_line_error(done)


def test_read_only_commands_never_create_a_ledger(tmp_path):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    for args in (("project",), ("verify",), ("rebuild",)):
        one_line_error(ledger(*args, "--database-url", f"sqlite:///{empty}"))
    with sqlite3.connect(empty) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_read_only_commands_refuse_an_empty_postgres_schema():
    require_postgres()
    schema = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        one_line_error(
            ledger("project", "--database-url", _with_query(POSTGRES_URL, schema=schema))
        )
        with psycopg.connect(POSTGRES_URL) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchone()
        assert tables == (0,)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_a_bad_setting_is_one_line_naming_it_and_serves_nothing(sqlite_url, tmp_path):
    """A LEDGER_* value out of range or of the wrong type: one line that names the variable,
    exit 2, and no server started (it had printed that it was serving, then a traceback)."""
    import os

    cases = {
        "LEDGER_HEAD_TIMEOUT_SECONDS": ["600", "0", "abc"],
        "LEDGER_CHECKPOINT_INTERVAL": ["abc", "0"],
        "LEDGER_LOG_LEVEL": ["bogus"],
    }
    for name, values in cases.items():
        for value in values:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cli.main",
                    "serve",
                    "--port",
                    "1",
                    "--database-url",
                    sqlite_url,
                ],
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, name: value},
            )
            one_line_error(done)
            assert done.returncode == 2
            assert name in done.stderr and "serving" not in done.stdout
    LedgerApplication(database_url=sqlite_url).close()  # a ledger to verify
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "verify", "--database-url", sqlite_url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LEDGER_CHECKPOINT_INTERVAL": "abc"},
    )
    one_line_error(done)
    assert "LEDGER_CHECKPOINT_INTERVAL" in done.stderr
