"""A student's enrolment and the people around them: advisors and guardians."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from ledger.domain.base import CommandContext, LedgerAggregate, derived_id
from ledger.errors import InvalidCommand, StateConflict

ENROLMENT_FIELDS = (
    "local_id",
    "state_student_id",
    "given_name",
    "family_name",
    "grade_level",
    "cohort",
    "school_code",
)


def student_id_for(school_code: str, local_id: str) -> UUID:
    """A student's id follows from the school and the district's local id: enrolling the same
    student twice (a re-import, a retried request) can never make two records."""
    return derived_id("student", school_code, local_id)


def check_state_student_id(ssid: str | None) -> None:
    # Washington's SSID: 10 digits, not starting with 0.
    if ssid is not None and not (len(ssid) == 10 and ssid.isdigit() and ssid[0] != "0"):
        raise InvalidCommand("state_student_id must be 10 digits not starting with 0")


class Student(LedgerAggregate):
    TOPIC = "competency-ledger/Student"

    class Enrolled(LedgerAggregate.Created):
        TOPIC = "competency-ledger/Student.Enrolled"
        local_id: str
        state_student_id: str | None
        given_name: str
        family_name: str
        grade_level: str
        cohort: int
        school_code: str

        def apply(self, s: Student) -> None:
            for name in ENROLMENT_FIELDS:
                setattr(s, name, getattr(self, name))
            s.advisors = []
            s.guardians = []
            s.status = "enrolled"

    class Created(LedgerAggregate.Created):
        """Unused: pins the topic of the base class's creation event."""

        TOPIC = "competency-ledger/Student.Created"

    class DetailsCorrected(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Student.DetailsCorrected"
        IS_CORRECTION = True
        changes: dict
        reason: str

        def apply(self, s: Student) -> None:
            for name, value in self.changes.items():
                setattr(s, name, value)

    class AdvisorAssigned(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Student.AdvisorAssigned"
        advisor_id: str

        def apply(self, s: Student) -> None:
            s.advisors.append(self.advisor_id)

    class AdvisorUnassigned(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Student.AdvisorUnassigned"
        advisor_id: str
        reason: str

        def apply(self, s: Student) -> None:
            s.advisors.remove(self.advisor_id)

    class GuardianLinked(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Student.GuardianLinked"
        guardian_id: str

        def apply(self, s: Student) -> None:
            s.guardians.append(self.guardian_id)

    class GuardianUnlinked(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Student.GuardianUnlinked"
        guardian_id: str
        reason: str

        def apply(self, s: Student) -> None:
            s.guardians.remove(self.guardian_id)

    class Withdrawn(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Student.Withdrawn"
        reason: str

        def apply(self, s: Student) -> None:
            s.status = "withdrawn"

    class Graduated(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Student.Graduated"

        def apply(self, s: Student) -> None:
            s.status = "graduated"

    @classmethod
    def enroll(
        cls,
        ctx: CommandContext,
        *,
        local_id: str,
        given_name: str,
        family_name: str,
        grade_level: str,
        cohort: int,
        school_code: str,
        state_student_id: str | None = None,
        enrolled_on: date | None = None,
    ) -> Student:
        if not local_id.strip():
            raise InvalidCommand("a student needs a local id")
        if not (given_name.strip() and family_name.strip()):
            raise InvalidCommand("a student needs a given and a family name")
        if not 1900 < cohort < 2200:
            raise InvalidCommand("cohort must be a graduation year")
        check_state_student_id(state_student_id)
        return cls._start(
            cls.Enrolled,
            ctx,
            id=student_id_for(school_code, local_id),
            effective_on=enrolled_on,
            local_id=local_id,
            state_student_id=state_student_id,
            given_name=given_name,
            family_name=family_name,
            grade_level=grade_level,
            cohort=cohort,
            school_code=school_code,
        )

    @property
    def is_active(self) -> bool:
        return self.status == "enrolled"

    def correct_details(self, ctx: CommandContext, changes: dict, reason: str) -> dict:
        unknown = (set(changes) - set(ENROLMENT_FIELDS)) | (
            set(changes) & {"local_id", "school_code"}
        )
        if unknown:
            raise InvalidCommand(f"cannot correct {sorted(unknown)}")
        if "state_student_id" in changes:
            check_state_student_id(changes["state_student_id"])
        real = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if real:
            self._emit(self.DetailsCorrected, ctx, changes=real, reason=reason)
        return real

    def assign_advisor(self, ctx: CommandContext, advisor_id: str) -> bool:
        if advisor_id in self.advisors:
            return False
        self._emit(self.AdvisorAssigned, ctx, advisor_id=advisor_id)
        return True

    def unassign_advisor(self, ctx: CommandContext, advisor_id: str, reason: str) -> None:
        if advisor_id not in self.advisors:
            raise StateConflict(f"user {advisor_id} is not an advisor of this student")
        self._emit(self.AdvisorUnassigned, ctx, advisor_id=advisor_id, reason=reason)

    def link_guardian(self, ctx: CommandContext, guardian_id: str) -> bool:
        if guardian_id in self.guardians:
            return False
        self._emit(self.GuardianLinked, ctx, guardian_id=guardian_id)
        return True

    def unlink_guardian(self, ctx: CommandContext, guardian_id: str, reason: str) -> None:
        if guardian_id not in self.guardians:
            raise StateConflict(f"user {guardian_id} is not a guardian of this student")
        self._emit(self.GuardianUnlinked, ctx, guardian_id=guardian_id, reason=reason)

    def withdraw(self, ctx: CommandContext, reason: str, on: date | None) -> None:
        if not self.is_active:
            raise StateConflict(f"student is {self.status}")
        self._emit(self.Withdrawn, ctx, effective_on=on, reason=reason)

    def graduate(self, ctx: CommandContext, on: date | None) -> None:
        if not self.is_active:
            raise StateConflict(f"student is {self.status}")
        self._emit(self.Graduated, ctx, effective_on=on)
