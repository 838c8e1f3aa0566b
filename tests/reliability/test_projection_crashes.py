"""The projection worker SIGKILLed at random points while it catches up on a large log.

After each kill the worker is started again and left to catch up; its views must then equal a
rebuild from zero, and no event may have been applied twice: every event has one audit row, and
each experience's hours in the views equal the hours on the write side (a batch applied twice
would double them, and the rebuild would not)."""

from __future__ import annotations

import random
import sqlite3
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from ledger.application import LedgerApplication
from ledger.domain import EvidenceRef
from ledger.store import parse_database_url
from projections import ReadModels
from tests.reliability.load import events_since, head
from tests.reliability.seed import Pupil, seed_school
from tests.reliability.worker import ProjectionWorker

pytestmark = pytest.mark.reliability

KILLS = 24
MAX_ROUNDS = 120
STUDENTS = 10
BATCH = 10
INITIAL_DAYS = 120  # about 3,100 events
MORE_DAYS = 20


class Grower:
    """Writes a school year through the application service, a slice at a time."""

    def __init__(self, app: LedgerApplication) -> None:
        self.app = app
        self.seeded = seed_school(app, students=STUDENTS)
        self.day = 0

    def grow(self, rounds: int) -> None:
        s = self.seeded.school
        for _ in range(rounds):
            worked_on = date(2025, 9, 1) + timedelta(days=self.day % 280)
            self.day += 1
            for p in self.seeded.pupils:
                s.verified_hours(p.actor, p.experience_id, worked_on, Decimal(3))
                if self.day % 4 == 0:
                    r = s.reflection(p.actor, p.id, p.experience_id)
                    j = s.judge(p.id, [_ref("reflection", r)], level=str(1 + self.day % 4))
                    if self.day % 12 == 0:
                        self.app.retract_judgment(s.advisor, j, reason="re-read the evidence")


def _ref(kind: str, ident) -> EvidenceRef:
    return EvidenceRef(kind, ident)


def _wait(cond, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s")
        time.sleep(0.05)


def test_projection_worker_survives_sigkill(store_url: str, tmp_path: Path, figures) -> None:
    app = LedgerApplication(database_url=store_url)
    grower = Grower(app)
    grower.grow(INITIAL_DAYS)
    rm = ReadModels(app)  # reads positions and dumps views; the worker does the projecting
    worker = ProjectionWorker(store_url, batch_size=BATCH)
    rng = random.Random(20261203)
    delay = 2.0
    kills = mid_catch_up = rounds = 0
    last = rm.position()
    try:
        while mid_catch_up < KILLS and rounds < MAX_ROUNDS:
            rounds += 1
            if rm.position() >= head(app):
                grower.grow(MORE_DAYS)
            before, target = rm.position(), head(app)
            worker.start()
            time.sleep(delay * rng.uniform(0.8, 1.2))
            worker.kill()
            kills += 1
            at_kill = rm.position()
            assert at_kill >= last, "a projection position went backwards"
            last = at_kill
            print(
                f"kill {kills}: {before} -> {at_kill} of {target}, delay {delay:.2f}s", flush=True
            )
            if at_kill >= target:
                delay = max(0.3, delay * 0.85)  # caught up before the kill: kill sooner
                continue
            if at_kill == before:
                delay = min(10.0, delay * 1.25)  # killed before it committed a batch: later
                continue
            mid_catch_up += 1
            # What the kill left must be exactly a rebuild from zero of the same log prefix.
            _check_prefix(app, rm, at_kill)
            assert rm.dump() == rebuilt_prefix(store_url, at_kill, tmp_path), at_kill

        # The last restart: catch up to the head and compare with a rebuild in place.
        worker.start()
        _wait(lambda: rm.position() >= head(app) or worker.died_on_its_own(), 300)
        assert worker.died_on_its_own() is None, worker.died_on_its_own()
        worker.kill()
        _check_applied_once(app, rm, grower.seeded.pupils)
        incremental = rm.dump()
        rm.rebuild()
        assert rm.dump() == incremental, "views after the kills differ from a rebuild from zero"
        events = len(events_since(app, 0))
    finally:
        worker.kill()
        rm.close()
        app.close()
    assert mid_catch_up >= KILLS, (mid_catch_up, kills, rounds)
    figures.record(
        store=store_url.split(":")[0],
        events_in_log=events,
        batch_size=BATCH,
        kills=kills,
        kills_mid_catch_up=mid_catch_up,
        kills_before_first_batch_or_after_catch_up=kills - mid_catch_up,
        worker_starts=worker.starts,
        prefix_rebuild_comparisons=mid_catch_up,
        final_rebuild_comparisons=1,
        views_differing_from_rebuild=0,
        events_applied_twice=0,
    )


def rebuilt_prefix(store_url: str, position: int, tmp_path: Path) -> dict:
    """The views a rebuild from zero gives on a copy of the log cut at ``position``."""
    store = parse_database_url(store_url)
    if store.kind == "sqlite":
        copy = tmp_path / f"prefix-{position}.sqlite"
        with sqlite3.connect(store.sqlite_path) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
            dst.execute("DELETE FROM stored_events WHERE rowid > ?", (position,))
        url, cleanup = f"sqlite:///{copy}", lambda: copy.unlink()
    else:
        ref = f"{store.postgres_schema}_prefix"
        table = f"{LedgerApplication.name.lower()}_events"
        with psycopg.connect(store.postgres_conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{ref}"')
            conn.execute(
                f'CREATE TABLE "{ref}".{table} '
                f'(LIKE "{store.postgres_schema}".{table} INCLUDING ALL)'
            )
            conn.execute(
                f'INSERT INTO "{ref}".{table} SELECT * FROM "{store.postgres_schema}".{table} '
                "WHERE notification_id <= %s",
                (position,),
            )

        def cleanup() -> None:
            with psycopg.connect(store.postgres_conninfo, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{ref}" CASCADE')

        url = store_url.replace(f"schema={store.postgres_schema}", f"schema={ref}")
    try:
        app = LedgerApplication(database_url=url)
        rm = ReadModels(app)
        try:
            assert head(app) <= position
            rm.rebuild()
            return rm.dump()
        finally:
            rm.close()
            app.close()
    finally:
        cleanup()


def _check_prefix(app: LedgerApplication, rm: ReadModels, position: int) -> None:
    """The views a kill left hold exactly the events up to their position: one audit row each."""
    expected = sum(1 for e in events_since(app, 0) if e.id <= position)
    (audited,) = rm.db.one("SELECT count(*) FROM view_audit")
    (beyond,) = rm.db.one("SELECT count(*) FROM view_audit WHERE position > ?", (position,))
    assert audited == expected and beyond == 0, (audited, expected, beyond)


def _check_applied_once(app: LedgerApplication, rm: ReadModels, pupils: list[Pupil]) -> None:
    _check_prefix(app, rm, rm.position())
    for p in pupils:
        x = app.experience(p.experience_id)
        logged = sum((e[0] for e in x.entries.values()), Decimal(0))
        viewed = rm.hours(str(p.id))["totals"]
        assert Decimal(viewed["logged"]) == logged, (viewed, logged)
        assert Decimal(viewed["verified"]) == x.verified_hours, (viewed, x.verified_hours)
