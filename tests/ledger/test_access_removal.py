"""Taking access away, on both stores: unlinking a guardian, unassigning an advisor,
deactivating a user, revoking one token. Each refusal is a typed error and writes nothing; each
act is an event naming who did it and why."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from ledger import access, errors
from ledger.application import system_actor
from ledger.domain import Actor, EvidenceRef, Role, Student
from tests.builders import School


@pytest.fixture
def school(app):
    return School.build(app)


def writes_nothing(app, fn, error):
    before = app.position()
    with pytest.raises(error):
        fn()
    assert app.position() == before


def last_event(app, aggregate_id):
    return list(app.repository.event_store.get(aggregate_id))[-1]


def test_unlinked_guardian_no_longer_sees_the_student(app, school):
    sid, student = school.enroll("S1")
    gid = UUID(school.guardian.user_id)
    assert access.can_see_student(school.guardian, app.student(sid))

    def unlink(who, reason="custody order"):
        return lambda: app.unlink_guardian(who, sid, gid, reason)

    writes_nothing(app, unlink(school.guardian), errors.NotPermitted)
    writes_nothing(app, unlink(school.advisor), errors.NotPermitted)
    writes_nothing(app, unlink(student), errors.NotPermitted)
    writes_nothing(app, unlink(school.registrar, "  "), errors.InvalidCommand)
    writes_nothing(
        app, lambda: app.unlink_guardian(school.registrar, sid, uuid4(), "x"), errors.NotFound
    )
    writes_nothing(
        app,
        lambda: app.unlink_guardian(school.registrar, sid, UUID(school.advisor.user_id), "x"),
        errors.StateConflict,
    )

    result = app.unlink_guardian(school.registrar, sid, gid, "custody order", correlation_id="c-1")
    s = app.student(sid)
    assert s.guardians == [] and not access.can_see_student(school.guardian, s)
    e = last_event(app, sid)
    assert isinstance(e, Student.GuardianUnlinked)
    assert (e.guardian_id, e.reason) == (str(gid), "custody order")
    assert (e.actor_id, e.actor_role, e.correlation_id) == (
        school.registrar.user_id,
        "registrar",
        "c-1",
    )
    assert result.value == {"id": str(sid), "kind": "student", "guardian": str(gid)}
    writes_nothing(app, unlink(school.registrar), errors.StateConflict)
    # Linking again is allowed, and gives the read back.
    app.link_guardian(school.registrar, sid, gid)
    assert access.can_see_student(school.guardian, app.student(sid))


def test_unassigned_advisor_can_no_longer_judge(app, school):
    sid, student = school.enroll("S1")
    aid = UUID(school.advisor.user_id)
    reflection = school.reflection(student, sid)
    school.judge(sid, [EvidenceRef("reflection", reflection)])
    writes_nothing(
        app, lambda: app.unassign_advisor(school.advisor, sid, aid, "left"), errors.NotPermitted
    )
    writes_nothing(
        app, lambda: app.unassign_advisor(school.registrar, sid, aid, ""), errors.InvalidCommand
    )
    app.unassign_advisor(school.admin, sid, aid, "left the school")
    s = app.student(sid)
    assert s.advisors == [] and not access.can_see_student(school.advisor, s)
    e = last_event(app, sid)
    assert isinstance(e, Student.AdvisorUnassigned)
    assert (e.advisor_id, e.reason, e.actor_role) == (str(aid), "left the school", "system")
    writes_nothing(
        app,
        lambda: school.judge(sid, [EvidenceRef("reflection", reflection)]),
        errors.NotPermitted,
    )
    writes_nothing(
        app,
        lambda: app.unassign_advisor(school.registrar, sid, aid, "again"),
        errors.StateConflict,
    )


def test_replays_of_removals_write_nothing(app, school):
    sid, _ = school.enroll("S1")
    gid, aid = UUID(school.guardian.user_id), UUID(school.advisor.user_id)
    kw = {"idempotency_key": "k-1"}
    first = app.unlink_guardian(school.registrar, sid, gid, "custody", **kw)
    before = app.position()
    again = app.unlink_guardian(school.registrar, sid, gid, "custody", **kw)
    assert again.replayed and again.value == first.value and app.position() == before
    writes_nothing(
        app,
        lambda: app.unlink_guardian(school.registrar, sid, gid, "other reason", **kw),
        errors.IdempotencyKeyReused,
    )
    first = app.unassign_advisor(school.registrar, sid, aid, "left", idempotency_key="k-2")
    again = app.unassign_advisor(school.registrar, sid, aid, "left", idempotency_key="k-2")
    assert again.replayed and again.value == first.value
    admin = school.person(Role.ADMIN, "Admin")
    user = school.person(Role.MENTOR, "Leaving mentor")
    first = app.deactivate_user(admin, UUID(user.user_id), "left", idempotency_key="k-3")
    before = app.position()
    again = app.deactivate_user(admin, UUID(user.user_id), "left", idempotency_key="k-3")
    assert again.replayed and again.value == first.value and app.position() == before


def test_deactivation_stops_every_token_of_the_user(app, school):
    admin = school.person(Role.ADMIN, "Admin")
    result, first_token = app.add_user(admin, role=Role.GUARDIAN, name="Leaving guardian")
    uid = UUID(result.id)
    _, second_token = app.issue_token(admin, uid)
    assert app.authenticate(first_token) and app.authenticate(second_token)

    def deactivate(who, reason="custody ended"):
        return lambda: app.deactivate_user(who, uid, reason)

    writes_nothing(app, deactivate(school.registrar), errors.NotPermitted)
    writes_nothing(app, deactivate(Actor(str(uid), Role.GUARDIAN)), errors.NotPermitted)
    writes_nothing(app, deactivate(admin, ""), errors.InvalidCommand)
    writes_nothing(
        app, lambda: app.deactivate_user(admin, UUID(admin.user_id), "x"), errors.InvalidCommand
    )
    writes_nothing(app, lambda: app.deactivate_user(admin, uuid4(), "x"), errors.NotFound)

    app.deactivate_user(admin, uid, "custody ended", correlation_id="c-9")
    assert app.authenticate(first_token) is None and app.authenticate(second_token) is None
    assert app.user(uid).active is False
    e = last_event(app, uid)
    assert (type(e).__name__, e.reason, e.actor_id, e.correlation_id) == (
        "Deactivated",
        "custody ended",
        admin.user_id,
        "c-9",
    )
    writes_nothing(app, deactivate(admin), errors.StateConflict)
    writes_nothing(app, lambda: app.issue_token(admin, uid), errors.StateConflict)


def test_revoke_one_token(app, school):
    admin = school.person(Role.ADMIN, "Admin")
    result, token = app.add_user(admin, role=Role.ADVISOR, name="Advisor two")
    holder = Actor(result.id, Role.ADVISOR)
    _, spare = app.issue_token(admin, UUID(result.id))
    _, leaked = app.issue_token(admin, UUID(result.id))
    writes_nothing(app, lambda: app.revoke_token(school.advisor, token, "x"), errors.NotFound)
    writes_nothing(app, lambda: app.revoke_token(holder, "clt_unknown", "x"), errors.NotFound)
    writes_nothing(app, lambda: app.revoke_token(holder, "", "x"), errors.NotFound)
    writes_nothing(app, lambda: app.revoke_token(holder, token, " "), errors.InvalidCommand)

    done = app.revoke_token(holder, token, "logged out")
    assert token not in str(done.value) and done.value["user_id"] == result.id
    assert app.authenticate(token) is None and app.authenticate(spare) == holder
    writes_nothing(app, lambda: app.revoke_token(holder, token, "again"), errors.StateConflict)
    app.revoke_token(admin, leaked, "posted in a chat")
    assert app.authenticate(leaked) is None and app.authenticate(spare) == holder
    app.revoke_token(system_actor(), spare, "rotated")
    assert app.authenticate(spare) is None
