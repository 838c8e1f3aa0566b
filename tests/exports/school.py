"""A scripted school for export tests: fixed recorded times (the ``clock`` fixture), state ids,
classes with marks and state course codes, a work-based mastery credit, and records that must
not be reported (proposed, revoked, last year's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

from ledger.domain import EvidenceRef, Role
from tests.builders import School

STUDENTS = (
    # local id, SSID, cohort
    ("W1003", "5300000003", 2026),
    ("W1001", "5300000001", 2027),
    ("W1002", "5300000002", 2027),
)
CLASSES = (
    # student, course, title, area, earned, attempted, mark, year, term, state code
    ("W1001", "ENG11", "English 11", "ENG", "1.0", None, "A-", "2025-26", "FY", "01003"),
    ("W1001", "ALG2A", "Algebra II", "MATH", "0.5", "0.5", "B", "2025-26", "S1", "02056"),
    ("W1002", "ALG2A", "Algebra II", "MATH", "0.5", "0.5", "C+", "2025-26", "S1", "02056"),
    ("W1002", "CHEM1", "Chemistry = Lab", "SCI", "0.5", "1.0", "D", "2025-26", "S2", "03101"),
    ("W1003", "US-HIS", "-US History", "SOC", "1.0", None, "B+", "2025-26", "FY", "04103"),
    ("W1001", "BIO9", "Biology", "SCI", "1.0", None, "A", "2024-25", "FY", "03051"),
)


@dataclass
class Scripted:
    school: School
    students: dict[str, UUID]
    actors: dict
    credits: dict[str, UUID]


def script_school(app, clock) -> Scripted:
    school = School.build(app)
    students, actors, credits = {}, {}, {}
    for local_id, ssid, cohort in STUDENTS:
        clock.advance(minutes=1)
        sid = UUID(
            app.enroll_student(
                school.admin,
                local_id=local_id,
                given_name="Given",
                family_name=f"Family{local_id[-1]}",
                grade_level="11",
                cohort=cohort,
                school_code="1234",
                state_student_id=ssid,
            ).id
        )
        app.assign_advisor(school.admin, sid, UUID(school.advisor.user_id))
        app.link_guardian(school.admin, sid, UUID(school.guardian.user_id))
        students[local_id] = sid
        actors[local_id] = school.person(Role.STUDENT, f"Student {local_id}", sid)
    for local_id, course, title, area, earned, attempted, mark, year, term, code in CLASSES:
        clock.advance(hours=1)
        credits[f"{local_id}/{course}"] = UUID(
            app.record_class(
                school.registrar,
                students[local_id],
                course_id=course,
                title=title,
                area=area,
                credits_earned=Decimal(earned),
                credits_attempted=None if attempted is None else Decimal(attempted),
                mark=mark,
                school_year=year,
                term=term,
                state_course_code=code,
            ).id
        )
    # W1001: an internship, evidence, a judgment, a work-based mastery credit.
    sid, student = students["W1001"], actors["W1001"]
    clock.advance(days=1)
    xid = school.experience(sid)
    reflection = school.reflection(student, sid, xid)
    entry = school.verified_hours(student, xid, date(2025, 10, 1))
    judgment = school.judge(
        sid, [EvidenceRef("reflection", reflection), EvidenceRef("hours", xid, entry)]
    )
    clock.advance(days=1)
    credits["W1001/CTE"] = UUID(
        app.propose_credit(
            school.advisor,
            sid,
            area="CTE",
            amount=Decimal("0.5"),
            title="Career Preparation",
            school_year="2025-26",
            term="S1",
            method="mastery",
            basis={"judgments": [str(judgment)]},
            framework_id=school.framework_id,
            rule_id="CTE-PREP",
            state_course_code="12051",
        ).id
    )
    app.approve_credit(school.registrar, credits["W1001/CTE"])
    # W1002: a second judgment and credit left proposed: not reported.
    clock.advance(days=1)
    r2 = school.reflection(actors["W1002"], students["W1002"])
    j2 = school.judge(students["W1002"], [EvidenceRef("reflection", r2)])
    credits["W1002/CTE"] = school.mastery_credit(students["W1002"], [j2], approve=False)
    # W1003: a class recorded then revoked: not reported.
    clock.advance(days=1)
    credits["W1003/ART"] = UUID(
        app.record_class(
            school.registrar,
            students["W1003"],
            course_id="ART1",
            title="Ceramics",
            area="ARTS",
            credits_earned=Decimal("0.5"),
            credits_attempted=None,
            mark="A",
            school_year="2025-26",
            term="S2",
            state_course_code="05154",
        ).id
    )
    app.revoke_credit(school.registrar, credits["W1003/ART"], "recorded for the wrong student")
    return Scripted(school, students, actors, credits)
