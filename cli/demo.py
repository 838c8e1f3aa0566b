"""`ledger demo`: the demo school in the configured store, and one token per role to try it with.

`ledger serve --demo-if-empty` (`make run`) calls `build_if_empty` before it serves.
"""

from __future__ import annotations

import importlib
import time
from collections import Counter

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import fail, ledger_app
from cli.demo_school import (
    LOGIN_ROLES,
    DemoLogin,
    DemoSize,
    DemoSummary,
    SchoolClock,
    build_demo_school,
    mint_demo_tokens,
)
from ledger.application import LedgerApplication
from ledger.domain import Role
from ledger.errors import LedgerError
from ledger.settings import get_settings
from ledger.store import redact

DOCS_URL = "http://127.0.0.1:8000/docs"


def demo(
    students: int = typer.Option(30, min=2, max=100_000, help="How many students."),
    seed: int = typer.Option(2025, help="Same seed, same school year."),
    experiences: int = typer.Option(3, min=1, max=50, help="Experiences per student."),
    hours: int = typer.Option(12, min=1, max=1000, help="Hours entries per experience."),
    force: bool = typer.Option(
        False, "--force", help="Add a demo school to a store that already holds events."
    ),
    database_url: str | None = typer.Option(None, envvar="LEDGER_DATABASE_URL"),
) -> None:
    """Build a demo school year (2025-26) and print one bearer token per role."""
    size = DemoSize(students, experiences, hours)
    url = database_url or get_settings().database_url
    with ledger_app(url) as app:
        events = app.position()
        if events and not force:
            fail(
                f"the store at {redact(url)} is not empty ({events} events);"
                " use --force to add a demo"
            )
        summary = _build(app, size, seed, follow_year=not events)
    _ensure_signing_key()
    print_logins(summary.logins)


def build_if_empty(database_url: str) -> None:
    """For `ledger serve --demo-if-empty`: on an empty store, build the demo school; on any store,
    print usable tokens for the demo's login users (fresh ones when the demo was built before,
    since only their hashes are stored)."""
    with ledger_app(database_url) as app:
        if app.position() == 0:
            logins = _build(app, DemoSize(), 2025, follow_year=True).logins
        else:
            logins = mint_demo_tokens(app)
            if logins is None:
                typer.echo("the store holds no demo school; add users with `ledger users add`")
            else:
                typer.echo("the store is not empty: fresh tokens for the demo's users")
    _ensure_signing_key()
    if logins:
        # `ledger serve` prints the docs address of the port it listens on next.
        print_logins(logins, docs=False)


def _build(app: LedgerApplication, size: DemoSize, seed: int, *, follow_year: bool) -> DemoSummary:
    # On an empty store the year is recorded at its own dates (so as-of reads mean something);
    # beside existing events it is recorded now, keeping recorded time increasing along the log.
    clock = SchoolClock() if follow_year else None
    err = Console(stderr=True)
    started = time.monotonic()
    with Progress(
        TextColumn("building the demo school year"),
        BarColumn(),
        TextColumn("{task.fields[day]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("demo", total=None, day="")

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, day=f"day {done}/{total}")

        summary = build_demo_school(app, size=size, seed=seed, clock=clock, progress=progress)
    print_summary(summary, size, seed, time.monotonic() - started)
    return summary


def print_summary(s: DemoSummary, size: DemoSize, seed: int, seconds: float) -> None:
    a: Counter = s.acts
    table = Table(title=f"Demo school 2025-26 (seed {seed}, build {s.run})", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("events", s.events),
        ("students", len(s.student_ids)),
        ("users", a["add_user"]),
        ("experiences (withdrawn)", f"{a['plan_experience']} ({a['withdraw_experience']})"),
        (
            "hours entries (verified / disputed)",
            f"{a['log_hours']} ({a['verify_hours']} / {a['dispute_hours']})",
        ),
        ("reflections (revised)", f"{a['submit_reflection']} ({a['revise_reflection']})"),
        ("artifacts", a["attach_artifact"]),
        ("mentor notes", a["write_mentor_note"]),
        ("judgments (retracted)", f"{a['record_judgment']} ({a['retract_judgment']})"),
        (
            "credits proposed (approved / rejected / revoked)",
            f"{a['propose_credit']} ({a['approve_credit']} / {a['reject_credit']} / "
            f"{a['revoke_credit']})",
        ),
        ("classes recorded", a["record_class"]),
        ("flagged credit", str(s.flagged_credit_id or "-")),
        ("revoked credit", str(s.revoked_credit_id or "-")),
        ("seconds", f"{seconds:.1f}"),
    ]
    for what, n in rows:
        table.add_row(what, f"{n:,}" if isinstance(n, int) else n)
    Console(width=100).print(table)


def print_logins(logins: dict[Role, DemoLogin], *, docs: bool = True) -> None:
    """One line per role: the role, the bearer token, the user id. Tokens are shown only here."""
    typer.echo("one bearer token per role (Authorization: Bearer TOKEN):")
    for role in LOGIN_ROLES:
        login = logins.get(role)
        if login is not None:
            typer.echo(f"  {role!s:<10} {login.token}  user {login.user_id}")
    if docs:
        typer.echo(f"API docs (after `ledger serve`): {DOCS_URL}")


def _ensure_signing_key() -> None:
    """`make run` makes a demo signing key for checkpoints if the school has none."""
    try:
        keys = importlib.import_module("ledger.integrity.keys")
    except ImportError:
        return
    path = get_settings().signing_key_path
    try:
        key = keys.ensure_key(path)
    except (LedgerError, OSError) as e:
        typer.echo(f"warning: no checkpoint signing key: {getattr(e, 'detail', e)}", err=True)
        return
    typer.echo(f"checkpoint signing key: {path} (key id {keys.key_id(key)})")
