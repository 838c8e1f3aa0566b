"""A rebuild run while the API reads (PostgreSQL): neither the rebuild nor a read fails.

A rebuild drops the view tables one after another in one transaction, each drop waiting for the
reads on that table; a snapshot read (an as-of fold: the student's state, then the events) takes
its tables one after another too. A read holding view_student_state and waiting for
view_student_events, which the rebuild dropped while it waited for view_student_state, was a
deadlock: PostgreSQL ended one side after a second (a live rebuild beside eight threads of as-of
reads: 4 of 15 rebuilds and 30 reads failed with DeadlockDetected).
"""

from __future__ import annotations

import threading

import psycopg

from ledger.application import LedgerApplication
from projections import ReadModels
from tests.builders import School


def _waiting_on_a_lock(conninfo: str, pid: int) -> bool:
    with psycopg.connect(conninfo, autocommit=True) as admin:
        row = admin.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
    return row is not None and row[0] == "Lock"


def test_a_rebuild_waiting_for_a_read_does_not_deadlock_it(postgres_url: str) -> None:
    app = LedgerApplication(database_url=postgres_url)
    rm, rebuilder = ReadModels(app), ReadModels(app)
    try:
        sid = str(School.build(app).enroll("RB1")[0])
        rm.catch_up()
        outcome: dict[str, object] = {}
        rebuild_pid = rebuilder.db.conn.info.backend_pid

        def rebuild() -> None:
            try:
                outcome["rebuild"] = rebuilder.rebuild()
            except Exception as e:  # noqa: BLE001 - the test reports it
                outcome["rebuild"] = e

        with rm.db.reading(snapshot=True) as reader:
            # The read's first table, as a fold's first statement takes it.
            reader.one("SELECT 1 FROM view_student_state WHERE student_id = ?", (sid,))
            t = threading.Thread(target=rebuild, daemon=True)
            t.start()
            # Until the rebuild waits on a lock this read holds (or has finished).
            for _ in range(400):
                if not t.is_alive() or _waiting_on_a_lock(app.store.postgres_conninfo, rebuild_pid):
                    break
                threading.Event().wait(0.025)
            try:
                outcome["read"] = reader.all(
                    "SELECT position FROM view_student_events WHERE student_id = ?", (sid,)
                )
            except Exception as e:  # noqa: BLE001 - the test reports it
                outcome["read"] = e
        t.join(timeout=60)
        assert not t.is_alive()
        assert not isinstance(outcome["read"], Exception), outcome["read"]
        assert not isinstance(outcome["rebuild"], Exception), outcome["rebuild"]
        assert rm.transcript(sid) is not None
    finally:
        rm.close()
        rebuilder.close()
        app.close()
