"""A roster import as the application applies it: plain data, decided before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from ledger.domain import Role, derived_id, student_id_for
from ledger.imports.report import Normalisations


def roster_user_id(source_id: str, role: Role) -> UUID:
    """One ledger user per OneRoster user and ledger role: a re-import finds the same user, and a
    teacher who is also a parent is an advisor and a guardian without the two colliding."""
    return derived_id("oneroster-user", source_id, str(role))


@dataclass(frozen=True)
class PersonPlan:
    user_id: UUID
    role: Role
    name: str
    external_id: str
    where: str


@dataclass(frozen=True)
class StudentPlan:
    local_id: str
    school_code: str
    given_name: str
    family_name: str
    grade_level: str
    cohort: int
    state_student_id: str | None
    external_id: str
    where: str

    @property
    def student_id(self) -> UUID:
        return student_id_for(self.school_code, self.local_id)


@dataclass
class RosterPlan:
    version: str
    people: list[PersonPlan] = field(default_factory=list)
    students: list[StudentPlan] = field(default_factory=list)
    # student id -> user ids, in file order
    advisors: dict[UUID, list[UUID]] = field(default_factory=dict)
    guardians: dict[UUID, list[UUID]] = field(default_factory=dict)
    normalisations: Normalisations = field(default_factory=Normalisations)
    counts: dict[str, Any] = field(default_factory=dict)
