"""Credits: proposed by an advisor (or recorded from a passed class), decided by a registrar."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from ledger.domain.areas import check_amount, check_area, check_term
from ledger.domain.base import CommandContext, LedgerAggregate
from ledger.errors import AlreadyDecided, BasisRequired, InvalidCommand, StateConflict

CREDIT_METHODS = ("mastery", "hours", "course")
BASIS_OF = {"mastery": "judgments", "hours": "experiences", "course": "courses"}


def check_basis_present(method: str, basis: dict) -> None:
    if method not in CREDIT_METHODS:
        raise InvalidCommand(f"credit method must be one of {list(CREDIT_METHODS)}")
    if not basis.get(BASIS_OF[method]):
        raise BasisRequired(f"a {method} credit cites its {BASIS_OF[method]}")


AMENDABLE = ("amount", "area", "title", "state_course_code", "school_year", "term", "mark")


class Credit(LedgerAggregate):
    TOPIC = "competency-ledger/Credit"

    class Proposed(LedgerAggregate.Created):
        TOPIC = "competency-ledger/Credit.Proposed"
        student_id: UUID
        area: str
        amount: Decimal
        title: str
        state_course_code: str | None
        course_id: str | None
        school_year: str
        term: str
        method: str
        # {"judgments": [id...], "experiences": [id...], "courses": [{"course_id", "mark"}...]}
        basis: dict
        rule_id: str | None
        mark: str | None

        def apply(self, c: Credit) -> None:
            c.student_id = self.student_id
            c.area = self.area
            c.amount = self.amount
            c.method = self.method
            c.basis = self.basis
            c.school_year = self.school_year
            c.term = self.term
            c.status = "proposed"
            c.open_flags = []  # judgment ids whose retraction awaits a registrar's review

    class Created(LedgerAggregate.Created):
        """Unused: pins the topic of the base class's creation event."""

        TOPIC = "competency-ledger/Credit.Created"

    class Approved(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Credit.Approved"

        def apply(self, c: Credit) -> None:
            c.status = "approved"

    class Rejected(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Credit.Rejected"
        reason: str

        def apply(self, c: Credit) -> None:
            c.status = "rejected"

    class Flagged(LedgerAggregate.Event):
        """Part of the basis was retracted or superseded: the credit stays; a registrar reviews."""

        TOPIC = "competency-ledger/Credit.Flagged"
        judgment_id: UUID
        reason: str

        def apply(self, c: Credit) -> None:
            c.open_flags.append(str(self.judgment_id))

    class Reconfirmed(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Credit.Reconfirmed"
        reason: str
        resolved_flags: list

        def apply(self, c: Credit) -> None:
            c.open_flags = []

    class Revoked(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Credit.Revoked"
        IS_CORRECTION = True
        reason: str

        def apply(self, c: Credit) -> None:
            c.status = "revoked"
            c.open_flags = []

    class Amended(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Credit.Amended"
        IS_CORRECTION = True
        changes: dict
        basis: dict | None
        reason: str

        def apply(self, c: Credit) -> None:
            for k, v in self.changes.items():
                if k in ("area", "amount", "school_year", "term"):
                    setattr(c, k, v)
            if self.basis is not None:
                c.basis = self.basis
            c.open_flags = []

    @classmethod
    def propose(
        cls,
        ctx: CommandContext,
        *,
        credit_id: UUID,
        student_id: UUID,
        area: str,
        amount: Decimal,
        title: str,
        school_year: str,
        term: str,
        method: str,
        basis: dict,
        state_course_code: str | None = None,
        course_id: str | None = None,
        rule_id: str | None = None,
        mark: str | None = None,
    ) -> Credit:
        check_area(area)
        check_amount(amount)
        check_term(school_year, term)
        check_basis_present(method, basis)
        if not title.strip():
            raise InvalidCommand("a credit needs a title")
        return cls._start(
            cls.Proposed,
            ctx,
            id=credit_id,
            student_id=student_id,
            area=area,
            amount=amount,
            title=title,
            state_course_code=state_course_code,
            course_id=course_id,
            school_year=school_year,
            term=term,
            method=method,
            basis=basis,
            rule_id=rule_id,
            mark=mark,
        )

    @property
    def is_flagged(self) -> bool:
        return bool(self.open_flags)

    def _decide(self) -> None:
        if self.status != "proposed":
            raise AlreadyDecided(f"credit is {self.status}; only a proposed credit is decided")

    def approve(self, ctx: CommandContext, on: date | None) -> None:
        self._decide()
        if self.is_flagged:
            raise StateConflict("part of this credit's basis was retracted: amend or reject it")
        self._emit(self.Approved, ctx, effective_on=on)

    def reject(self, ctx: CommandContext, reason: str) -> None:
        self._decide()
        if not reason.strip():
            raise InvalidCommand("a rejection needs a reason")
        self._emit(self.Rejected, ctx, reason=reason)

    def flag(self, ctx: CommandContext, judgment_id: UUID, reason: str) -> bool:
        if self.status not in ("proposed", "approved") or str(judgment_id) in self.open_flags:
            return False
        self._emit(self.Flagged, ctx, judgment_id=judgment_id, reason=reason)
        return True

    def reconfirm(self, ctx: CommandContext, reason: str) -> None:
        if self.status != "approved" or not self.is_flagged:
            raise StateConflict("only a flagged, approved credit is re-confirmed")
        if not reason.strip():
            raise InvalidCommand("a re-confirmation needs a reason")
        self._emit(self.Reconfirmed, ctx, reason=reason, resolved_flags=list(self.open_flags))

    def revoke(self, ctx: CommandContext, reason: str) -> None:
        if self.status != "approved":
            raise StateConflict(f"only an approved credit is revoked; this one is {self.status}")
        if not reason.strip():
            raise InvalidCommand("a revocation needs a reason")
        self._emit(self.Revoked, ctx, reason=reason)

    def amend(self, ctx: CommandContext, changes: dict, basis: dict | None, reason: str) -> None:
        if self.status not in ("proposed", "approved"):
            raise StateConflict(f"a {self.status} credit cannot be amended")
        if not reason.strip():
            raise InvalidCommand("an amendment needs a reason")
        unknown = set(changes) - set(AMENDABLE)
        if unknown:
            raise InvalidCommand(f"cannot amend {sorted(unknown)}; amendable: {list(AMENDABLE)}")
        if "area" in changes:
            check_area(changes["area"])
        if "amount" in changes:
            check_amount(changes["amount"])
        if "school_year" in changes or "term" in changes:
            check_term(changes.get("school_year", self.school_year), changes.get("term", self.term))
        if not changes and basis is None:
            raise InvalidCommand("an amendment changes something")
        self._emit(self.Amended, ctx, changes=changes, basis=basis, reason=reason)
