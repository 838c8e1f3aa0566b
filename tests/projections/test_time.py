"""As-of queries: recorded time (the ledger as it stood at T) and effective time (what we now
know was true on D), against a scripted school year."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from ledger.domain import EvidenceRef
from ledger.errors import InvalidCommand
from tests.builders import School, framework_definition


def at(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 9, 0, tzinfo=UTC)


def _capture(rm, sid):
    rm.catch_up()
    return {
        "transcript": rm.transcript(sid),
        "mastery": rm.mastery(sid),
        "hours": rm.hours(sid),
    }


def test_as_of_transcripts_equal_what_the_ledger_showed(app, rm, clock):
    s = School.build(app)
    sid, student = s.enroll("YEAR")
    seen: dict[datetime, dict] = {clock.now: _capture(rm, sid)}

    clock.set(at(2025, 9, 15))
    xid = s.experience(sid)
    entry = s.verified_hours(student, xid, date(2025, 9, 12), Decimal(6))
    reflection = s.reflection(student, sid, xid)
    evidence = [EvidenceRef("reflection", reflection), EvidenceRef("hours", xid, entry)]
    first = s.judge(sid, evidence, level="3", effective_on=date(2025, 9, 14))
    seen[clock.now] = _capture(rm, sid)

    clock.set(at(2025, 10, 1))
    s.judge(sid, evidence, level="4", effective_on=date(2025, 9, 30))
    credit = s.mastery_credit(sid, [first])
    seen[clock.now] = _capture(rm, sid)

    clock.set(at(2025, 11, 15))
    algebra = UUID(
        app.record_class(
            s.registrar, sid, course_id="MATH101", title="Algebra I", area="MATH",
            credits_earned=Decimal("1.0"), credits_attempted=None, mark="B+",
            school_year="2025-26", term="S1",
        ).id
    )  # fmt: skip
    s.verified_hours(student, xid, date(2025, 11, 14), Decimal(8))
    seen[clock.now] = _capture(rm, sid)

    clock.set(at(2026, 1, 10))
    app.retract_judgment(s.advisor, first, "the observation was of another student")
    seen[clock.now] = _capture(rm, sid)
    assert seen[clock.now]["transcript"]["totals"]["flagged"] == Decimal("0.5")

    clock.set(at(2026, 2, 1))
    app.reconfirm_credit(s.registrar, credit, "the later judgment at 4 supports it")
    s.judge(sid, evidence, level="2", effective_on=date(2025, 9, 25))
    seen[clock.now] = _capture(rm, sid)

    clock.set(at(2026, 3, 1))
    app.revise_framework(s.admin, s.framework_id, framework_definition("highest"), "district rule")
    app.amend_credit(s.registrar, credit, reason="area recoded", changes={"area": "ELEC"})
    seen[clock.now] = _capture(rm, sid)

    clock.set(at(2026, 4, 1))
    app.revoke_credit(s.registrar, algebra, "recorded twice by the SIS")
    seen[clock.now] = _capture(rm, sid)

    # The instants show different things, so the comparison below is not trivially true.
    assert len({repr(v["transcript"]["totals"]) for v in seen.values()}) >= 4
    assert len({repr(v["mastery"]) for v in seen.values()}) >= 4
    for instant, then in seen.items():
        transcript = rm.transcript(sid, as_of=instant)
        assert transcript["as_of"] == instant
        assert {**transcript, "as_of": None} == then["transcript"]
        assert rm.mastery(sid, as_of=instant) == then["mastery"]
        assert rm.hours(sid, as_of=instant) == then["hours"]


def _retraction_story(app, clock):
    """Judged effective Oct 1, credited, then the judgment is retracted on Jan 10."""
    s = School.build(app)
    sid, student = s.enroll("EFF")
    clock.set(at(2025, 10, 1))
    reflection = s.reflection(student, sid)
    j = s.judge(sid, [EvidenceRef("reflection", reflection)], effective_on=date(2025, 10, 1))
    credit = s.mastery_credit(sid, [j])
    before_retraction = clock.now
    clock.set(at(2026, 1, 10))
    app.retract_judgment(s.advisor, j, "wrong student")
    return s, sid, credit, before_retraction


def test_a_retraction_recorded_after_t(app, rm, clock):
    s, sid, credit, t = _retraction_story(app, clock)
    rm.catch_up()
    # Recorded time: at T the retraction had not been recorded, so the ledger showed the credit
    # earned on the strength of the judgment.
    then = rm.transcript(sid, as_of=t)
    assert then["totals"]["earned"] == Decimal("0.5")
    assert then["totals"]["flagged"] == 0
    assert rm.mastery(sid, as_of=t)[0]["mastered"] is True
    # Effective time: what we now know was true on Oct 2: the retraction applies whatever its
    # own date, so the judgment never counted and the credit stands flagged.
    known = rm.transcript(sid, effective_on=date(2025, 10, 2))
    assert known["totals"]["earned"] == 0
    assert known["totals"]["flagged"] == Decimal("0.5")
    [row] = rm.mastery(sid, effective_on=date(2025, 10, 2))
    assert (row["score"], row["counted_judgments"]) == (None, [])
    # And today both agree.
    assert rm.transcript(sid)["totals"] == known["totals"]


def test_backdated_judgment_counts_in_effective_time_only(app, rm, clock):
    s = School.build(app)
    sid, student = s.enroll("BACK")
    clock.set(at(2025, 10, 1))
    reflection = s.reflection(student, sid)
    ev = [EvidenceRef("reflection", reflection)]
    s.judge(sid, ev, level="2", effective_on=date(2025, 10, 1))
    oct_1 = clock.now
    clock.set(at(2026, 2, 1))
    s.judge(sid, ev, level="4", effective_on=date(2025, 9, 20))  # recorded in Feb, true in Sept
    rm.catch_up()
    assert rm.mastery(sid, as_of=oct_1)[0]["counted_judgments"].__len__() == 1
    [sept] = rm.mastery(sid, effective_on=date(2025, 9, 30))
    assert sept["score"] == Decimal("4.00")
    # In effective order the Sept judgment comes first: decaying 4 -> 4 x .35 + 2 x .65 = 2.70.
    [oct_] = rm.mastery(sid, effective_on=date(2025, 10, 2))
    assert oct_["score"] == Decimal("2.70")
    assert rm.mastery(sid)[0]["score"] == Decimal("2.70")


def test_hours_in_effective_time(app, rm, clock):
    s = School.build(app)
    sid, student = s.enroll("HRS")
    xid = s.experience(sid)
    clock.set(at(2025, 9, 20))
    entry = UUID(
        app.log_hours(student, xid, worked_on=date(2025, 9, 10), hours=Decimal(5), activity="x").id
    )
    clock.set(at(2025, 9, 25))
    app.verify_hours(s.mentor, xid, entry)
    rm.catch_up()
    assert rm.hours(sid, effective_on=date(2025, 9, 9))["totals"]["logged"] == 0
    on_12 = rm.hours(sid, effective_on=date(2025, 9, 12))["totals"]
    assert (on_12["logged"], on_12["verified"]) == (Decimal(5), Decimal(0))
    on_26 = rm.hours(sid, effective_on=date(2025, 9, 26))["totals"]
    assert on_26["verified"] == Decimal(5)
    # Recorded time: on Sept 15 nothing had been logged yet, though the work was on the 10th.
    assert rm.hours(sid, as_of=at(2025, 9, 15))["totals"]["logged"] == 0


def test_a_details_correction_applies_in_effective_time(app, rm, clock):
    s = School.build(app)
    sid, _ = s.enroll("DET")
    enrolled = clock.now
    clock.set(at(2026, 1, 5))
    app.correct_student_details(s.admin, sid, {"grade_level": "10"}, "typo in the roster")
    rm.catch_up()
    assert rm.transcript(sid, as_of=enrolled)["student"]["grade_level"] == "11"
    assert rm.transcript(sid, effective_on=enrolled.date())["student"]["grade_level"] == "10"


def test_before_the_student_existed(app, rm, clock):
    s = School.build(app)
    early = clock.now
    clock.set(at(2025, 10, 1))
    sid, _ = s.enroll("LATE")
    rm.catch_up()
    then = rm.transcript(sid, as_of=early)
    assert then["student"] is None and then["terms"] == []
    assert rm.mastery(sid, as_of=early) == []
    assert rm.transcript(UUID(int=0)) is None


def test_time_arguments_are_checked(app, rm):
    s = School.build(app)
    sid, _ = s.enroll("ARGS")
    rm.catch_up()
    with pytest.raises(InvalidCommand):
        rm.transcript(sid, as_of=at(2025, 9, 1), effective_on=date(2025, 9, 1))
    with pytest.raises(InvalidCommand):
        rm.mastery(sid, as_of=datetime(2025, 9, 1, 9, 0))  # no time zone  # noqa: DTZ001
    with pytest.raises(InvalidCommand):
        rm.hours(sid, effective_on="2025-09-01")
