"""The generated district that benchmarks 3-5 share: built once per run (by bench 3, or by
whichever of them runs first) into a schema of its own, dropped when the run ends.

Built by `cli.demo_school.build_demo_school` in bulk mode (`LedgerApplication.bulk()`, chunks of
2,000 events) with a `SchoolClock`, so recorded time follows the school year and as-of reads
mean something. A student costs about 550 events at 4 experiences x 60 hours entries: the
issue's 2,000 students make about 1.1M.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg.sql import Identifier

from bench.common import POSTGRES_URL, console, pg_schema, with_schema
from cli.demo_school import DemoSize, DemoSummary, SchoolClock, build_demo_school
from ledger.application import LedgerApplication

FULL_STUDENTS = 2_000  # the district
QUICK_STUDENTS = 3
EXPERIENCES, HOURS = 4, 60
QUICK_EXPERIENCES, QUICK_HOURS = 1, 4
CHUNK_EVENTS = 2_000
SEED = 2025


@dataclass
class District:
    schema: str
    url: str
    app: LedgerApplication
    summary: DemoSummary
    size: DemoSize
    build_seconds: float
    events: int

    @property
    def student_ids(self) -> list[UUID]:
        return self.summary.student_ids

    def describe(self) -> dict[str, Any]:
        return {
            "students": self.size.students,
            "experiences_per_student": self.size.experiences_per_student,
            "hours_per_experience": self.size.hours_per_experience,
            "events": self.events,
            "seed": SEED,
            "chunk_events": CHUNK_EVENTS,
        }

    def events_table(self) -> Identifier:
        return Identifier(self.schema, self.app.recorder.events_table_name)

    def snapshots_table(self) -> Identifier:
        return Identifier(self.schema, self.app.snapshots.recorder.events_table_name)


_students: int | None = None
_stack: ExitStack | None = None
_built: dict[tuple[int, bool], District] = {}


def configure(students: int | None) -> None:
    """``--students N`` from the command line (None: the full district, or quick's)."""
    global _students
    _students = students


@contextmanager
def session() -> Iterator[None]:
    """The span in which districts live; everything built inside is dropped at its end."""
    global _stack
    with ExitStack() as stack:
        _stack = stack
        try:
            yield
        finally:
            _built.clear()
            _stack = None


def result_name(name: str, quick: bool) -> str:
    """NAME, NAME-quick, or NAME-Nstudents for a district of another size than the default."""
    if _students is not None and _students != (QUICK_STUDENTS if quick else FULL_STUDENTS):
        name += f"-{_students}students"
    return name + ("-quick" if quick else "")


def size(quick: bool, students: int | None = None) -> DemoSize:
    if quick:
        return DemoSize(students or _students or QUICK_STUDENTS, QUICK_EXPERIENCES, QUICK_HOURS)
    return DemoSize(students or _students or FULL_STUDENTS, EXPERIENCES, HOURS)


def district(quick: bool, students: int | None = None) -> District:
    """The run's district (or one of ``students`` students, same shape), built now if no
    benchmark of this run built it yet."""
    s = size(quick, students)
    key = (s.students, quick)
    if key in _built:
        return _built[key]
    stack = _stack if _stack is not None else ExitStack()  # outside a session: lives on
    schema = stack.enter_context(pg_schema("bench_district"))
    url = with_schema(POSTGRES_URL, schema)
    app = LedgerApplication(database_url=url)
    stack.callback(app.close)
    console.print(
        f"building the district: {s.students:,} students x {s.experiences_per_student} "
        f"experiences x {s.hours_per_experience} hours entries (bulk, chunks of {CHUNK_EVENTS:,})"
    )
    before = app.position()
    began = time.perf_counter()
    summary = build_demo_school(
        app, size=s, seed=SEED, clock=SchoolClock(), chunk_events=CHUNK_EVENTS
    )
    seconds = time.perf_counter() - began
    events = app.position() - before
    console.print(f"[dim]built {events:,} events in {seconds:,.1f} s[/dim]")
    _built[key] = District(schema, url, app, summary, s, seconds, events)
    return _built[key]
