"""Evidence of learning: reflections, artifacts and mentor notes.

Each item is its own small aggregate, so citing it costs one load whatever else the student has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID

from ledger.domain.base import CommandContext, LedgerAggregate
from ledger.errors import InvalidCommand

ARTIFACT_KINDS = ("photo", "video", "document", "link")
EVIDENCE_KINDS = ("reflection", "artifact", "mentor_note", "hours")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_TEXT = 20_000


def _check_text(text: str, what: str) -> None:
    if not text.strip():
        raise InvalidCommand(f"a {what} needs text")
    if len(text) > MAX_TEXT:
        raise InvalidCommand(f"a {what} is at most {MAX_TEXT} characters")


@dataclass(frozen=True)
class EvidenceRef:
    """What a judgment cites: an evidence item, or one verified hours entry of an experience."""

    kind: str
    id: UUID
    entry_id: UUID | None = None

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "id": str(self.id)}
        if self.entry_id is not None:
            d["entry_id"] = str(self.entry_id)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> EvidenceRef:
        entry = d.get("entry_id")
        return cls(d["kind"], UUID(str(d["id"])), UUID(str(entry)) if entry else None)


class Reflection(LedgerAggregate):
    TOPIC = "competency-ledger/Reflection"

    class Submitted(LedgerAggregate.Created):
        TOPIC = "competency-ledger/Reflection.Submitted"
        student_id: UUID
        experience_id: UUID | None
        competencies: list
        text: str

        def apply(self, r: Reflection) -> None:
            r.student_id = self.student_id
            r.experience_id = self.experience_id
            r.competencies = list(self.competencies)
            r.text_version = 1

    class Created(LedgerAggregate.Created):
        """Unused: pins the topic of the base class's creation event."""

        TOPIC = "competency-ledger/Reflection.Created"

    class Revised(LedgerAggregate.Event):
        """A new version of the text; the earlier version stays in its own event."""

        TOPIC = "competency-ledger/Reflection.Revised"
        text_version: int
        competencies: list
        text: str
        reason: str

        def apply(self, r: Reflection) -> None:
            r.text_version = self.text_version
            r.competencies = list(self.competencies)

    @classmethod
    def submit(
        cls,
        ctx: CommandContext,
        *,
        reflection_id: UUID,
        student_id: UUID,
        experience_id: UUID | None,
        competencies: list[str],
        text: str,
    ) -> Reflection:
        _check_text(text, "reflection")
        return cls._start(
            cls.Submitted,
            ctx,
            id=reflection_id,
            student_id=student_id,
            experience_id=experience_id,
            competencies=sorted(set(competencies)),
            text=text,
        )

    def revise(
        self, ctx: CommandContext, text: str, competencies: list[str] | None, reason: str
    ) -> None:
        _check_text(text, "reflection")
        self._emit(
            self.Revised,
            ctx,
            text_version=self.text_version + 1,
            competencies=sorted(set(self.competencies if competencies is None else competencies)),
            text=text,
            reason=reason,
        )


class Artifact(LedgerAggregate):
    TOPIC = "competency-ledger/Artifact"

    class Attached(LedgerAggregate.Created):
        TOPIC = "competency-ledger/Artifact.Attached"
        student_id: UUID
        experience_id: UUID | None
        kind: str
        uri: str
        sha256: str | None
        size: int | None
        caption: str
        competencies: list

        def apply(self, a: Artifact) -> None:
            a.student_id = self.student_id
            a.experience_id = self.experience_id
            a.kind = self.kind

    class Created(LedgerAggregate.Created):
        """Unused: pins the topic of the base class's creation event."""

        TOPIC = "competency-ledger/Artifact.Created"

    @classmethod
    def attach(
        cls,
        ctx: CommandContext,
        *,
        artifact_id: UUID,
        student_id: UUID,
        experience_id: UUID | None,
        kind: str,
        uri: str,
        sha256: str | None,
        size: int | None,
        caption: str,
        competencies: list[str],
    ) -> Artifact:
        if kind not in ARTIFACT_KINDS:
            raise InvalidCommand(f"artifact kind must be one of {list(ARTIFACT_KINDS)}")
        if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$", uri or ""):
            raise InvalidCommand("an artifact needs an absolute URI")
        if kind != "link" and sha256 is None:
            raise InvalidCommand("a stored artifact needs its SHA-256")
        if sha256 is not None and not SHA256_HEX.match(sha256):
            raise InvalidCommand("sha256 must be 64 lower-case hex digits")
        if size is not None and size < 0:
            raise InvalidCommand("size cannot be negative")
        return cls._start(
            cls.Attached,
            ctx,
            id=artifact_id,
            student_id=student_id,
            experience_id=experience_id,
            kind=kind,
            uri=uri,
            sha256=sha256,
            size=size,
            caption=caption,
            competencies=sorted(set(competencies)),
        )


class MentorNote(LedgerAggregate):
    TOPIC = "competency-ledger/MentorNote"

    class Written(LedgerAggregate.Created):
        TOPIC = "competency-ledger/MentorNote.Written"
        student_id: UUID
        experience_id: UUID
        mentor_id: str
        text: str
        ratings: dict  # competency id -> level code

        def apply(self, n: MentorNote) -> None:
            n.student_id = self.student_id
            n.experience_id = self.experience_id
            n.mentor_id = self.mentor_id

    class Created(LedgerAggregate.Created):
        """Unused: pins the topic of the base class's creation event."""

        TOPIC = "competency-ledger/MentorNote.Created"

    @classmethod
    def write(
        cls,
        ctx: CommandContext,
        *,
        note_id: UUID,
        student_id: UUID,
        experience_id: UUID,
        text: str,
        ratings: dict[str, str],
    ) -> MentorNote:
        _check_text(text, "mentor note")
        return cls._start(
            cls.Written,
            ctx,
            id=note_id,
            student_id=student_id,
            experience_id=experience_id,
            mentor_id=ctx.actor.user_id,
            text=text,
            ratings=dict(sorted(ratings.items())),
        )
