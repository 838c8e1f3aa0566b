"""Request and response bodies, as pydantic models: the OpenAPI schema is generated from these.

Request models forbid unknown fields and refuse strings PostgreSQL or UTF-8 cannot hold (NUL,
lone surrogates), so such input is a 422 here rather than an error deep in a store. Business
rules (which levels exist, how many hours a day...) stay in the domain; these only bound shape
and size.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

Name = Annotated[str, Field(min_length=1, max_length=200)]
Code = Annotated[str, Field(min_length=1, max_length=100)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
LongText = Annotated[str, Field(min_length=1, max_length=20_000)]
Amount = Annotated[Decimal, Field(max_digits=12, decimal_places=4, allow_inf_nan=False)]
RoleName = Literal["student", "guardian", "mentor", "advisor", "registrar", "reporter", "admin"]


def _check_strings(value: Any, where: str = "") -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where or 'a string'} contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where or 'a string'} is not valid Unicode") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_strings(k, where)
            _check_strings(v, str(k))
    elif isinstance(value, list):
        for v in value:
            _check_strings(v, where)


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_strings(cls, data: Any) -> Any:
        _check_strings(data)
        return data


# ------------------------------------------------------------------ frameworks
class LevelIn(In):
    code: Code
    label: Name
    value: Amount | None = Field(description="None marks 'insufficient evidence'.")
    mastery: bool = False


class ScaleIn(In):
    levels: list[LevelIn] = Field(min_length=1, max_length=20)


class MethodIn(In):
    name: Code = Field(examples=["decaying_average"])
    parameter: Amount | None = None
    order_by: Literal["effective", "recorded"] = "effective"


class CompetencyIn(In):
    id: Code
    statement: LongText
    code: Code | None = None
    parent_id: Code | None = None
    graduation_area: Code | None = None
    external_id: Annotated[str, Field(max_length=500)] | None = None
    uri: Annotated[str, Field(max_length=2000)] | None = None
    item_type: Code | None = None
    sequence: int | None = Field(default=None, ge=0, le=1_000_000)


class RequirementIn(In):
    competency_id: Code
    min_level: Code


class CreditRuleIn(In):
    id: Code
    title: Name
    area: Code
    amount: Amount
    competencies: list[RequirementIn] = Field(default_factory=list, max_length=200)
    hours_threshold: Amount | None = None


class AssociationIn(In):
    type: Code
    origin: Code
    destination: Code
    identifier: Code | None = None


FRAMEWORK_EXAMPLE = {
    "title": "Career Readiness",
    "scale": {
        "levels": [
            {"code": "1", "label": "Beginning", "value": "1"},
            {"code": "2", "label": "Developing", "value": "2"},
            {"code": "3", "label": "Proficient", "value": "3", "mastery": True},
        ]
    },
    "method": {"name": "decaying_average", "parameter": "0.65"},
    "competencies": [
        {"id": "CR.1", "statement": "Communicates professionally", "graduation_area": "CTE"}
    ],
    "credit_rules": [
        {
            "id": "CTE-PREP",
            "title": "Career Preparation",
            "area": "CTE",
            "amount": "0.5",
            "competencies": [{"competency_id": "CR.1", "min_level": "3"}],
        }
    ],
}


class FrameworkDefinitionIn(In):
    model_config = ConfigDict(json_schema_extra={"examples": [FRAMEWORK_EXAMPLE]})

    title: Name
    scale: ScaleIn
    method: MethodIn
    competencies: list[CompetencyIn] = Field(min_length=1, max_length=5000)
    credit_rules: list[CreditRuleIn] = Field(default_factory=list, max_length=500)
    associations: list[AssociationIn] = Field(default_factory=list, max_length=20_000)
    graduation_area: Code | None = None


class FrameworkIn(FrameworkDefinitionIn):
    model_config = ConfigDict(json_schema_extra={"examples": [FRAMEWORK_EXAMPLE]})

    framework_id: UUID | None = Field(default=None, description="Choose the id (else one is made).")


class FrameworkRevisionIn(In):
    definition: FrameworkDefinitionIn
    reason: Reason


# ------------------------------------------------------------------ students and users
class StudentIn(In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "local_id": "S-1001",
                    "given_name": "Ada",
                    "family_name": "Lovelace",
                    "grade_level": "11",
                    "cohort": 2027,
                    "school_code": "1234",
                }
            ]
        }
    )

    local_id: Code
    given_name: Name
    family_name: Name
    grade_level: Annotated[str, Field(min_length=1, max_length=20)]
    cohort: int = Field(ge=1901, le=2199, description="Graduation year.")
    school_code: Code
    state_student_id: Annotated[str, Field(max_length=20)] | None = None
    enrolled_on: date | None = None


class PersonLinkIn(In):
    user_id: UUID


class TokenRevokeIn(In):
    token: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="The bearer token to revoke: the caller's own, or (admin) one handed in."
    )
    reason: Reason


class UserIn(In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"role": "advisor", "name": "Grace Hopper"}]}
    )

    role: RoleName
    name: Name
    student_id: UUID | None = Field(default=None, description="For a student user only.")
    external_id: Annotated[str, Field(max_length=500)] | None = None


# ------------------------------------------------------------------ experiences and hours
class ExperienceIn(In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "internship",
                    "title": "Lab assistant",
                    "partner_organisation": "Acme Labs",
                    "starts_on": "2025-09-01",
                    "ends_on": "2026-06-15",
                    "target_competencies": ["CR.1"],
                }
            ]
        }
    )

    kind: Code
    title: Name
    partner_organisation: Name
    mentor_id: UUID | None = None
    starts_on: date
    ends_on: date
    target_competencies: list[Code] = Field(default_factory=list, max_length=200)
    paid: bool = False


class OnDateIn(In):
    on: date | None = Field(default=None, description="Effective date (default: today).")


class ReasonIn(In):
    reason: Reason


class WithdrawIn(In):
    reason: Reason
    on: date | None = None


class HoursIn(In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"worked_on": "2025-10-02", "hours": "4", "activity": "bench work"}]
        }
    )

    worked_on: date
    hours: Amount
    activity: LongText


# ------------------------------------------------------------------ evidence
class ReflectionIn(In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"text": "I learned to ask.", "competencies": ["CR.1"]}]}
    )

    text: LongText
    experience_id: UUID | None = None
    competencies: list[Code] = Field(default_factory=list, max_length=200)


class ReflectionRevisionIn(In):
    text: LongText
    reason: Annotated[str, Field(max_length=2000)] = ""
    competencies: list[Code] | None = Field(default=None, max_length=200)


class ArtifactIn(In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"kind": "link", "uri": "https://example.org/poster"}]}
    )

    kind: Literal["photo", "video", "document", "link"]
    uri: Annotated[str, Field(min_length=1, max_length=2000)]
    sha256: Annotated[str, Field(max_length=64)] | None = None
    size: int | None = Field(default=None, ge=0, le=10**13)
    caption: Annotated[str, Field(max_length=2000)] = ""
    experience_id: UUID | None = None
    competencies: list[Code] = Field(default_factory=list, max_length=200)


class MentorNoteIn(In):
    text: LongText
    ratings: dict[Code, Code] = Field(default_factory=dict, description="competency id -> level")
    framework_id: UUID | None = None


# ------------------------------------------------------------------ judgments and credits
class EvidenceRefIn(In):
    kind: Literal["reflection", "artifact", "mentor_note", "hours"]
    id: UUID = Field(description="The evidence item, or the experience for hours.")
    entry_id: UUID | None = Field(default=None, description="The hours entry, for kind=hours.")


class JudgmentIn(In):
    framework_id: UUID
    competency_id: Code
    level: Code
    evidence: list[EvidenceRefIn] = Field(min_length=1, max_length=200)
    rationale: LongText
    effective_on: date | None = None
    supersedes: UUID | None = None


class CourseIn(In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "course_id": "ENG-11",
                    "title": "English 11",
                    "area": "ENG",
                    "credits_earned": "1",
                    "mark": "A",
                    "school_year": "2025-26",
                    "term": "FY",
                }
            ]
        }
    )

    course_id: Code
    title: Name
    area: Code
    credits_earned: Amount
    credits_attempted: Amount | None = None
    mark: Annotated[str, Field(min_length=1, max_length=10)]
    school_year: Annotated[str, Field(min_length=1, max_length=10)]
    term: Annotated[str, Field(min_length=1, max_length=10)]
    state_course_code: Code | None = None
    completed_on: date | None = None


class CourseBasisIn(In):
    course_id: Code
    mark: Annotated[str, Field(max_length=10)] | None = None
    credits_attempted: Amount | None = None


class BasisIn(In):
    judgments: list[UUID] = Field(default_factory=list, max_length=500)
    experiences: list[UUID] = Field(default_factory=list, max_length=500)
    courses: list[CourseBasisIn] = Field(default_factory=list, max_length=100)


class CreditIn(In):
    area: Code
    amount: Amount
    title: Name
    school_year: Annotated[str, Field(min_length=1, max_length=10)]
    term: Annotated[str, Field(min_length=1, max_length=10)]
    method: Literal["mastery", "hours"]
    basis: BasisIn
    state_course_code: Code | None = None
    course_id: Code | None = None
    framework_id: UUID | None = None
    rule_id: Code | None = None


class CreditChangesIn(In):
    amount: Amount | None = None
    area: Code | None = None
    title: Name | None = None
    state_course_code: Code | None = None
    school_year: Annotated[str, Field(min_length=1, max_length=10)] | None = None
    term: Annotated[str, Field(min_length=1, max_length=10)] | None = None
    mark: Annotated[str, Field(min_length=1, max_length=10)] | None = None


class AmendIn(In):
    reason: Reason
    changes: CreditChangesIn = Field(default_factory=CreditChangesIn)
    basis: BasisIn | None = None
    framework_id: UUID | None = None
    rule_id: Code | None = None


# ------------------------------------------------------------------ responses
class Written(BaseModel):
    """What a write answers: the resource as it now stands and the log position of the events
    it recorded (0 events on an idempotent replay)."""

    resource: dict[str, Any]
    position: int | None = Field(description="Log position of the write's last event.")
    replayed: bool = Field(description="True when an Idempotency-Key replayed an earlier write.")


class UserCreated(Written):
    token: str | None = Field(description="The bearer token, shown only on the first response.")


class Page(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class Resource(BaseModel):
    """A single resource; see the route description for its fields."""

    model_config = ConfigDict(extra="allow")

    id: str
    version: int = Field(description="Aggregate version; the ETag is its quoted form.")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    database: Literal["ok", "unavailable"]
    position: int | None = Field(description="Last position in the event log.")
    projection_position: int | None
    projection_lag: int | None = Field(description="Events recorded but not yet projected.")


class Mastery(BaseModel):
    student_id: str
    # Echoed, as the transcript does, so a saved answer says which moment it describes.
    as_of: datetime | None = None
    effective_on: date | None = None
    competencies: list[dict[str, Any]]
