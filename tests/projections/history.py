"""Random school histories driven through the application service, for property tests."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from hypothesis import strategies as st

from ledger.domain import EvidenceRef
from ledger.errors import LedgerError
from tests.builders import School, framework_definition

START = date(2025, 9, 1)
OPS = (
    "log", "verify", "reflect", "judge", "propose", "approve", "retract", "log", "verify",
    "dispute", "revise", "supersede", "reject", "revoke", "reconfirm", "amend", "hours_credit",
    "class", "revise_framework", "correct", "catch_up", "enroll", "judge", "catch_up",
)  # fmt: skip
LEVELS = ("IE", "1", "2", "3", "4")
METHODS = ("latest", "highest", "average", "weighted_average", "decaying_average", "n_mastery",
           "power_law")  # fmt: skip

op_strategy = st.tuples(
    st.sampled_from(OPS), st.integers(0, 50), st.integers(0, 50), st.integers(0, 120)
)
histories = st.lists(op_strategy, min_size=5, max_size=40)

# Every random history starts from a small year that already has each kind of event in it.
SEED = [
    ("log", 0, 3, 5), ("log", 0, 2, 6), ("verify", 0, 0, 0), ("reflect", 0, 0, 0),
    ("judge", 0, 3, 10), ("judge", 0, 4, 12), ("propose", 0, 0, 0), ("approve", 0, 0, 0),
    ("enroll", 0, 0, 0), ("log", 1, 5, 7), ("verify", 0, 0, 0), ("hours_credit", 1, 0, 0),
    ("approve", 1, 0, 0), ("retract", 0, 0, 0), ("class", 1, 1, 1), ("revise", 0, 0, 0),
]  # fmt: skip


class RandomSchool:
    def __init__(self, school: School, rm) -> None:
        self.s, self.app, self.rm = school, school.app, rm
        self.students: list[tuple[UUID, object]] = []
        self.experiences: list[tuple[UUID, object]] = []
        self.logged: list[tuple[UUID, UUID]] = []
        self.verified: list[tuple[UUID, UUID, UUID]] = []
        self.reflections: list[tuple[UUID, object, UUID]] = []
        self.judgments: list[tuple[UUID, UUID]] = []
        self.credits: list[UUID] = []
        self.catch_ups = 0
        self.enroll()

    @staticmethod
    def pick(items: list, i: int):
        return items[i % len(items)] if items else None

    def enroll(self) -> None:
        sid, student = self.s.enroll(f"R-{uuid4().hex[:10]}")
        self.students.append((sid, student))
        self.experiences.append((self.s.experience(sid), student))

    def run(self, op: str, a: int, b: int, c: int) -> None:
        # A refusal writes nothing, and is part of the history too.
        with contextlib.suppress(LedgerError):
            getattr(self, f"op_{op}", lambda *_: self.enroll())(a, b, c)

    def op_log(self, a, b, c) -> None:
        xid, student = self.pick(self.experiences, a)
        entry = self.app.log_hours(
            student, xid, worked_on=START + timedelta(days=c), hours=Decimal(1 + b % 8),
            activity="worked",
        ).id  # fmt: skip
        self.logged.append((xid, UUID(entry)))

    def op_verify(self, a, b, c) -> None:
        if self.logged:
            xid, entry = self.logged.pop(a % len(self.logged))
            self.app.verify_hours(self.s.mentor, xid, entry)
            sid = self.app.experience(xid).student_id
            self.verified.append((xid, entry, sid))

    def op_dispute(self, a, b, c) -> None:
        if self.logged:
            xid, entry = self.logged.pop(a % len(self.logged))
            self.app.dispute_hours(self.s.mentor, xid, entry, "not on site that day")

    def op_reflect(self, a, b, c) -> None:
        sid, student = self.pick(self.students, a)
        self.reflections.append((self.s.reflection(student, sid), student, sid))

    def op_revise(self, a, b, c) -> None:
        if self.reflections:
            rid, student, _ = self.pick(self.reflections, a)
            self.app.revise_reflection(student, rid, text=f"Revised {b}.", reason="clearer")

    def _evidence(self, sid: UUID, b: int) -> list[EvidenceRef]:
        refs = [EvidenceRef("reflection", r) for r, _, owner in self.reflections if owner == sid]
        refs += [EvidenceRef("hours", x, e) for x, e, owner in self.verified if owner == sid]
        return refs[b % len(refs) :][:2] if refs else []

    def op_judge(self, a, b, c, supersedes=None) -> None:
        sid, _ = self.pick(self.students, a)
        evidence = self._evidence(sid, b)
        if not evidence:
            return
        jid = self.s.judge(
            sid, evidence, level=LEVELS[b % len(LEVELS)], competency=("CR.1", "CR.2")[c % 2],
            effective_on=START + timedelta(days=c), supersedes=supersedes,
        )  # fmt: skip
        self.judgments.append((jid, sid))

    def op_supersede(self, a, b, c) -> None:
        if self.judgments:
            jid, sid = self.pick(self.judgments, a)
            j = self.app.judgment(jid)
            idx = next(i for i, (s, _) in enumerate(self.students) if s == sid)
            self.op_judge(idx, b, 0 if j.competency_id == "CR.1" else 1, supersedes=jid)

    def op_retract(self, a, b, c) -> None:
        if self.judgments:
            jid, _ = self.pick(self.judgments, a)
            self.app.retract_judgment(self.s.advisor, jid, "entered in error")

    def op_propose(self, a, b, c) -> None:
        sid, _ = self.pick(self.students, a)
        mine = [j for j, owner in self.judgments if owner == sid]
        if mine:
            cid = self.app.propose_credit(
                self.s.advisor, sid, area=("CTE", "MATH", "ELEC")[b % 3],
                amount=Decimal("0.5"), title="Work-based credit", school_year="2025-26",
                term=("S1", "S2")[c % 2], method="mastery",
                basis={"judgments": [str(self.pick(mine, b))]}, framework_id=self.s.framework_id,
            ).id  # fmt: skip
            self.credits.append(UUID(cid))

    def op_hours_credit(self, a, b, c) -> None:
        xid, _ = self.pick(self.experiences, a)
        sid = self.app.experience(xid).student_id
        cid = self.app.propose_credit(
            self.s.advisor, sid, area="ELEC", amount=Decimal("0.25"), title="Worksite learning",
            school_year="2025-26", term="S2", method="hours", basis={"experiences": [str(xid)]},
        ).id  # fmt: skip
        self.credits.append(UUID(cid))

    def op_class(self, a, b, c) -> None:
        sid, _ = self.pick(self.students, a)
        cid = self.app.record_class(
            self.s.registrar, sid, course_id=f"C{b}", title="Algebra", area="MATH",
            credits_earned=Decimal("1.0"), credits_attempted=None, mark="A",
            school_year=("2024-25", "2025-26")[c % 2], term="FY",
        ).id  # fmt: skip
        self.credits.append(UUID(cid))

    def _credit(self, a: int) -> UUID | None:
        return self.pick(self.credits, a)

    def op_approve(self, a, b, c) -> None:
        if (cid := self._credit(a)) is not None:
            self.app.approve_credit(self.s.registrar, cid)

    def op_reject(self, a, b, c) -> None:
        if (cid := self._credit(a)) is not None:
            self.app.reject_credit(self.s.registrar, cid, "not enough evidence")

    def op_revoke(self, a, b, c) -> None:
        if (cid := self._credit(a)) is not None:
            self.app.revoke_credit(self.s.registrar, cid, "awarded in error")

    def op_reconfirm(self, a, b, c) -> None:
        if (cid := self._credit(a)) is not None:
            self.app.reconfirm_credit(self.s.registrar, cid, "other evidence suffices")

    def op_amend(self, a, b, c) -> None:
        if (cid := self._credit(a)) is not None:
            self.app.amend_credit(
                self.s.registrar, cid, reason="corrected amount",
                changes={"amount": Decimal(1 + b % 3) / 4},
            )  # fmt: skip

    def op_revise_framework(self, a, b, c) -> None:
        self.app.revise_framework(
            self.s.admin, self.s.framework_id, framework_definition(METHODS[a % len(METHODS)]),
            "method changed",
        )  # fmt: skip

    def op_correct(self, a, b, c) -> None:
        sid, _ = self.pick(self.students, a)
        self.app.correct_student_details(
            self.s.admin, sid, {"grade_level": str(9 + b % 4)}, "grade corrected"
        )

    def op_catch_up(self, a, b, c) -> None:
        self.rm.catch_up()
        self.catch_ups += 1
