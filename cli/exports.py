"""`ledger export ...`: the state grade-history file, a student's CLR and printable transcript.

Each export made is recorded in the ledger (who, when, as of what, the file's SHA-256); the
summary line on stderr names that record. Without ``--token`` the CLI acts as the system.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from cli.common import fail, ledger_app
from ledger.application import system_actor
from ledger.errors import ExportRefused
from projections.exports.service import (
    Made,
    export_clr,
    export_grade_history,
    export_transcript_pdf,
)

exports = typer.Typer(help="State reports, learner records and transcripts.", no_args_is_help=True)

DB = typer.Option(None, "--database-url", envvar="LEDGER_DATABASE_URL")
TOKEN = typer.Option(None, "--token", envvar="LEDGER_TOKEN", help="Act as this user.")
AS_OF = typer.Option(
    None, "--as-of", help="Export the ledger as it stood at this instant (ISO 8601 with zone)."
)


def parse_instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--as-of must be an ISO 8601 instant like 2026-06-15T17:00:00Z, not {text!r}")
    if when.tzinfo is None:
        fail("--as-of needs a time zone (add Z for UTC)")
    return when


@contextmanager
def _session(database_url: str | None, token: str | None):
    with ledger_app(database_url, must_exist=True) as app:
        actor = system_actor()
        if token is not None:
            found = app.authenticate(token)
            if found is None:
                fail("the token is unknown, revoked or idle")
            actor = found
        from projections import ReadModels  # here: `ledger --help` needs no read models

        rm = ReadModels(app)
        try:
            yield app, rm, actor
        finally:
            rm.close()


def _writable(target: Path) -> None:
    """Refused before the export is made: a made export is recorded, so it must also be written."""
    if target.is_dir():
        fail(f"{target} is a folder; name a file")
    if not target.parent.is_dir():
        fail(f"folder {target.parent} does not exist")


def _run(make: Callable[[Any, Any, Any], Made], output: Path | None, database_url, token) -> None:
    if output is not None and str(output) != "-":
        _writable(output)
    with _session(database_url, token) as (app, rm, actor):
        try:
            made = make(app, rm, actor)
        except ExportRefused as e:
            for row in e.rows:
                key = row["key"]
                problems = "; ".join(f"{col} {msg}" for col, msg in sorted(row["problems"].items()))
                typer.echo(
                    f"  {key.get('district_student_id')} {key.get('school_year')} "
                    f"{key.get('term')} {key.get('title')!r} credit {key.get('credit_id')}: "
                    f"{problems}",
                    err=True,
                )
            fail(f"{e.code}: {e.detail}")
    target = output if output is not None else Path(made.file.name)
    if str(target) == "-":
        sys.stdout.buffer.write(made.file.content)
        sys.stdout.buffer.flush()
    else:
        try:
            target.write_bytes(made.file.content)
        except OSError as e:
            fail(f"export {made.export_id} was made but not written to {target}: {e.strerror}")
    typer.echo(
        f"{'stdout' if str(target) == '-' else target}: {made.file.row_count} rows, "
        f"sha256 {made.file.sha256}, export {made.export_id}, position {made.position}"
        + (f", as of {made.as_of.isoformat()}" if made.as_of else ""),
        err=True,
    )


@exports.command("grade-history")
def grade_history(
    school_year: str = typer.Option(..., "--school-year", help="Like 2025-26."),
    as_of: str | None = AS_OF,
    output: Path | None = typer.Option(
        None, "-o", "--output", help="File to write ('-' for stdout); default: the CEDARS name."
    ),
    database_url: str | None = DB,
    token: str | None = TOKEN,
) -> None:
    """The CEDARS Student Grade History file for one school year (refused, with the rows
    listed, when any row is invalid)."""
    when = parse_instant(as_of)
    _run(
        lambda app, rm, actor: export_grade_history(
            app, rm, actor, school_year=school_year, as_of=when
        ),
        output,
        database_url,
        token,
    )


@exports.command("transcript")
def transcript(
    student_id: str = typer.Argument(..., help="The student's id."),
    output: Path = typer.Option(..., "-o", "--output", help="The PDF to write."),
    as_of: str | None = AS_OF,
    database_url: str | None = DB,
    token: str | None = TOKEN,
) -> None:
    """A printable transcript (PDF) for one student."""
    when = parse_instant(as_of)
    _run(
        lambda app, rm, actor: export_transcript_pdf(app, rm, actor, student_id, as_of=when),
        output,
        database_url,
        token,
    )


@exports.command("clr")
def clr(
    student_id: str = typer.Argument(..., help="The student's id."),
    output: Path = typer.Option(Path("-"), "-o", "--output", help="File to write; default stdout."),
    as_of: str | None = AS_OF,
    database_url: str | None = DB,
    token: str | None = TOKEN,
) -> None:
    """The student's Comprehensive Learner Record 2.0 (JSON-LD, unsigned)."""
    when = parse_instant(as_of)
    _run(
        lambda app, rm, actor: export_clr(app, rm, actor, student_id, as_of=when),
        output,
        database_url,
        token,
    )
