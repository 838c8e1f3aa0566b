"""`LedgerApplication.bulk()`, the import path: chunks written in order and all or nothing, and
commands inside it keeping every rule of the commands outside it (on both stores)."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from cli.demo_school import DemoSize, SchoolClock, build_demo_school
from ledger.application import LedgerApplication
from ledger.domain import CommandContext
from ledger.errors import ConcurrencyConflict, InvalidCommand, InvalidHours, NotPermitted
from ledger.persistence import bulk_copy
from tests.builders import School
from tests.conftest import FakeClock


def _events_after(app: LedgerApplication, position: int) -> list:
    out = []
    start = position + 1
    while page := app.recorder.select_notifications(start=start, limit=500):
        out += page
        start = page[-1].id + 1
    return out


def _kind(notification) -> str:
    return notification.topic.rsplit("/", 1)[-1]


def _started(app: LedgerApplication) -> tuple[School, UUID, object, UUID]:
    school = School.build(app)
    sid, student = school.enroll("B1")
    return school, sid, student, school.experience(sid)


def _log(app, student, xid, day: int, hours: str = "2") -> UUID:
    return UUID(
        app.log_hours(
            student, xid, worked_on=date(2025, 9, day), hours=Decimal(hours), activity="worked"
        ).id
    )


def test_chunks_keep_the_order_in_which_commands_were_decided(app: LedgerApplication) -> None:
    school, _sid, student, xid = _started(app)
    before = app.position()
    with app.bulk(chunk_events=7):  # 40 events: six chunks, the last one short
        entries = [_log(app, student, xid, d) for d in range(1, 21)]
        for e in entries:
            app.verify_hours(school.mentor, xid, e)
    stored = _events_after(app, before)
    assert [(_kind(n), app.mapper.to_domain_event(n).entry_id) for n in stored] == [
        ("Experience.HoursLogged", e) for e in entries
    ] + [("Experience.HoursVerified", e) for e in entries]
    ids = [n.id for n in stored]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    first = stored[0].originator_version
    assert [n.originator_version for n in stored] == list(range(first, first + 40))
    assert app.experience(xid).verified_hours == Decimal(40)


def test_a_chunk_that_meets_another_writer_fails_and_writes_nothing_of_itself(
    app: LedgerApplication, store_url: str, clock: FakeClock
) -> None:
    school, _sid, student, xid = _started(app)
    other = LedgerApplication(database_url=store_url, clock=clock)
    try:
        with pytest.raises(ConcurrencyConflict), app.bulk(chunk_events=1000):
            mine = _log(app, student, xid, 1)
            theirs = UUID(
                other.log_hours(
                    student, xid, worked_on=date(2025, 9, 2), hours=Decimal(3), activity="other"
                ).id
            )
            moved = other.position()
            school.enroll("B2")  # a chunk of several streams: none of it may be written
            _log(app, student, xid, 3)
    finally:
        other.close()
    assert app.position() == moved
    x = app.experience(xid)
    assert set(x.entries) == {str(theirs)} and str(mine) not in x.entries
    assert [_kind(n) for n in _events_after(app, moved)] == []


def test_after_a_failed_chunk_nothing_more_of_the_block_is_written(
    app: LedgerApplication, store_url: str, clock: FakeClock
) -> None:
    """The block's memory is ahead of the store once a chunk failed: a caller that catches the
    conflict and goes on must not get later chunks written on top of the missing one."""
    _school, _sid, student, xid = _started(app)
    other = LedgerApplication(database_url=store_url, clock=clock)
    try:
        with app.bulk(chunk_events=1):
            with pytest.raises(InvalidHours):  # refused, but the block has read the record
                _log(app, student, xid, 1, "25")
            other.log_hours(
                student, xid, worked_on=date(2025, 9, 2), hours=Decimal(3), activity="other"
            )
            moved = other.position()
            with pytest.raises(ConcurrencyConflict):
                # On PostgreSQL the conflict may surface one chunk later: keep going until it.
                for day in range(3, 10):
                    _log(app, student, xid, day)
            with pytest.raises(ConcurrencyConflict):
                _log(app, student, xid, 12)
            with pytest.raises(ConcurrencyConflict):
                school_after = School(app)
                school_after.enroll("B3")
    except ConcurrencyConflict:
        pass  # the end of the block says so again
    finally:
        other.close()
    assert app.position() == moved
    assert len(app.experience(xid).entries) == 1


def test_refused_acts_inside_bulk_write_nothing_and_leave_the_record_as_it_was(
    app: LedgerApplication,
) -> None:
    school, sid, student, xid = _started(app)
    other_sid, other_student = school.enroll("B2")
    before = app.position()

    def moves_then_refuses(error: Exception):
        def decide(ctx: CommandContext):
            x = app.experience(xid)
            x.log_hours(
                ctx, entry_id=uuid4(), worked_on=date(2025, 9, 3), hours=Decimal(5), activity="x"
            )
            raise error

        return decide

    with app.bulk(chunk_events=1000):
        kept = _log(app, student, xid, 1, "20")
        with pytest.raises(InvalidHours):  # 20 + 5 > 24 on one day
            _log(app, student, xid, 1, "5")
        with pytest.raises(NotPermitted):  # another student's experience
            _log(app, other_student, xid, 2)
        # A command that recorded on the experience before it was refused: the block must not
        # keep that event in memory, whether the refusal is the ledger's or an unexpected error.
        for error in (InvalidCommand("refused after recording"), RuntimeError("a bug")):
            with pytest.raises(type(error)):
                app._run(
                    "probe",
                    student,
                    {},
                    moves_then_refuses(error),
                    idempotency_key=None,
                    correlation_id=None,
                )
        after = _log(app, student, xid, 3, "4")
        # Read outside a command, inside the block: a copy, not the block's own object.
        app.experience(xid).entries.clear()
        app.verify_hours(school.mentor, xid, after)
    stored = _events_after(app, before)
    assert [_kind(n) for n in stored] == [
        "Experience.HoursLogged",
        "Experience.HoursLogged",
        "Experience.HoursVerified",
    ]
    x = app.experience(xid)
    assert set(x.entries) == {str(kept), str(after)}
    assert x.day_hours == {"2025-09-01": Decimal(20), "2025-09-03": Decimal(4)}
    assert x.verified_hours == Decimal(4)
    assert other_sid != sid


def test_the_bulk_encoder_stores_the_same_bytes_as_the_library(sqlite_url: str) -> None:
    """Every kind of event the demo school records (nested evidence, ratings, a framework's
    definition, dates, amounts), encoded by bulk_copy.to_stored_events and by the mapper."""
    app = LedgerApplication(database_url=sqlite_url)
    try:
        build_demo_school(app, size=DemoSize(4, 2, 6), clock=SchoolClock())
        events = [app.mapper.to_domain_event(n) for n in _events_after(app, 0)]
        assert len({type(e) for e in events}) > 20
        assert bulk_copy.to_stored_events(app.mapper, events) == [
            app.mapper.to_stored_event(e) for e in events
        ]
    finally:
        app.close()


def test_a_block_touching_more_records_than_it_keeps_in_memory_decides_on_current_state(
    app: LedgerApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records dropped from the block's memory are loaded again from the store, and a record
    whose events are still being written is never dropped (it would be loaded without them)."""
    copy_events = bulk_copy.copy_events

    def slow_copy(*args):  # a writer that lags (PostgreSQL): the next chunk is decided first
        time.sleep(0.02)
        copy_events(*args)

    monkeypatch.setattr(bulk_copy, "copy_events", slow_copy)
    school = School.build(app)
    students = [school.enroll(f"M{i}") for i in range(4)]
    experiences = [(actor, school.experience(sid)) for sid, actor in students]
    app.BULK_KNOWN_MAX = 0  # type: ignore[misc]  # keep only what is being written
    with app.bulk(chunk_events=1):
        for day in range(1, 8):
            for actor, xid in experiences:
                entry = _log(app, actor, xid, day)
                app.verify_hours(school.mentor, xid, entry)
    for _actor, xid in experiences:
        x = app.experience(xid)
        assert len(x.entries) == 7 and x.verified_hours == Decimal(14)
