"""A catch-up reads the log on its own transaction's connection, not from the write side's pool.

On SQLite the catch-up holds the file's write lock. A command of the same process waiting for
that lock holds the pool's writer lock, and a second command queued behind it holds the pool's
queue; a catch-up that then asked the pool for a reader waited for the queue until the pool gave
up (5 s, ConnectionUnavailableError: a 503 for the request, seen with eight concurrent writers).
Here the queue is taken, as that second command takes it, once the catch-up's transaction has
begun folding."""

from __future__ import annotations

from ledger.application import system_actor


def test_catch_up_reads_no_pooled_connection_inside_its_transaction(app, rm) -> None:
    for i in range(3):
        app.enroll_student(
            system_actor(),
            local_id=f"P{i}",
            given_name="G",
            family_name="F",
            grade_level="11",
            cohort=2027,
            school_code="1234",
        )
    head = app.recorder.max_notification_id()
    queue = getattr(getattr(app.recorder.datastore, "pool", None), "_get_semaphore", None)
    held: list[bool] = []

    def take_the_queue(_row: object) -> None:
        if queue is not None and not held:
            held.append(queue.acquire(timeout=5))

    rm.fault_hook = take_the_queue
    try:
        assert rm.catch_up() == head
    finally:
        if queue is not None and held and held[0]:
            queue.release()
    assert held or queue is None  # PostgreSQL's pool has no such queue
    assert len(rm.list_students(cursor=None, limit=10).items) == 3
