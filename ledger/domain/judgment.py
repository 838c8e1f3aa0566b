"""An advisor's judgment that a student shows a competency at a level, and its corrections."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from ledger.domain.base import CommandContext, LedgerAggregate
from ledger.errors import EvidenceRequired, InvalidCommand, StateConflict


class Judgment(LedgerAggregate):
    TOPIC = "competency-ledger/Judgment"

    class Recorded(LedgerAggregate.Created):
        TOPIC = "competency-ledger/Judgment.Recorded"
        student_id: UUID
        framework_id: UUID
        framework_revision: int
        competency_id: str
        level: str
        evidence: list  # EvidenceRef dicts
        rationale: str
        supersedes: UUID | None

        def apply(self, j: Judgment) -> None:
            j.student_id = self.student_id
            j.framework_id = self.framework_id
            j.framework_revision = self.framework_revision
            j.competency_id = self.competency_id
            j.level = self.level
            j.evidence = list(self.evidence)
            j.status = "standing"
            j.cited_by = []

    class Created(LedgerAggregate.Created):
        """Unused: pins the topic of the base class's creation event."""

        TOPIC = "competency-ledger/Judgment.Created"

    class Retracted(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Judgment.Retracted"
        IS_CORRECTION = True
        reason: str

        def apply(self, j: Judgment) -> None:
            j.status = "retracted"

    class Superseded(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Judgment.Superseded"
        IS_CORRECTION = True
        superseded_by: UUID
        reason: str

        def apply(self, j: Judgment) -> None:
            j.status = "superseded"
            j.superseded_by = self.superseded_by

    class CitedByCredit(LedgerAggregate.Event):
        """Recorded with the credit proposal, so a later retraction finds every credit it
        undermines in the same stream it changes (no race between the two)."""

        TOPIC = "competency-ledger/Judgment.CitedByCredit"
        credit_id: UUID

        def apply(self, j: Judgment) -> None:
            j.cited_by.append(str(self.credit_id))

    @classmethod
    def record(
        cls,
        ctx: CommandContext,
        *,
        judgment_id: UUID,
        student_id: UUID,
        framework_id: UUID,
        framework_revision: int,
        competency_id: str,
        level: str,
        evidence: list[dict],
        rationale: str,
        effective_on: date | None,
        supersedes: UUID | None = None,
    ) -> Judgment:
        if not evidence:
            raise EvidenceRequired("a judgment cites at least one evidence item")
        if not rationale.strip():
            raise InvalidCommand("a judgment needs a rationale")
        return cls._start(
            cls.Recorded,
            ctx,
            id=judgment_id,
            effective_on=effective_on,
            student_id=student_id,
            framework_id=framework_id,
            framework_revision=framework_revision,
            competency_id=competency_id,
            level=level,
            evidence=evidence,
            rationale=rationale,
            supersedes=supersedes,
        )

    @property
    def is_standing(self) -> bool:
        return self.status == "standing"

    def _check_standing(self) -> None:
        if not self.is_standing:
            raise StateConflict(f"judgment is already {self.status}")

    def retract(self, ctx: CommandContext, reason: str) -> None:
        self._check_standing()
        if not reason.strip():
            raise InvalidCommand("a retraction needs a reason")
        self._emit(self.Retracted, ctx, reason=reason)

    def supersede(self, ctx: CommandContext, by: UUID, reason: str) -> None:
        self._check_standing()
        self._emit(self.Superseded, ctx, superseded_by=by, reason=reason)

    def cite(self, ctx: CommandContext, credit_id: UUID) -> None:
        self._check_standing()
        self._emit(self.CitedByCredit, ctx, credit_id=credit_id)
