"""Domain model: aggregates and their events. Importing this package registers every topic."""

from ledger.domain.base import Actor, CommandContext, LedgerAggregate, Role, derived_id
from ledger.domain.credit import Credit
from ledger.domain.evidence import Artifact, EvidenceRef, MentorNote, Reflection
from ledger.domain.experience import Experience
from ledger.domain.export import Export
from ledger.domain.framework import (
    Association,
    Competency,
    CompetencyRequirement,
    CreditRule,
    Framework,
    FrameworkDefinition,
    Level,
    MasteryMethod,
    Scale,
)
from ledger.domain.judgment import Judgment
from ledger.domain.student import Student, student_id_for
from ledger.domain.user import ApiToken, IdempotencyRecord, User

AGGREGATES = (
    Framework,
    Student,
    Experience,
    Reflection,
    Artifact,
    MentorNote,
    Judgment,
    Credit,
    User,
    ApiToken,
    IdempotencyRecord,
    Export,
)

__all__ = [
    "AGGREGATES",
    "Actor",
    "ApiToken",
    "Artifact",
    "Association",
    "CommandContext",
    "Competency",
    "CompetencyRequirement",
    "Credit",
    "CreditRule",
    "EvidenceRef",
    "Experience",
    "Export",
    "Framework",
    "FrameworkDefinition",
    "IdempotencyRecord",
    "Judgment",
    "LedgerAggregate",
    "Level",
    "MasteryMethod",
    "MentorNote",
    "Reflection",
    "Role",
    "Scale",
    "Student",
    "User",
    "derived_id",
    "student_id_for",
]
