"""Typed domain errors.

Each error has a stable ``code``: the API turns it into the problem+json ``type`` URI and the CLI
prints it, so renaming a code is a breaking change. A command that raises one of these writes
nothing.
"""

from __future__ import annotations


class LedgerError(Exception):
    code = "ledger-error"
    title = "Ledger error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(LedgerError):
    code = "not-found"
    title = "Not found"

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} does not exist")
        self.kind = kind
        self.ident = ident


class InvalidCommand(LedgerError):
    """The command is malformed or breaks a rule of the domain."""

    code = "invalid-command"
    title = "Invalid command"


class InvalidFramework(InvalidCommand):
    code = "invalid-framework"
    title = "Invalid framework"


class UnknownCompetency(InvalidCommand):
    code = "unknown-competency"
    title = "Competency not in framework"


class LevelNotOnScale(InvalidCommand):
    code = "level-not-on-scale"
    title = "Level not on the framework's scale"


class EvidenceRequired(InvalidCommand):
    code = "evidence-required"
    title = "A judgment must cite evidence"


class EvidenceNotFound(InvalidCommand):
    code = "evidence-not-found"
    title = "Cited evidence does not exist"


class EvidenceOfAnotherStudent(InvalidCommand):
    code = "evidence-of-another-student"
    title = "Cited evidence belongs to another student"


class InvalidHours(InvalidCommand):
    code = "invalid-hours"
    title = "Hours out of range"


class ExperienceNotActive(InvalidCommand):
    code = "experience-not-active"
    title = "The experience is not in a state that allows this"


class BasisRequired(InvalidCommand):
    code = "basis-required"
    title = "A credit proposal must cite its basis"


class InvalidBasis(InvalidCommand):
    code = "invalid-basis"
    title = "The cited basis does not support the credit"


class StateConflict(LedgerError):
    """The record is not in a state that allows the action (approve twice, verify twice...)."""

    code = "state-conflict"
    title = "Conflicting state"


class VersionChanged(StateConflict):
    """The record moved past the version the caller named (If-Match) before the write landed."""

    code = "precondition-failed"
    title = "Precondition failed"


class AlreadyDecided(StateConflict):
    code = "already-decided"
    title = "Already decided"


class NotPermitted(LedgerError):
    """The caller's role or relationship does not allow the action."""

    code = "not-permitted"
    title = "Not permitted"


class ConcurrencyConflict(LedgerError):
    """Another command changed the same record and the bounded retries ran out."""

    code = "concurrency-conflict"
    title = "Concurrent modification"


class IdempotencyKeyReused(LedgerError):
    """The idempotency key was already used for a different command."""

    code = "idempotency-key-reused"
    title = "Idempotency key reused with a different command"


class ExportRefused(InvalidCommand):
    """An export found rows that break its profile: nothing was written; ``rows`` lists each
    offending row (its key) with what is wrong, so the records can be corrected first."""

    code = "export-refused"
    title = "Export refused: invalid rows"

    def __init__(self, detail: str, rows: list[dict]) -> None:
        super().__init__(detail)
        self.rows = rows
