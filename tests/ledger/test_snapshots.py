"""Commands save through our own event collection (LedgerApplication.save): snapshots must still
be taken at the configured interval, and a state loaded from one equals the full fold."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from eventsourcing.application import project_aggregate

from ledger.application import LedgerApplication
from ledger.domain import Experience
from tests.builders import School


def test_a_command_reaching_the_interval_takes_a_snapshot(app, store_url) -> None:
    school = School.build(app)
    sid, student = school.enroll("S1")
    xid = school.experience(sid)
    interval = LedgerApplication.snapshotting_intervals[Experience]
    day = date(2025, 9, 1)
    while app.experience(xid).version < interval:
        app.log_hours(student, xid, worked_on=day, hours=Decimal(1), activity="shop floor")
        day += timedelta(days=1)
    assert app.snapshots is not None
    snaps = list(app.snapshots.get(xid))
    assert [s.originator_version for s in snaps] == [interval]
    folded = app.experience(xid)  # this process's state: every event applied in turn
    other = LedgerApplication(database_url=store_url)
    try:
        from_snapshot = other.experience(xid)
    finally:
        other.close()
    assert vars(from_snapshot) == vars(folded)


def test_a_snapshot_holds_what_folding_the_stored_events_to_its_version_gives(
    app, store_url
) -> None:
    """A snapshot due after a commit is taken from the cache where it holds that version (on
    PostgreSQL it does), else from a replay: either way its state is the fold of the stored
    events up to the snapshot's version, values and types alike."""
    school = School.build(app)
    sid, student = school.enroll("S1")
    xid = school.experience(sid)
    interval = LedgerApplication.snapshotting_intervals[Experience]
    day = date(2025, 9, 1)
    while app.experience(xid).version < interval + 3:
        app.log_hours(student, xid, worked_on=day, hours=Decimal("1.25"), activity="shop floor")
        day += timedelta(days=1)
    assert app.snapshots is not None
    [snapshot] = list(app.snapshots.get(xid))
    other = LedgerApplication(database_url=store_url)
    try:
        folded = project_aggregate(None, other.events.get(xid, lte=interval))
    finally:
        other.close()
    expected = type(snapshot).take(folded)
    assert snapshot.originator_version == expected.originator_version == interval
    assert snapshot.topic == expected.topic
    assert snapshot.state == expected.state
    assert {k: type(v) for k, v in snapshot.state.items()} == {
        k: type(v) for k, v in expected.state.items()
    }
