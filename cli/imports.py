"""`ledger import case|oneroster`: frameworks and rosters from the files schools already have.

Each import reads the whole file into a plan first (no writes), then applies the plan in one
command: a file that fails anywhere imports nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cli.common import fail, is_tty, ledger_app
from ledger.application import system_actor
from ledger.errors import LedgerError
from ledger.imports.case import associations_of, parse_case
from ledger.imports.oneroster import RosterOptions, parse_oneroster
from ledger.imports.settings import (
    FrameworkOptions,
    merged,
    parse_area,
    parse_method,
    parse_scale,
    read_mapping,
)

imports = typer.Typer(help="Import CASE frameworks and OneRoster rosters.", no_args_is_help=True)
err = Console(stderr=True)
out = Console(soft_wrap=True)


@contextmanager
def _progress() -> Iterator[Progress]:
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not is_tty(),
    )
    with progress:
        yield progress


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")


def _print_notes(notes: list[str]) -> None:
    if notes:
        out.print("normalised:")
        for line in notes:
            out.print(f"  {line}", markup=False, highlight=False)


@imports.command("case")
def import_case(
    file: Path = typer.Argument(..., help="A CASE CFPackage (JSON)."),
    mapping: Path | None = typer.Option(
        None, help="Scale, method and areas as JSON or TOML (docs/imports.md)."
    ),
    scale: str | None = typer.Option(
        None, help="4-point, met-not-met, or levels: '?IE=Insufficient,1=Low,2=Mid,3=High*'."
    ),
    method: str | None = typer.Option(None, help="Mastery method, e.g. decaying_average:0.65."),
    area: list[str] = typer.Option(  # noqa: B006 - typer reads the default
        [], help="AREA for the framework, CODE-PREFIX=AREA or id:ITEM-ID=AREA; repeatable."
    ),
    dry_run: bool = typer.Option(False, help="Check the file and show the plan; write nothing."),
    database_url: str | None = typer.Option(None, envvar="LEDGER_DATABASE_URL"),
) -> None:
    """Import (or re-import) a CASE framework. The same package twice records nothing."""
    raw = _read(file)
    try:
        options = read_mapping(mapping) if mapping else FrameworkOptions()
        rules = [parse_area(a) for a in area]
        options = merged(
            options,
            scale=parse_scale(scale) if scale else None,
            method=parse_method(method) if method else None,
            graduation_area=next((r for r in rules if isinstance(r, str)), None),
            areas=tuple(r for r in rules if not isinstance(r, str)) or None,
        )
        with _progress() as progress:
            task = progress.add_task(f"reading {file.name}", total=2)
            plan = parse_case(raw, options)
            progress.advance(task)
            if dry_run:
                result = None
            else:
                progress.update(task, description="recording")
                with ledger_app(database_url) as app:
                    result = app.import_framework(
                        system_actor(),
                        plan.framework_id,
                        plan.definition,
                        f"re-imported from CASE package {file.name}",
                    )
            progress.advance(task)
    except LedgerError as e:
        fail(f"{file.name}: {e.detail}")
    c = plan.counts
    assoc = ", ".join(f"{k} {v}" for k, v in c["associations"].items()) or "none"
    out.print(f"framework {plan.framework_id} ({plan.definition.title})", markup=False)
    out.print(f"items {c['items']} (roots {c['roots']}); associations: {assoc}", markup=False)
    if c["external_destinations"]:
        out.print(f"associations to nodes outside the package: {c['external_destinations']}")
    _print_notes(plan.normalisations.lines())
    if result is None:
        out.print("dry run: nothing written")
        return
    v = result.value
    line = f"{v['status']}: revision {v['revision']}, {result.event_count} event(s)"
    if v["status"] != "unchanged":
        ch = v["changes"]
        line += (
            f"; competencies added {len(ch['added'])}, changed {len(ch['changed'])}, "
            f"removed {len(ch['removed'])}"
        )
    out.print(line)


@imports.command("associations")
def list_associations(
    framework: str = typer.Argument(..., help="Framework id."),
    competency: str = typer.Argument(..., help="Competency id (the CASE identifier)."),
    kind: str | None = typer.Option(None, "--type", help="Only this association type."),
    database_url: str | None = typer.Option(None, envvar="LEDGER_DATABASE_URL"),
) -> None:
    """List a competency's CASE associations (isChildOf both ways, precedes, exactMatchOf...)."""
    try:
        fid = UUID(framework)
    except ValueError:
        fail(f"framework must be a framework id (UUID), not {framework!r}")
    with ledger_app(database_url) as app:
        definition = app.framework(fid).definition
        rows = associations_of(definition, competency, kind)
    for r in rows:
        arrow = "->" if r["direction"] == "out" else "<-"
        tail = f" {r['uri']}" if r.get("uri") else ""
        out.print(f"{r['type']} {arrow} {r['other']}{tail}", markup=False, highlight=False)
    if not rows:
        out.print("no associations")


@imports.command("oneroster")
def import_oneroster(
    source: Path = typer.Argument(..., help="A OneRoster CSV folder or zip file."),
    local_id: str = typer.Option(
        "identifier", help="Column giving the student's local id: identifier or sourcedId."
    ),
    default_cohort: int | None = typer.Option(
        None, help="Graduation year for students whose grade does not give one."
    ),
    school_year: int | None = typer.Option(
        None, help="Ending year of the school year (2026 for 2025-26), if the sessions lack it."
    ),
    dry_run: bool = typer.Option(False, help="Check the files and show the plan; write nothing."),
    database_url: str | None = typer.Option(None, envvar="LEDGER_DATABASE_URL"),
) -> None:
    """Import (or re-import) a roster: students, teachers as advisors, guardians. A re-import
    records only what changed."""
    if not source.exists():
        fail(f"{source} does not exist")
    options = RosterOptions(
        local_id=local_id, default_cohort=default_cohort, school_year=school_year
    )
    try:
        with _progress() as progress:
            task = progress.add_task(f"reading {source.name}", total=None)
            plan = parse_oneroster(source if source.is_dir() else _read(source), options)
            result = None
            if not dry_run:
                progress.update(task, description="recording", total=1, completed=0)

                def step(done: int, total: int) -> None:
                    progress.update(task, total=max(total, 1), completed=done)

                with ledger_app(database_url) as app:
                    result = app.import_roster(
                        system_actor(),
                        plan,
                        reason=f"OneRoster re-import from {source.name}",
                        progress=step,
                    )
    except LedgerError as e:
        fail(f"{source.name}: {e.detail}")
    c = plan.counts
    out.print(
        f"OneRoster {c['version']}: {c['students']} students, {c['advisors']} advisors, "
        f"{c['guardians']} guardians; {c['advisor_links']} advisor and "
        f"{c['guardian_links']} guardian links in the files"
    )
    skipped = c["users_skipped"]
    if any(skipped.values()) or c["enrolments_skipped"]:
        out.print(
            f"skipped: users to be deleted {skipped['tobedeleted']}, users with no ledger role "
            f"{skipped['other roles']}, enrolments {c['enrolments_skipped']}"
        )
    _print_notes(plan.normalisations.lines())
    if result is None:
        out.print("dry run: nothing written")
        return
    v = result.value
    s, u = v["students"], v["users"]
    out.print(
        f"students created {s['created']}, updated {s['updated']}, unchanged {s['unchanged']}; "
        f"users created {u['created']}, unchanged {u['unchanged']}; links added: advisors "
        f"{v['advisor_links']}, guardians {v['guardian_links']}; {result.event_count} event(s) "
        f"in {v['chunks']} transaction(s)"
    )
