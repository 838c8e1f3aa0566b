"""Eight threads issuing commands on one student: nothing lost, nothing duplicated."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from ledger.application import LedgerApplication
from ledger.errors import ConcurrencyConflict
from tests.builders import School

THREADS = 8
COMMANDS = 12


def new_events(app: LedgerApplication, after: int) -> list:
    return list(app.recorder.select_notifications(start=after + 1, limit=100_000))


def test_eight_threads_on_one_student(app, clock):
    school = School.build(app)
    sid, student = school.enroll("S1")
    xid = school.experience(sid)
    start = app.position()
    barrier = threading.Barrier(THREADS)
    results: list = []
    conflicts: list = []
    lock = threading.Lock()

    def work(n: int) -> None:
        barrier.wait()
        for i in range(COMMANDS):
            try:
                if i % 3 == 0:
                    # Every thread logs hours on the same experience: one stream, real conflicts.
                    day = date(2025, 9, 1) + timedelta(days=n * COMMANDS + i)
                    r = app.log_hours(
                        student, xid, worked_on=day, hours=Decimal("1.5"), activity=f"t{n}-{i}"
                    )
                elif i % 3 == 1:
                    r = app.submit_reflection(student, sid, text=f"t{n}-{i}", experience_id=xid)
                else:
                    r = app.attach_artifact(
                        student, sid, kind="link", uri=f"https://example.org/{n}/{i}"
                    )
            except ConcurrencyConflict as e:
                with lock:
                    conflicts.append(e)
                continue
            with lock:
                results.append(r)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    stored = new_events(app, start)
    acknowledged = sum(r.event_count for r in results)
    assert len(results) + len(conflicts) == THREADS * COMMANDS
    assert len(stored) == acknowledged, "every acknowledged event stored, nothing else"
    keys = Counter((n.originator_id, n.originator_version) for n in stored)
    assert max(keys.values()) == 1
    assert len({r.id for r in results}) == len(results), "no command applied twice"
    ids = [n.id for n in stored]
    assert ids == sorted(ids)

    hours = [r for r in results if r.value["kind"] == "hours"]
    # A fresh application (no cache) replays the experience from the store alone.
    fresh = LedgerApplication(database_url=app.store.url)
    try:
        x = fresh.experience(xid)
        assert set(x.entries) == {r.id for r in hours}
        assert x.day_hours and all(v == Decimal("1.5") for v in x.day_hours.values())
        assert x.version == 2 + len(hours)
        assert fresh.experience(xid).entries == app.experience(xid).entries
        assert all(fresh.student(sid).id == UUID(r.value["student_id"]) for r in results)
    finally:
        fresh.close()
