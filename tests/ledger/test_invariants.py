"""Each invariant of the ledger core, on both stores: a violation is a typed error and writes
nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from ledger import errors
from ledger.domain import EvidenceRef, Role
from tests.builders import School


@pytest.fixture
def school(app):
    return School.build(app)


def writes_nothing(app, fn, error):
    before = app.position()
    with pytest.raises(error):
        fn()
    assert app.position() == before


def test_judgment_needs_existing_evidence_of_same_student(app, school):
    sid, student = school.enroll("S1")
    other_sid, other = school.enroll("S2")
    mine = school.reflection(student, sid)
    theirs = school.reflection(other, other_sid)
    judge = lambda refs, level="3": lambda: school.judge(sid, refs, level)  # noqa: E731
    writes_nothing(app, judge([]), errors.EvidenceRequired)
    writes_nothing(app, judge([EvidenceRef("reflection", uuid4())]), errors.EvidenceNotFound)
    writes_nothing(app, judge([EvidenceRef("artifact", mine)]), errors.EvidenceNotFound)
    writes_nothing(app, judge([EvidenceRef("reflection", theirs)]), errors.EvidenceOfAnotherStudent)
    writes_nothing(app, judge([EvidenceRef("reflection", mine)], "9"), errors.LevelNotOnScale)
    jid = school.judge(sid, [EvidenceRef("reflection", mine)])
    j = app.judgment(jid)
    assert (j.level, j.framework_revision, j.status) == ("3", 1, "standing")


def test_hours_rules(app, school):
    sid, student = school.enroll("S1")
    planned = school.experience(sid, started=False)
    xid = school.experience(sid)

    def log(x, d, h):
        return lambda: app.log_hours(
            student,
            x,
            worked_on=d,
            hours=Decimal(h),
            activity="a",
        )

    writes_nothing(app, log(planned, date(2025, 10, 1), "2"), errors.ExperienceNotActive)
    writes_nothing(app, log(xid, date(2025, 10, 1), "0"), errors.InvalidHours)
    writes_nothing(app, log(xid, date(2025, 10, 1), "24.5"), errors.InvalidHours)
    writes_nothing(app, log(xid, date(2025, 8, 31), "2"), errors.InvalidHours)
    entry = UUID(log(xid, date(2025, 10, 1), "20")().id)
    writes_nothing(app, log(xid, date(2025, 10, 1), "5"), errors.InvalidHours)
    other_mentor = school.person(Role.MENTOR, "Other mentor")
    writes_nothing(app, lambda: app.verify_hours(other_mentor, xid, entry), errors.NotPermitted)
    writes_nothing(app, lambda: app.verify_hours(school.advisor, xid, entry), errors.NotPermitted)
    app.verify_hours(school.mentor, xid, entry)
    writes_nothing(app, lambda: app.verify_hours(school.mentor, xid, entry), errors.StateConflict)
    writes_nothing(
        app, lambda: app.dispute_hours(school.mentor, xid, entry, "no"), errors.StateConflict
    )
    assert app.experience(xid).verified_hours == Decimal(20)


def test_credit_decisions(app, school):
    sid, student = school.enroll("S1")
    r = school.reflection(student, sid)
    low = school.judge(sid, [EvidenceRef("reflection", r)], level="2")
    writes_nothing(app, lambda: school.mastery_credit(sid, [low]), errors.InvalidBasis)
    writes_nothing(app, lambda: school.mastery_credit(sid, []), errors.BasisRequired)
    j = school.judge(sid, [EvidenceRef("reflection", r)], level="3")
    cid = school.mastery_credit(sid, [j], approve=False)
    writes_nothing(app, lambda: app.approve_credit(school.advisor, cid), errors.NotPermitted)
    app.approve_credit(school.registrar, cid)
    writes_nothing(app, lambda: app.approve_credit(school.registrar, cid), errors.AlreadyDecided)
    writes_nothing(
        app, lambda: app.reject_credit(school.registrar, cid, "late"), errors.AlreadyDecided
    )


def test_retraction_flags_the_credit_and_keeps_it(app, school):
    sid, student = school.enroll("S1")
    r = school.reflection(student, sid)
    j = school.judge(sid, [EvidenceRef("reflection", r)])
    cid = school.mastery_credit(sid, [j])
    result = app.retract_judgment(school.advisor, j, "rubric misread")
    assert result.value["flagged_credits"] == [str(cid)]
    credit = app.credit(cid)
    assert credit.status == "approved" and credit.is_flagged
    writes_nothing(
        app, lambda: app.retract_judgment(school.advisor, j, "again"), errors.StateConflict
    )
    app.reconfirm_credit(school.registrar, cid, "other evidence suffices")
    assert not app.credit(cid).is_flagged
    app.revoke_credit(school.registrar, cid, "awarded in error")
    assert app.credit(cid).status == "revoked"
    # Nothing was edited: the judgment's events are all still there.
    assert [type(e).__name__ for e in app.events.get(j)] == [
        "Recorded",
        "CitedByCredit",
        "Retracted",
    ]


def test_superseding_flags_and_counts_once(app, school):
    sid, student = school.enroll("S1")
    r = school.reflection(student, sid)
    j1 = school.judge(sid, [EvidenceRef("reflection", r)])
    cid = school.mastery_credit(sid, [j1])
    j2 = school.judge(sid, [EvidenceRef("reflection", r)], level="4", supersedes=j1)
    assert app.judgment(j1).status == "superseded"
    assert app.judgment(j1).superseded_by == j2
    assert app.credit(cid).open_flags == [str(j1)]


def test_roles_and_scope(app, school):
    sid, student = school.enroll("S1")
    stranger = school.person(Role.ADVISOR, "Not their advisor")
    r = school.reflection(student, sid)
    writes_nothing(
        app,
        lambda: app.record_judgment(
            stranger,
            sid,
            framework_id=school.framework_id,
            competency_id="CR.1",
            level="3",
            evidence=[EvidenceRef("reflection", r)],
            rationale="x",
        ),
        errors.NotPermitted,
    )
    other_sid, other = school.enroll("S2")
    writes_nothing(
        app, lambda: app.submit_reflection(other, sid, text="not mine"), errors.NotPermitted
    )
    writes_nothing(
        app,
        lambda: app.enroll_student(
            student,
            local_id="S9",
            given_name="a",
            family_name="b",
            grade_level="9",
            cohort=2029,
            school_code="1234",
        ),
        errors.NotPermitted,
    )


def test_idempotency(app, school):
    sid, student = school.enroll("S1")
    first = app.submit_reflection(student, sid, text="once", idempotency_key="k-1")
    before = app.position()
    again = app.submit_reflection(student, sid, text="once", idempotency_key="k-1")
    assert again.replayed and again.value == first.value and app.position() == before
    writes_nothing(
        app,
        lambda: app.submit_reflection(student, sid, text="other", idempotency_key="k-1"),
        errors.IdempotencyKeyReused,
    )
    # Keys belong to their caller: another user's same key is a different request.
    other_sid, other = school.enroll("S2")
    assert not app.submit_reflection(other, other_sid, text="once", idempotency_key="k-1").replayed


def test_enrolment_is_unique_and_reflections_keep_versions(app, school):
    sid, student = school.enroll("S1")
    writes_nothing(
        app,
        lambda: app.enroll_student(
            school.admin,
            local_id="S1",
            given_name="a",
            family_name="b",
            grade_level="9",
            cohort=2029,
            school_code="1234",
        ),
        errors.InvalidCommand,
    )
    r = school.reflection(student, sid)
    app.revise_reflection(student, r, text="second thoughts", reason="clearer")
    texts = [getattr(e, "text", None) for e in app.events.get(r)]
    assert texts == ["I learned to ask.", "second thoughts"]
    assert app.reflection(r).text_version == 2


def test_every_event_carries_actor_time_and_correlation(app, school):
    sid, student = school.enroll("S1")
    result = app.submit_reflection(student, sid, text="t", correlation_id="req-42")
    (event,) = app.events.get(UUID(result.id))
    assert event.actor_id == student.user_id and event.actor_role == "student"
    assert event.correlation_id == "req-42" and event.recorded_at.tzinfo is not None


def test_implausible_dates_are_refused(app, school):
    sid, student = school.enroll("S1")
    r = school.reflection(student, sid)
    writes_nothing(
        app,
        lambda: school.judge(sid, [EvidenceRef("reflection", r)], effective_on=date(1, 1, 1)),
        errors.InvalidCommand,
    )
    writes_nothing(
        app,
        lambda: app.plan_experience(
            school.advisor,
            sid,
            kind="internship",
            title="Forever",
            partner_organisation="Acme",
            mentor_id=UUID(school.mentor.user_id),
            starts_on=date(2025, 9, 1),
            ends_on=date(9999, 12, 31),
        ),
        errors.InvalidCommand,
    )
    xid = school.experience(sid, started=False)
    writes_nothing(
        app,
        lambda: app.start_experience(school.advisor, xid, on=date(9999, 1, 1)),
        errors.InvalidCommand,
    )
