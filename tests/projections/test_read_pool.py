"""Reads run on pooled connections of their own, beside the projectors' write connection.

They used to share that one locked connection, so one slow read (an as-of fold) held up every
read of the process and the projector's next commit. Here: a read that is held open does not stop
another read or a catch-up; the pool opens no more than its size; a connection a failed read
leaves mid-transaction, or one the database dropped, is not handed out again.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg
import pytest

from ledger.application import LedgerApplication
from projections import ReadModels
from projections import db as db_module
from projections.db import Database
from tests.builders import School


def _enroll(school: School, n: int, prefix: str = "R") -> list[str]:
    return [str(school.enroll(f"{prefix}{i}")[0]) for i in range(n)]


def _held_open(db: Database) -> tuple[threading.Event, threading.Event, threading.Thread]:
    """A thread inside a snapshot read, holding it until released."""
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.reading(snapshot=True) as reader:
            reader.one("SELECT count(*) FROM view_students")
            inside.set()
            release.wait(timeout=30)

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    assert inside.wait(timeout=10)
    return inside, release, t


def test_a_read_held_open_stops_neither_other_reads_nor_a_catch_up(app, rm) -> None:
    school = School.build(app)
    first = _enroll(school, 2)
    rm.catch_up()
    _, release, holder = _held_open(rm.db)
    try:
        done: list[object] = []

        def read_and_project() -> None:
            done.append(rm.student(first[0]))
            _enroll(school, 1, prefix="S")
            done.append(rm.catch_up())
            done.append(len(rm.list_students(limit=10).items))

        t = threading.Thread(target=read_and_project, daemon=True)
        t.start()
        t.join(timeout=30)
        assert not t.is_alive(), "a read or catch-up waited for a read held open elsewhere"
        assert done[0] is not None and done[0]["id"] == first[0]
        assert done[2] == 3  # the new student, read on another pooled connection
    finally:
        release.set()
        holder.join(timeout=10)


def test_the_pool_opens_at_most_its_size(app) -> None:
    models = ReadModels(app)
    models.close()  # the tables exist; only its Database is wanted below
    db = Database(app.store, readers=2)
    try:
        start = threading.Barrier(6)
        seen: set[int] = set()
        lock = threading.Lock()

        def read() -> None:
            start.wait(timeout=10)
            for _ in range(20):
                with db.reading() as reader:
                    reader.one("SELECT count(*) FROM view_students")
                    with lock:
                        seen.add(id(reader.conn))

        threads = [threading.Thread(target=read, daemon=True) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in threads)
        assert 1 <= len(seen) <= 2
        assert len(db._idle) == len(seen)
    finally:
        db.close()


def test_a_failed_read_leaves_no_connection_mid_transaction(app, rm) -> None:
    _enroll(School.build(app), 1)
    rm.catch_up()
    with (
        pytest.raises(Exception, match="view_no_such_table|no such table"),  # noqa: PT011
        rm.db.reading(snapshot=True) as reader,
    ):
        reader.one("SELECT count(*) FROM view_students")
        reader.one("SELECT * FROM view_no_such_table")
    # Whatever connection comes next is outside any transaction and answers.
    with rm.db.reading(snapshot=True) as reader:
        assert reader.one("SELECT count(*) FROM view_students") == (1,)
    assert rm.transcript(rm.list_students(limit=1).items[0]["id"]) is not None


def test_a_reader_the_database_dropped_is_replaced(postgres_url: str, monkeypatch) -> None:
    """PostgreSQL only: a server ends connections (a restart, an idle timeout, an operator);
    SQLite's connections are a file's, and nothing ends them from outside."""
    monkeypatch.setattr(db_module, "IDLE_BEFORE_PING", 0.0)  # as after a second of quiet
    app = LedgerApplication(database_url=postgres_url)
    rm = ReadModels(app)
    try:
        sid = _enroll(School.build(app), 1)[0]
        rm.catch_up()
        with rm.db.reading() as reader:
            (pid,) = reader.one("SELECT pg_backend_pid()")
        with psycopg.connect(app.store.postgres_conninfo, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            # Terminating is asynchronous: wait until the backend is gone.
            for _ in range(100):
                gone = admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
                if gone.fetchone() is None:
                    break
                threading.Event().wait(0.05)
        # The idle reader is dead; taking it pings it, and a new one answers instead.
        assert rm.student(sid)["id"] == sid
        assert rm.transcript(sid, as_of=datetime.now(UTC)) is not None
    finally:
        rm.close()
        app.close()
