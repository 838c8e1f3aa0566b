"""A cast for benchmarks, made through the application service like any school's data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from ledger.application import LedgerApplication, system_actor
from ledger.domain import (
    Actor,
    Competency,
    FrameworkDefinition,
    Level,
    MasteryMethod,
    Role,
    Scale,
)

STARTS = date(2025, 9, 1)
ENDS = date(2026, 6, 15)
# 80 slices of a quarter hour a day: 20 hours, leaving room for a history's hour a day.
SLICE = Decimal("0.25")
SLICES_PER_DAY = 80
DAYS = (ENDS - STARTS).days


def work_day(i: int) -> date:
    """The day of a student's i-th logged slice, cycling over the experience's days."""
    return STARTS + timedelta(days=(i // SLICES_PER_DAY) % DAYS)


@dataclass
class Cast:
    app: LedgerApplication
    admin: Actor
    advisor: Actor
    mentor: Actor

    @classmethod
    def make(cls, app: LedgerApplication) -> Cast:
        admin = system_actor()
        advisor = cls._person(app, admin, Role.ADVISOR, "Advisor")
        mentor = cls._person(app, admin, Role.MENTOR, "Mentor")
        return cls(app, admin, advisor, mentor)

    @staticmethod
    def _person(
        app: LedgerApplication, admin: Actor, role: Role, name: str, sid: UUID | None = None
    ) -> Actor:
        result, _token = app.add_user(admin, role=role, name=name, student_id=sid)
        return Actor(result.id, role, sid)

    def student(self, local_id: str) -> tuple[Actor, UUID, UUID]:
        """An enrolled student with an advisor and a started experience: (login, student, exp.)."""
        app = self.app
        sid = UUID(
            app.enroll_student(
                self.admin,
                local_id=local_id,
                given_name="Given",
                family_name="Family",
                grade_level="11",
                cohort=2027,
                school_code="1234",
            ).id
        )
        app.assign_advisor(self.admin, sid, UUID(self.advisor.user_id))
        login = self._person(app, self.admin, Role.STUDENT, "Student", sid)
        xid = UUID(
            app.plan_experience(
                self.advisor,
                sid,
                kind="internship",
                title="Internship",
                partner_organisation="Acme",
                mentor_id=UUID(self.mentor.user_id),
                starts_on=STARTS,
                ends_on=ENDS,
                target_competencies=["CR.1"],
            ).id
        )
        app.start_experience(self.advisor, xid)
        return login, sid, xid

    def log(self, login: Actor, xid: UUID, i: int) -> int | None:
        """The benchmarked command: one hours entry, one event."""
        return self.app.log_hours(
            login, xid, worked_on=work_day(i), hours=SLICE, activity="Shadowed the site lead"
        ).position


FRAMEWORK = FrameworkDefinition(
    title="Career Readiness",
    scale=Scale(
        (
            Level("1", "Beginning", Decimal(1)),
            Level("2", "Developing", Decimal(2)),
            Level("3", "Proficient", Decimal(3), mastery=True),
        )
    ),
    method=MasteryMethod("decaying_average", Decimal("0.65")),
    competencies=(
        Competency("CR", "Career readiness", code="CR"),
        Competency("CR.1", "Communicates professionally", code="CR.1", parent_id="CR"),
        Competency("CR.2", "Solves problems with data", code="CR.2", parent_id="CR"),
    ),
)
