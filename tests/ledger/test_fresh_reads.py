"""FreshReads, on both stores: after a refresh, every copy it hands out reflects every event
committed before the refresh, whichever process wrote it; a copy loaded while a refresh moved on
is not kept."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from eventsourcing.application import AggregateNotFoundError

from ledger import fresh_reads
from ledger.application import LedgerApplication, system_actor
from ledger.domain import ApiToken, Student, User
from ledger.fresh_reads import FreshReads
from tests.builders import School


@pytest.fixture
def school(app):
    return School.build(app)


def test_changes_by_another_process_are_seen_after_a_refresh(app, school, store_url) -> None:
    sid, _ = school.enroll("F1")
    reads = FreshReads(app)
    reads.refresh()
    first = reads.get(Student, sid)
    assert reads.get(Student, sid) is first  # shared, no round trip
    other = LedgerApplication(database_url=store_url)
    try:
        other.unlink_guardian(system_actor(), sid, UUID(school.guardian.user_id), "custody order")
    finally:
        other.close()
    assert reads.get(Student, sid) is first  # not refreshed yet: the request's snapshot
    reads.refresh()
    now = reads.get(Student, sid)
    assert now.version == first.version + 1
    assert school.guardian.user_id not in {str(g) for g in now.guardians}


def test_revoked_token_and_deactivated_user_stop_authenticating(app, school) -> None:
    _, token = app.issue_token(school.admin, UUID(school.registrar.user_id))
    reads = FreshReads(app)
    reads.refresh()
    assert app.authenticate(token, reads) == app.authenticate(token)
    app.revoke_token(school.admin, token, "lost laptop")
    assert app.authenticate(token, reads) is not None  # the copy from before the refresh
    reads.refresh()
    assert app.authenticate(token, reads) is None
    _, token2 = app.issue_token(school.admin, UUID(school.advisor.user_id))
    reads.refresh()
    assert app.authenticate(token2, reads) is not None
    app.deactivate_user(school.admin, UUID(school.advisor.user_id), "left the school")
    reads.refresh()
    assert app.authenticate(token2, reads) is None


def test_unknown_ids_and_wrong_classes_are_not_found(app, school) -> None:
    reads = FreshReads(app)
    reads.refresh()
    with pytest.raises(AggregateNotFoundError):
        reads.get(Student, uuid4())
    with pytest.raises(AggregateNotFoundError):
        reads.get(ApiToken, UUID(school.registrar.user_id))  # a User, not a token
    with pytest.raises(ValueError):
        reads.get(User, "not-a-uuid")
    assert app.authenticate("clt_" + "x" * 40, reads) is None


def test_a_copy_loaded_while_a_refresh_moved_on_is_not_kept(app, school) -> None:
    sid, _ = school.enroll("F2")
    reads = FreshReads(app)
    reads.refresh()
    real_load = reads._load

    def load_then_change(aggregate_id):
        # Load first, then another request changes the student and refreshes, all before
        # this load puts its (now stale) copy in the cache.
        loaded = real_load(aggregate_id)
        reads._load = real_load
        app.unlink_guardian(system_actor(), sid, UUID(school.guardian.user_id), "custody order")
        reads.refresh()
        return loaded

    reads._load = load_then_change
    try:
        stale = reads.get(Student, sid)
    finally:
        reads._load = real_load
    fresh = reads.get(Student, sid)
    assert fresh is not stale
    assert fresh.version == stale.version + 1


def test_far_behind_starts_over(app, school, monkeypatch) -> None:
    monkeypatch.setattr(fresh_reads, "TAIL_PAGE", 2)
    monkeypatch.setattr(fresh_reads, "TAIL_PAGES", 2)
    reads = FreshReads(app)
    reads.refresh()
    sid, _ = school.enroll("F3")
    before = reads.get(Student, sid)
    for n in range(6):
        school.enroll(f"G{n}")  # more than TAIL_PAGE * TAIL_PAGES events
    app.unlink_guardian(system_actor(), sid, UUID(school.guardian.user_id), "custody order")
    reads.refresh()  # gave up tailing: everything dropped
    reads.refresh()
    assert reads.get(Student, sid).version == before.version + 1
    assert reads.get(Student, sid) is reads.get(Student, sid)


def test_a_copy_equals_what_the_repository_loads(app, school) -> None:
    """FreshReads folds every event itself (no snapshot lookup): the same state as the
    repository's, also for a student whose stream has passed a snapshot."""
    sid, _ = school.enroll("F9")
    guardian = UUID(school.guardian.user_id)
    for _ in range(3):
        app.unlink_guardian(system_actor(), sid, guardian, "custody order")
        app.link_guardian(system_actor(), sid, guardian)
    app.take_snapshot(sid)
    reads = FreshReads(app)
    reads.refresh()
    ours, theirs = reads.get(Student, sid), app.repository.get(sid)
    assert ours is not theirs
    assert vars(ours) == vars(theirs)
