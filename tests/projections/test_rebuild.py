"""Incremental projection equals a rebuild from zero; interruptions and races apply no event
twice; catching up is cheap and reads ids with gaps."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings

from cli.demo_school import DemoSize, build_demo_school
from ledger.application import LedgerApplication
from projections import ReadModels, codec, projectors
from projections.rows import StoredRows, event_row
from tests.builders import School
from tests.projections.history import SEED, RandomSchool, histories

QUICK = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _as_of_equals_current(rm: ReadModels, app: LedgerApplication, students) -> None:
    now = app.clock.now
    for sid, _ in students:
        assert rm.mastery(sid, as_of=now) == rm.mastery(sid)
        assert rm.hours(sid, as_of=now) == rm.hours(sid)
        past, current = rm.transcript(sid, as_of=now), rm.transcript(sid)
        assert {**past, "as_of": None} == current


def _incremental_equals_rebuild(app: LedgerApplication, history) -> None:
    rm = ReadModels(app, batch_size=7)
    try:
        school = RandomSchool(School.build(app), rm)
        for op in SEED + history:
            school.run(*op)
        rm.catch_up()
        assert rm.lag() == 0
        incremental = rm.dump()
        _as_of_equals_current(rm, app, school.students)
        summary = rm.rebuild()
        assert summary["position"] == app.recorder.max_notification_id()
        assert rm.dump() == incremental
        # A rebuild committing every few events, student states carried across its
        # transactions, ends the same.
        rm.rebuild_events = 11
        rm.rebuild()
        assert rm.dump() == incremental
    finally:
        rm.close()


@QUICK
@given(history=histories)
def test_incremental_equals_rebuild(app, history):
    _incremental_equals_rebuild(app, history)


@contextlib.contextmanager
def _fresh_app(store_url: str, clock) -> Iterator[LedgerApplication]:
    """A store of its own for one example, so a long run costs each example the same."""
    if store_url.startswith("sqlite"):
        url = store_url.replace("ledger.sqlite", f"fuzz-{uuid.uuid4().hex}.sqlite")
        schema = None
    else:
        schema = "f_" + uuid.uuid4().hex[:16]
        url = store_url.split("?")[0] + f"?schema={schema}"
        with psycopg.connect(store_url.split("?")[0], autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    app = LedgerApplication(database_url=url, clock=clock)
    try:
        yield app
    finally:
        app.close()
        if schema is not None:
            with psycopg.connect(store_url.split("?")[0], autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.fuzz
@settings(QUICK, max_examples=200)
@given(history=histories)
def test_incremental_equals_rebuild_long(store_url, clock, history):
    with _fresh_app(store_url, clock) as app:
        _incremental_equals_rebuild(app, history)


def _history(app: LedgerApplication, rm: ReadModels) -> RandomSchool:
    school = RandomSchool(School.build(app), rm)
    for op in SEED:
        school.run(*op)
    return school


def test_interrupted_mid_batch_resumes_without_applying_twice(app):
    rm = ReadModels(app, batch_size=20)
    try:
        school = _history(app, rm)
        seen = []

        def fail_on_the_fifth(row):
            seen.append(row["position"])
            if len(seen) == 5:
                raise RuntimeError("power cut in the middle of a batch")

        rm.fault_hook = fail_on_the_fifth
        with pytest.raises(RuntimeError):
            rm.catch_up()
        assert rm.position() == 0  # the batch rolled back whole, tracking included
        assert rm.student(school.students[0][0]) is None
        rm.fault_hook = lambda row: None
        rm.catch_up()
        resumed = rm.dump()
        positions = [r[0] for r in resumed["view_audit"]]
        assert len(positions) == len(set(positions)) == rm.app.recorder.max_notification_id()
        # Hours are additive: an event applied twice would show in the totals.
        for xid, _ in school.experiences:
            x = app.experience(xid)
            logged = sum((e[0] for e in x.entries.values()), Decimal(0))
            assert rm.experience(xid)["hours"]["logged"] == logged
            assert rm.experience(xid)["hours"]["verified"] == x.verified_hours
        rm.rebuild()
        assert rm.dump() == resumed
    finally:
        rm.close()


def test_interrupted_after_some_batches_committed(app):
    rm = ReadModels(app, batch_size=10)
    try:
        _history(app, rm)
        count = 0

        def fail_in_third_batch(row):
            nonlocal count
            count += 1
            if count == 25:
                raise RuntimeError("killed")

        rm.fault_hook = fail_in_third_batch
        with pytest.raises(RuntimeError):
            rm.catch_up()
        reached = rm.position()
        assert 0 < reached < app.recorder.max_notification_id()
        rm.fault_hook = lambda row: None
        rm.catch_up()
        resumed = rm.dump()
        rm.rebuild()
        assert rm.dump() == resumed
    finally:
        rm.close()


def test_two_projectors_racing_give_the_result_of_one(app):
    first, second = ReadModels(app, batch_size=3), ReadModels(app, batch_size=5)
    try:
        school = _history(app, first)
        errors: list[BaseException] = []
        done = threading.Event()

        def project(rm: ReadModels) -> None:
            try:
                while not done.is_set():
                    rm.catch_up()
                rm.catch_up()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=project, args=(rm,)) for rm in (first, second)]
        for t in threads:
            t.start()
        try:
            for op in [("log", 0, 1, 20), ("verify", 0, 0, 0), ("reflect", 1, 0, 0)] * 4:
                school.run(*op)
        finally:
            done.set()
            for t in threads:
                t.join(timeout=60)
        assert not errors
        assert first.position() == second.position() == app.recorder.max_notification_id()
        raced = first.dump()
        assert second.dump() == raced
        first.rebuild()
        assert first.dump() == raced
    finally:
        first.close()
        second.close()


def test_catch_up_with_nothing_to_do_is_a_no_op(app, rm):
    School.build(app)
    position = rm.catch_up()
    assert position == app.recorder.max_notification_id()
    before = rm.dump()
    assert rm.catch_up() == position
    assert rm.lag() == 0
    assert rm.wait_for(position, timeout=0.1)
    assert not rm.wait_for(position + 1, timeout=0.1)
    assert rm.dump() == before


def test_rebuild_of_one_projection_leaves_the_other(app, rm):
    s = School.build(app)
    s.enroll("ONE")
    rm.catch_up()
    before = rm.dump()
    summary = rm.rebuild("audit")
    assert summary["projections"] == ["audit"]
    assert rm.dump() == before
    with pytest.raises(Exception, match="unknown projection"):
        rm.rebuild("nope")


def test_notification_ids_with_gaps(postgres_url, clock):
    # A rolled-back transaction uses sequence values: make such a gap on purpose.
    app = LedgerApplication(database_url=postgres_url, clock=clock)
    rm = ReadModels(app, batch_size=4)
    try:
        s = School.build(app)
        rm.catch_up()
        schema = app.store.postgres_schema
        table = app.recorder.events_table_name
        with psycopg.connect(app.store.postgres_conninfo, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            conn.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), "
                "(SELECT MAX(notification_id) FROM " + table + ") + 50)",
                (table.split(".")[-1].strip('"'),),
            )
        sid, _ = s.enroll("GAP")
        assert rm.catch_up() == app.recorder.max_notification_id()
        assert rm.student(sid)["local_id"] == "GAP"
        assert rm.lag() == 0
    finally:
        rm.close()
        app.close()


def test_rebuild_while_another_projector_follows(app):
    builder, follower = ReadModels(app, batch_size=4), ReadModels(app, batch_size=3)
    try:
        school = RandomSchool(School.build(app), builder)
        for op in SEED:
            school.run(*op)
        stop = threading.Event()
        worker = threading.Thread(target=follower.follow, args=(stop, 0.001))
        worker.start()
        try:
            first = builder.rebuild()
            second = builder.rebuild("records")
        finally:
            stop.set()
            worker.join(timeout=60)
        follower.catch_up()
        assert first["position"] == second["position"] == follower.position()
        settled = builder.dump()
        builder.rebuild()
        assert builder.dump() == settled
    finally:
        builder.close()
        follower.close()


def test_stored_rows_read_as_the_mapper_does(app):
    """The projections read stored events straight from their JSON: the rows are those the
    library's domain events give after a round trip through the view encoding."""
    rm = ReadModels(app, batch_size=50)
    try:
        _history(app, rm)
        build_demo_school(app, size=DemoSize(3, 2, 6), seed=7)
        notes = app.recorder.select_notifications(None, 10_000)
        assert len({n.topic for n in notes}) >= 20
        decoder = StoredRows(app.mapper)
        for n in notes:
            mapped = event_row(n.id, n.topic, app.mapper.to_domain_event(n))
            mapped["data"] = codec.loads(codec.dumps(mapped["data"]))
            assert decoder.row((n.id, n.originator_id, n.originator_version, n.topic, n.state)) == (
                mapped
            )
    finally:
        rm.close()


def test_few_states_in_memory_give_the_same_views(app, monkeypatch):
    """Student states let go after a few positions (or beyond a tiny limit) are written back
    and read again when next touched: the views are those of a projector that kept them all."""
    rm = ReadModels(app, batch_size=6, rebuild_events=25)
    try:
        _history(app, rm)
        rm.catch_up()
        kept = rm.dump()
        monkeypatch.setattr(projectors, "MAX_STATES", 1)
        monkeypatch.setattr(projectors, "IDLE_POSITIONS", 4)
        monkeypatch.setattr(projectors, "MIN_WINDOW", 4)
        monkeypatch.setattr(projectors, "MAX_SUBJECTS", 3)
        rm.rebuild()
        assert rm.dump() == kept
    finally:
        rm.close()


def test_rebuild_that_fails_leaves_every_index(app):
    """A rebuild builds the big tables' indexes after loading them; one that fails half way
    still leaves them, and the next catch-up finishes the views."""
    rm = ReadModels(app, batch_size=10, rebuild_events=20)
    try:
        _history(app, rm)
        rm.catch_up()
        before = rm.dump()

        def fail_late(row):
            if row["position"] > 25:  # in the rebuild's second transaction
                raise RuntimeError("killed")

        rm.fault_hook = fail_late
        with pytest.raises(RuntimeError):
            rm.rebuild()
        rm.fault_hook = lambda row: None
        assert 0 < rm.position() < app.recorder.max_notification_id()
        with rm.db.reading() as db:
            if app.store.kind == "sqlite":
                names = {
                    n for (n,) in db.all("SELECT name FROM sqlite_master WHERE type = 'index'")
                }
            else:
                names = {n for (n,) in db.all("SELECT indexname FROM pg_indexes")}
        assert {
            "view_audit_student",
            "view_audit_actor",
            "view_audit_type",
            "view_audit_time",
            "view_student_events_student",
            "view_student_events_originator",
        } <= names
        rm.catch_up()
        assert rm.dump() == before
    finally:
        rm.close()
