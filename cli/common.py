"""What every CLI command shares: opening the ledger from settings, and failing in one line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

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
        if store.kind == "sqlite" and not Path(store.sqlite_path).is_file():
            fail(f"no ledger at {Path(store.sqlite_path).resolve()} (check LEDGER_DATABASE_URL)")
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
