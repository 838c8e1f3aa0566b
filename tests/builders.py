"""A small school built through the application service, for tests that need a cast."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from uuid import UUID

from ledger.application import LedgerApplication, system_actor
from ledger.domain import (
    Actor,
    Competency,
    CompetencyRequirement,
    CreditRule,
    EvidenceRef,
    FrameworkDefinition,
    Level,
    MasteryMethod,
    Role,
    Scale,
)

SCALE = Scale(
    (
        Level("IE", "Insufficient evidence", None),
        Level("1", "Beginning", Decimal(1)),
        Level("2", "Developing", Decimal(2)),
        Level("3", "Proficient", Decimal(3), mastery=True),
        Level("4", "Advanced", Decimal(4), mastery=True),
    )
)


def framework_definition(
    method: str = "decaying_average", parameter: Decimal | None = None, order_by: str = "effective"
) -> FrameworkDefinition:
    return FrameworkDefinition(
        title="Career Readiness",
        scale=SCALE,
        method=MasteryMethod(method, parameter, order_by),
        competencies=(
            Competency("CR", "Career readiness", code="CR"),
            Competency(
                "CR.1",
                "Communicates professionally",
                code="CR.1",
                parent_id="CR",
                graduation_area="CTE",
            ),
            Competency(
                "CR.2",
                "Solves problems with data",
                code="CR.2",
                parent_id="CR",
                graduation_area="MATH",
            ),
            Competency(
                "CR.3", "Writes for an audience", code="CR.3", parent_id="CR", graduation_area="ENG"
            ),
        ),
        credit_rules=(
            CreditRule(
                "CTE-PREP",
                "Career Preparation",
                "CTE",
                Decimal("0.5"),
                (CompetencyRequirement("CR.1", "3"),),
            ),
            CreditRule(
                "WBL-PAID",
                "Worksite Learning",
                "ELEC",
                Decimal("0.5"),
                (),
                hours_threshold=Decimal(180),
            ),
        ),
    )


@dataclass
class School:
    app: LedgerApplication
    framework_id: UUID = None  # type: ignore[assignment]
    admin: Actor = field(default_factory=system_actor)
    registrar: Actor = None  # type: ignore[assignment]
    advisor: Actor = None  # type: ignore[assignment]
    mentor: Actor = None  # type: ignore[assignment]
    guardian: Actor = None  # type: ignore[assignment]

    @classmethod
    def build(
        cls,
        app: LedgerApplication,
        method: str = "decaying_average",
        parameter: Decimal | None = None,
    ) -> School:
        s = cls(app)
        s.framework_id = UUID(
            app.publish_framework(s.admin, framework_definition(method, parameter)).id
        )
        s.registrar = s.person(Role.REGISTRAR, "Registrar")
        s.advisor = s.person(Role.ADVISOR, "Advisor")
        s.mentor = s.person(Role.MENTOR, "Mentor")
        s.guardian = s.person(Role.GUARDIAN, "Guardian")
        return s

    def person(self, role: Role, name: str, student_id: UUID | None = None) -> Actor:
        result, _token = self.app.add_user(self.admin, role=role, name=name, student_id=student_id)
        return Actor(result.id, role, student_id)

    def enroll(self, local_id: str, advisor: Actor | None = None) -> tuple[UUID, Actor]:
        sid = UUID(
            self.app.enroll_student(
                self.admin,
                local_id=local_id,
                given_name="Given",
                family_name="Family",
                grade_level="11",
                cohort=2027,
                school_code="1234",
            ).id
        )
        self.app.assign_advisor(self.admin, sid, UUID((advisor or self.advisor).user_id))
        self.app.link_guardian(self.admin, sid, UUID(self.guardian.user_id))
        return sid, self.person(Role.STUDENT, f"Student {local_id}", sid)

    def experience(self, sid: UUID, kind: str = "internship", started: bool = True) -> UUID:
        xid = UUID(
            self.app.plan_experience(
                self.advisor,
                sid,
                kind=kind,
                title="Internship",
                partner_organisation="Acme",
                mentor_id=UUID(self.mentor.user_id),
                starts_on=date(2025, 9, 1),
                ends_on=date(2026, 6, 15),
                target_competencies=["CR.1"],
            ).id
        )
        if started:
            self.app.start_experience(self.advisor, xid)
        return xid

    def verified_hours(
        self, student: Actor, xid: UUID, worked_on: date, hours: Decimal = Decimal(4)
    ) -> UUID:
        entry = UUID(
            self.app.log_hours(student, xid, worked_on=worked_on, hours=hours, activity="worked").id
        )
        self.app.verify_hours(self.mentor, xid, entry)
        return entry

    def reflection(self, student: Actor, sid: UUID, xid: UUID | None = None) -> UUID:
        return UUID(
            self.app.submit_reflection(
                student, sid, text="I learned to ask.", experience_id=xid, competencies=["CR.1"]
            ).id
        )

    def judge(
        self,
        sid: UUID,
        evidence: list[EvidenceRef],
        level: str = "3",
        competency: str = "CR.1",
        effective_on: date | None = None,
        supersedes: UUID | None = None,
    ) -> UUID:
        return UUID(
            self.app.record_judgment(
                self.advisor,
                sid,
                framework_id=self.framework_id,
                competency_id=competency,
                level=level,
                evidence=evidence,
                rationale="observed at work",
                effective_on=effective_on,
                supersedes=supersedes,
            ).id
        )

    def mastery_credit(self, sid: UUID, judgments: list[UUID], approve: bool = True) -> UUID:
        cid = UUID(
            self.app.propose_credit(
                self.advisor,
                sid,
                area="CTE",
                amount=Decimal("0.5"),
                title="Career Preparation",
                school_year="2025-26",
                term="S1",
                method="mastery",
                basis={"judgments": [str(j) for j in judgments]},
                framework_id=self.framework_id,
                rule_id="CTE-PREP",
            ).id
        )
        if approve:
            self.app.approve_credit(self.registrar, cid)
        return cid
