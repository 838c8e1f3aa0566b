"""Two processes on one store (`ledger serve --workers 2`, or two servers): each has its own
aggregate cache, and on PostgreSQL a command's first attempt decides on its cached copies without
asking the database (ledger/persistence/reads.py). A refusal decided on a copy another process
has moved on from is not the answer: the command decides again on the store's state first.
(Before: 18 of 30 unassign requests right after an assign, each on a new connection to a
two-worker server, were refused with 409 "not an advisor"; with the ETag the assign returned as
If-Match, 15 with 409 and 7 with 412.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from ledger.application import LedgerApplication, expected_versions
from ledger.domain import Role
from ledger.errors import InvalidCommand, StateConflict
from tests.builders import School


@pytest.fixture
def two(store_url: str) -> Iterator[tuple[LedgerApplication, LedgerApplication]]:
    here = LedgerApplication(database_url=store_url)
    there = LedgerApplication(database_url=store_url)
    try:
        yield here, there
    finally:
        here.close()
        there.close()


def _advisors(app: LedgerApplication, sid: UUID) -> set[UUID]:
    return {UUID(str(a)) for a in app.student(sid).advisors}


def _second_advisor(here: LedgerApplication, local_id: str) -> tuple[School, UUID, UUID]:
    """A school with one student and a second advisor not yet assigned to them."""
    school = School.build(here)
    sid, _login = school.enroll(local_id)
    return school, sid, UUID(school.person(Role.ADVISOR, "Second advisor").user_id)


def _assigned_elsewhere(
    here: LedgerApplication, there: LedgerApplication, local_id: str
) -> tuple[School, UUID, UUID]:
    """``here`` caches the student without the second advisor; ``there`` assigns them."""
    school, sid, extra = _second_advisor(here, local_id)
    here.student(sid)
    there.assign_advisor(school.admin, sid, extra)
    return school, sid, extra


def _unassigned_elsewhere(
    here: LedgerApplication, there: LedgerApplication, local_id: str
) -> tuple[School, UUID, UUID]:
    """``here`` assigns the second advisor (and caches that); ``there`` unassigns them."""
    school, sid, extra = _second_advisor(here, local_id)
    here.assign_advisor(school.admin, sid, extra)
    there.unassign_advisor(school.admin, sid, extra, "moved to another school")
    return school, sid, extra


def test_hours_logged_by_another_process_can_be_verified_here(
    two: tuple[LedgerApplication, LedgerApplication],
) -> None:
    here, there = two
    school = School.build(here)
    sid, login = school.enroll("V1")
    xid = school.experience(sid)
    first = here.log_hours(login, xid, worked_on=date(2025, 9, 2), hours=Decimal(2), activity="w")
    here.verify_hours(school.mentor, xid, UUID(first.id))  # `here` caches the experience
    position = here.position()
    second = there.log_hours(login, xid, worked_on=date(2025, 9, 3), hours=Decimal(2), activity="w")

    result = here.verify_hours(school.mentor, xid, UUID(second.id))

    assert result.value["status"] == "verified"
    assert there.experience(xid).entries[second.id][1] == "verified"
    # A refusal the current state does justify is still given, and writes nothing.
    after = here.position()
    assert after == position + 2
    with pytest.raises(InvalidCommand, match="not on this experience"):
        here.verify_hours(school.mentor, xid, uuid4())
    assert here.position() == after


def test_an_advisor_assigned_by_another_process_can_be_unassigned_here(
    two: tuple[LedgerApplication, LedgerApplication],
) -> None:
    here, there = two
    school, sid, extra = _assigned_elsewhere(here, there, "V2")

    here.unassign_advisor(school.admin, sid, extra, "moved to another school")

    assert extra not in _advisors(there, sid)
    position = here.position()
    with pytest.raises(StateConflict):  # now it is true: refused, nothing written
        here.unassign_advisor(school.admin, sid, extra, "again")
    assert here.position() == position


def test_if_match_with_the_current_version_holds_against_a_stale_cache(
    two: tuple[LedgerApplication, LedgerApplication],
) -> None:
    here, there = two
    school, sid, extra = _assigned_elsewhere(here, there, "V3")
    current = there.student(sid).version  # the ETag a client was just handed

    token = expected_versions.set({sid: frozenset({current})})
    try:
        here.unassign_advisor(school.admin, sid, extra, "moved to another school")
    finally:
        expected_versions.reset(token)

    assert there.student(sid).version == current + 1


def test_a_command_that_changes_nothing_on_a_stale_cache_is_decided_again(
    two: tuple[LedgerApplication, LedgerApplication],
) -> None:
    """Assigning an advisor who is already assigned writes nothing, and so has nothing for the
    recorder to check its reads against: decided on a stale copy, it answered success and the
    advisor another process had unassigned stayed unassigned (a write lost without a word)."""
    here, there = two
    school, sid, extra = _unassigned_elsewhere(here, there, "V4")

    result = here.assign_advisor(school.admin, sid, extra)

    assert extra in _advisors(there, sid)
    assert result.event_count == 1
    # Assigned already, now truly: nothing is written.
    position = here.position()
    assert here.assign_advisor(school.admin, sid, extra).event_count == 0
    assert here.position() == position


def test_with_an_idempotency_key_too(two: tuple[LedgerApplication, LedgerApplication]) -> None:
    """With a key the command writes its idempotency record, so the recorder does check what it
    read: but an aggregate the command returns to be saved, unchanged, was taken for written
    and left out of that check."""
    here, there = two
    school, sid, extra = _unassigned_elsewhere(here, there, "V5")

    result = here.assign_advisor(school.admin, sid, extra, idempotency_key="k-1")

    assert extra in _advisors(there, sid)
    assert result.event_count == 2  # the assignment and the idempotency record
