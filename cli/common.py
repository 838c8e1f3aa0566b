"""What every CLI command shares: opening the ledger from settings, and failing in one line."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import NoReturn

import psycopg
import typer

from ledger.application import LedgerApplication
from ledger.errors import LedgerError
from ledger.settings import get_settings
from ledger.store import parse_database_url, redact


def fail(message: str, code: int = 1) -> NoReturn:
    """One clear line on stderr and a non-zero exit: the CLI's only way to report an error."""
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(code)


@contextmanager
def ledger_app(
    database_url: str | None = None, *, must_exist: bool = False
) -> Iterator[LedgerApplication]:
    """The ledger at ``database_url`` (default: LEDGER_DATABASE_URL). Commands that only read
    or check a ledger pass ``must_exist``: a mistyped relative SQLite path then fails instead of
    quietly creating, and reporting on, a new empty store."""
    url = database_url or get_settings().database_url
    if must_exist:
        try:
            store = parse_database_url(url)
        except LedgerError as e:
            fail(e.detail)
        if not _has_event_table(store):
            where = Path(store.sqlite_path).resolve() if store.sqlite_path else redact(url)
            fail(f"no ledger at {where} (check LEDGER_DATABASE_URL)")
    try:
        app = LedgerApplication(database_url=url)
    except LedgerError as e:
        fail(e.detail)
    except Exception as e:  # noqa: BLE001 - the store did not open: say why, in one line
        # Never the password: stderr ends up in CI logs and terminals.
        fail(f"cannot open the ledger at {redact(url)}: {e}")
    try:
        yield app
    except LedgerError as e:
        fail(f"{e.code}: {e.detail}")
    finally:
        app.close()


def is_tty() -> bool:
    return sys.stderr.isatty()


# The library's events tables: "stored_events" on SQLite, "<application>_events" on PostgreSQL.
_EVENT_TABLES = ("stored_events", "competencyledger_events")


def _has_event_table(store) -> bool:
    """Is there a ledger here at all? Looked up without creating anything (opening a
    LedgerApplication would create the tables)."""
    if store.kind == "sqlite":
        path = Path(store.sqlite_path)
        if not path.is_file():
            return False
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
        return bool(names & set(_EVENT_TABLES))
    try:
        with psycopg.connect(store.postgres_conninfo, connect_timeout=5) as conn:
            found = conn.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name = ANY(%s)",
                (store.postgres_schema or "public", list(_EVENT_TABLES)),
            ).fetchone()
    except (psycopg.Error, UnicodeError) as e:
        # (UnicodeError: the URL holds bytes that are not UTF-8, which cannot go to libpq.)
        fail(f"cannot reach the ledger at {redact(store.url)}: {type(e).__name__}")
    return found is not None
