"""The group-commit recorder on a real PostgreSQL: what it stores, in which order, and how a batch
fails. Batches are made deterministic by holding the events table's lock from another connection
while commands queue up behind the leader; ``xmin`` tells which rows one transaction wrote."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import DataError, IntegrityError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder

from ledger.application import LedgerApplication
from ledger.errors import InvalidCommand
from ledger.persistence import GroupCommitRecorder
from tests.builders import School
from tests.conftest import POSTGRES_URL


@pytest.fixture
def pg_app(postgres_url: str) -> Iterator[LedgerApplication]:
    app = LedgerApplication(database_url=postgres_url)
    try:
        yield app
    finally:
        app.close()


def recorder_of(app: LedgerApplication) -> GroupCommitRecorder:
    assert isinstance(app.recorder, GroupCommitRecorder)
    return app.recorder


def table(rec: GroupCommitRecorder) -> str:
    return f'"{rec.datastore.schema}"."{rec.events_table_name}"'


def event(stream: uuid.UUID, version: int) -> StoredEvent:
    return StoredEvent(stream, version, "test/Event", b"x" * 300)


def rows(rec: GroupCommitRecorder) -> list[tuple[uuid.UUID, int, int, int]]:
    """(stream, version, notification id, writing transaction) of every stored row, in id order."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        return conn.execute(
            f"SELECT originator_id, originator_version, notification_id, xmin::text::bigint "  # noqa: S608
            f"FROM {table(rec)} ORDER BY notification_id"
        ).fetchall()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class Outcomes:
    """Runs insert_events calls on threads and keeps what each returned or raised."""

    def __init__(self, rec: GroupCommitRecorder) -> None:
        self.rec = rec
        self.results: dict[str, Any] = {}
        self.threads: list[threading.Thread] = []

    def submit(self, name: str, events: list[StoredEvent]) -> None:
        def run() -> None:
            try:
                self.results[name] = self.rec.insert_events(events)
            except Exception as e:  # the outcome under test
                self.results[name] = e

        t = threading.Thread(target=run)
        t.start()
        self.threads.append(t)

    def join(self) -> dict[str, Any]:
        for t in self.threads:
            t.join(timeout=30)
            assert not t.is_alive()
        return self.results


class HeldLock:
    """Another session holding the events table's lock, so that commands queue up."""

    def __init__(self, rec: GroupCommitRecorder) -> None:
        self.conn = psycopg.connect(POSTGRES_URL)
        self.conn.execute(f"LOCK TABLE {table(rec)} IN EXCLUSIVE MODE")

    def someone_waits(self) -> bool:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as c:
            return c.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] > 0

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


def queue_one_batch(
    rec: GroupCommitRecorder, commands: dict[str, list[StoredEvent]]
) -> dict[str, Any]:
    """Commits a warm-up command alone, with ``commands`` queued behind it as the next batch."""
    lock = HeldLock(rec)
    out = Outcomes(rec)
    try:
        out.submit("leader", [event(uuid.uuid4(), 1)])
        wait_for(lambda: rec.queued == 0 and lock.someone_waits(), "the leader to wait on the lock")
        for name, events in commands.items():
            out.submit(name, events)
        wait_for(lambda: rec.queued == len(commands), "the commands to queue")
    finally:
        lock.release()
    return out.join()


def test_postgres_gets_the_group_commit_recorder_and_sqlite_the_library_one(
    pg_app: LedgerApplication, sqlite_url: str
) -> None:
    recorder_of(pg_app)
    lite = LedgerApplication(database_url=sqlite_url)
    try:
        assert type(lite.recorder) is SQLiteApplicationRecorder
    finally:
        lite.close()


def test_concurrent_commands_are_stored_once_and_visible_in_id_order(
    pg_app: LedgerApplication,
) -> None:
    rec = recorder_of(pg_app)
    writers, per_writer = 12, 25
    acknowledged: dict[tuple[uuid.UUID, int], int] = {}
    seen: list[int] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def write(w: int) -> None:
        stream = uuid.uuid4()
        try:
            version = 0
            for i in range(per_writer):
                events = [event(stream, version + k + 1) for k in range(1 + (w + i) % 3)]
                ids = rec.insert_events(events)
                assert list(ids) == sorted(ids)
                for e, n in zip(events, ids, strict=True):
                    acknowledged[(stream, e.originator_version)] = n
                version += len(events)
        except BaseException as e:
            errors.append(e)

    def tail() -> None:
        # A projection's way of reading: always from just after the last id it has seen.
        last = 0
        while True:
            finished = done.is_set()
            batch = rec.select_notifications(last + 1, 500)
            seen.extend(n.id for n in batch)
            last = batch[-1].id if batch else last
            if finished and not batch:
                return

    reader = threading.Thread(target=tail)
    reader.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert not errors

    stored = rows(rec)
    assert len(stored) == len(acknowledged)
    assert {(s, v): n for s, v, n, _x in stored} == acknowledged
    # Transactions never interleave their ids: each one's rows are one run in id order...
    runs = [x for i, (_s, _v, _n, x) in enumerate(stored) if i == 0 or stored[i - 1][3] != x]
    assert len(runs) == len(set(runs))
    # ...so a reader tailing the log saw every id, none of them late.
    assert seen == [n for _s, _v, n, _x in stored]


def test_a_conflicting_command_fails_alone_and_its_batch_mates_commit(
    pg_app: LedgerApplication,
) -> None:
    rec = recorder_of(pg_app)
    taken = uuid.uuid4()
    rec.insert_events([event(taken, 1)])
    shared = uuid.uuid4()
    fine = {f"fine{i}": [event(uuid.uuid4(), 1), event(uuid.uuid4(), 1)] for i in range(4)}
    results = queue_one_batch(
        rec,
        {
            **fine,
            # Its second row is already stored: a version conflict with the past.
            "stale": [event(taken, 2), event(taken, 1)],
            # Two commands on one stream at the same version: the first queued wins.
            "first": [event(shared, 1)],
            "second": [event(shared, 1)],
        },
    )
    assert isinstance(results["stale"], IntegrityError)
    assert isinstance(results["second"], IntegrityError)
    committed = ["first", *fine]
    assert all(isinstance(results[name], list) for name in committed), results

    stored = rows(rec)
    by_id = {n: (s, v, x) for s, v, n, x in stored}
    batch_xids = {by_id[n][2] for name in committed for n in results[name]}
    assert len(batch_xids) == 1  # one transaction, one commit for all of them
    assert {(s, v) for s, v, _n, _x in stored if s == taken} == {(taken, 1)}  # no stray version 2
    assert [v for s, v, _n, _x in stored if s == shared] == [1]


def test_a_failed_transaction_fails_every_command_of_its_batch_and_commits_none(
    pg_app: LedgerApplication,
) -> None:
    rec = recorder_of(pg_app)
    before = {s for s, *_ in rows(rec)}
    streams = [uuid.uuid4() for _ in range(5)]
    commands = {f"c{i}": [event(s, 1)] for i, s in enumerate(streams)}
    # The database refuses this version (bigint overflows): the whole transaction fails.
    commands["poison"] = [event(uuid.uuid4(), 2**63)]
    results = queue_one_batch(rec, commands)
    assert all(isinstance(r, DataError) for name, r in results.items() if name != "leader")
    poison = commands["poison"][0].originator_id
    after = {s for s, *_ in rows(rec)}
    assert len(after - before) == 1  # the leader's, committed alone before the batch
    assert not after & {*streams, poison}
    # The recorder carries on.
    assert len(rec.insert_events([event(streams[0], 1)])) == 1


def test_subscribers_are_still_notified(pg_app: LedgerApplication) -> None:
    rec = recorder_of(pg_app)
    rec.insert_events([event(uuid.uuid4(), 1)])
    start = rec.max_notification_id()
    got: list[int] = []
    with rec.subscribe(gt=start) as subscription:
        reader = threading.Thread(target=lambda: got.append(next(iter(subscription)).id))
        reader.start()
        [nid] = rec.insert_events([event(uuid.uuid4(), 1)])
        reader.join(timeout=10)
    assert got == [nid]


def test_commands_from_many_threads_through_the_application(pg_app: LedgerApplication) -> None:
    school = School.build(pg_app)
    cast = []
    for i in range(6):
        sid, login = school.enroll(f"G{i}")
        cast.append((login, school.experience(sid)))
    positions: list[int] = []
    errors: list[BaseException] = []

    def log(login: Any, xid: uuid.UUID) -> None:
        try:
            for d in range(1, 11):
                r = pg_app.log_hours(
                    login, xid, worked_on=date(2025, 9, d), hours=Decimal(2), activity="filed"
                )
                positions.append(r.position)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=log, args=c) for c in cast]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(positions)) == 60
    for _login, xid in cast:
        assert len(pg_app.experience(xid).entries) == 10


def test_a_command_whose_reads_moved_fails_alone(pg_app: LedgerApplication) -> None:
    rec = recorder_of(pg_app)
    read_then_moved, read_still, written_by_mate = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    rec.insert_events([event(read_then_moved, 1), event(read_then_moved, 2)])
    rec.insert_events([event(read_still, 1)])
    lock = HeldLock(rec)
    out = Outcomes(rec)
    try:
        out.submit("leader", [event(uuid.uuid4(), 1)])
        wait_for(lambda: rec.queued == 0 and lock.someone_waits(), "the leader to wait on the lock")

        def submit(name: str, reads: dict[uuid.UUID, int], writes: list[StoredEvent]) -> None:
            def run() -> None:
                try:
                    out.results[name] = rec.insert_events(writes, read_versions=reads)
                except Exception as e:  # the outcome under test
                    out.results[name] = e

            t = threading.Thread(target=run)
            t.start()
            out.threads.append(t)
            wait_for(lambda: rec.queued == len(out.threads) - 1, f"{name} to queue")

        submit("current", {read_still: 1}, [event(uuid.uuid4(), 1)])
        submit("stale", {read_then_moved: 1}, [event(uuid.uuid4(), 1)])
        submit("mate", {}, [event(written_by_mate, 1)])
        submit("reads-mate", {written_by_mate: 0}, [event(uuid.uuid4(), 1)])
        submit("absent", {uuid.uuid4(): 0}, [event(uuid.uuid4(), 1)])
    finally:
        lock.release()
    results = out.join()
    assert isinstance(results["stale"], IntegrityError)
    assert isinstance(results["reads-mate"], IntegrityError)
    committed = ["current", "mate", "absent"]
    assert all(isinstance(results[n], list) for n in committed), results
    stored = {n: x for _s, _v, n, x in rows(rec)}
    assert len({stored[n] for name in committed for n in results[name]}) == 1
    assert len(stored) == 3 + 1 + len(committed)  # nothing of the failed ones


def test_a_command_deciding_on_a_stale_cache_is_checked_and_decided_again(
    postgres_url: str,
) -> None:
    """Two processes on one store: the first decides from its cache without asking the database,
    so the recorder's check of what it read is what stops it acting on a withdrawn student."""
    here = LedgerApplication(database_url=postgres_url)
    there = LedgerApplication(database_url=postgres_url)
    try:
        school = School.build(here)
        sid, _login = school.enroll("W1")
        school.experience(sid)  # `here` has the student cached, current
        there.withdraw_student(school.admin, sid, "moved away")
        with pytest.raises(InvalidCommand, match="withdrawn"):
            school.experience(sid)
        assert here.student(sid).status == "withdrawn"
    finally:
        here.close()
        there.close()


def test_values_reach_the_table_byte_for_byte(pg_app: LedgerApplication) -> None:
    """The batch is one query with its values inlined: quotes, backslashes and every byte value
    must arrive as they were, never as SQL."""
    rec = recorder_of(pg_app)
    stream = uuid.uuid4()
    topic = "it's a \\ topic'); DROP TABLE x; --"
    state = bytes(range(256)) * 3
    [nid] = rec.insert_events([StoredEvent(stream, 1, topic, state)])
    [stored] = rec.select_events(stream)
    assert (stored.topic, stored.state) == (topic, state)
    assert rec.select_notifications(nid, 1)[0].originator_id == stream


def test_the_cache_after_a_commit_is_what_a_replay_gives(postgres_url: str) -> None:
    """After each commit the cache is brought forward without a round trip; it must hold exactly
    what loading the stored events gives, lists and tuples alike."""
    here = LedgerApplication(database_url=postgres_url)
    there = LedgerApplication(database_url=postgres_url)
    try:
        school = School.build(here)
        sid, login = school.enroll("C1")
        xid = school.experience(sid)
        school.verified_hours(login, xid, date(2025, 9, 2))
        for ident in (school.framework_id, sid, xid):
            cached = vars(here.repository.cache.get(ident))
            replayed = vars(there.repository.get(ident))
            assert cached == replayed
            assert {k: type(v) for k, v in cached.items()} == {
                k: type(v) for k, v in replayed.items()
            }
    finally:
        here.close()
        there.close()


def test_a_batch_goes_through_when_its_prepared_statement_went(pg_app: LedgerApplication) -> None:
    """The batch statement is prepared once per connection; psycopg deallocates every statement
    of a connection after a rollback there, and a session can be told DEALLOCATE ALL. The next
    batch on such a connection prepares it again and commits, writing each row once."""
    rec = recorder_of(pg_app)
    pool = rec.datastore.pool

    def deallocate_everywhere() -> int:
        conns = [pool.getconn() for _ in range(pool.get_stats()["pool_size"])]
        try:
            for conn in conns:
                conn.execute("DEALLOCATE ALL")
        finally:
            for conn in conns:
                pool.putconn(conn)
        return len(conns)

    # The pool hands its connections out in turn: enough commands to have used each of them.
    stream, turns = uuid.uuid4(), pool.get_stats()["pool_size"] + 1
    for version in range(1, turns + 1):
        rec.insert_events([event(stream, version)])
    deallocate_everywhere()
    # A version conflict: the fast path rolls back (psycopg may deallocate), the slow path refuses.
    with pytest.raises(IntegrityError):
        rec.insert_events([event(stream, 1)])
    for version in range(turns + 1, 2 * turns + 1):
        [nid] = rec.insert_events([event(stream, version)])
        assert rec.select_notifications(nid, 1)[0].originator_version == version
    assert [v for s, v, *_ in rows(rec) if s == stream] == list(range(1, 2 * turns + 1))
