"""Random command sequences against a real store (hypothesis stateful testing).

Properties:
- every accepted command's events are stored exactly once (the log grows by exactly the events
  the command reports, each (stream, version) once);
- every rejected command writes nothing;
- replaying the store from scratch (a new application, no cache) reproduces every aggregate.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from ledger.application import LedgerApplication
from ledger.domain import EvidenceRef
from ledger.errors import LedgerError
from tests.builders import School
from tests.conftest import POSTGRES_URL, FakeClock, _with_query, require_postgres

DAYS = st.integers(min_value=-3, max_value=300).map(lambda d: date(2025, 9, 1) + timedelta(d))
HOURS = st.decimals(min_value=Decimal("-1"), max_value=Decimal("26"), places=1)
LEVELS = st.sampled_from(["IE", "1", "2", "3", "4", "7"])
COMPETENCIES = st.sampled_from(["CR.1", "CR.2", "CR.3", "NOPE"])


def ledger_machine(make_url):
    class LedgerMachine(RuleBasedStateMachine):
        students = Bundle("students")
        experiences = Bundle("experiences")
        evidence = Bundle("evidence")
        judgments = Bundle("judgments")
        credits = Bundle("credits")

        def __init__(self) -> None:
            super().__init__()
            self.url, self.cleanup = make_url()
            self.app = LedgerApplication(database_url=self.url, clock=FakeClock())
            self.school = School.build(self.app)
            self.position = self.app.position()
            self.stored = self._count()
            self.touched: set[uuid.UUID] = {self.school.framework_id}
            self.n = 0

        def _count(self) -> int:
            return len(list(self.app.recorder.select_notifications(start=1, limit=10**7)))

        def _do(self, fn):
            """Run a command; check it stored exactly its events, or nothing at all."""
            before = self._count()
            try:
                result = fn()
            except LedgerError:
                assert self._count() == before, "a rejected command wrote something"
                return None
            after = self._count()
            assert after - before == result.event_count, "accepted events not stored exactly once"
            news = list(
                self.app.recorder.select_notifications(start=self.position + 1, limit=10**6)
            )
            assert len(news) == result.event_count
            assert len({(e.originator_id, e.originator_version) for e in news}) == len(news)
            self.touched.update(e.originator_id for e in news)
            self.position = max([self.position, *[e.id for e in news]])
            return result

        @rule(target=students)
        def enroll(self):
            self.n += 1
            sid, actor = self.school.enroll(f"S{self.n}")
            self.position = self.app.position()
            self.touched.add(sid)
            return (sid, actor)

        @rule(target=experiences, student=students, started=st.booleans())
        def plan(self, student, started):
            sid, actor = student
            r = self._do(
                lambda: self.app.plan_experience(
                    self.school.advisor,
                    sid,
                    kind="internship",
                    title="Intern",
                    partner_organisation="Acme",
                    mentor_id=uuid.UUID(self.school.mentor.user_id),
                    starts_on=date(2025, 9, 1),
                    ends_on=date(2026, 6, 1),
                )
            )
            xid = uuid.UUID(r.id)
            if started:
                self._do(lambda: self.app.start_experience(self.school.advisor, xid))
            return (xid, student)

        @rule(target=evidence, experience=experiences, day=DAYS, hours=HOURS, verify=st.booleans())
        def log_hours(self, experience, day, hours, verify):
            xid, (sid, actor) = experience
            r = self._do(
                lambda: self.app.log_hours(actor, xid, worked_on=day, hours=hours, activity="work")
            )
            if r is None:
                return EvidenceRef("hours", xid, uuid.uuid4())  # cites nothing real
            entry = uuid.UUID(r.id)
            if verify:
                self._do(lambda: self.app.verify_hours(self.school.mentor, xid, entry))
            return EvidenceRef("hours", xid, entry)

        @rule(
            target=evidence,
            student=students,
            key=st.sampled_from([None, "k1", "k2"]),
            text=st.sampled_from(["", "I learned", "I learned more"]),
        )
        def reflect(self, student, key, text):
            sid, actor = student
            r = self._do(
                lambda: self.app.submit_reflection(actor, sid, text=text, idempotency_key=key)
            )
            return EvidenceRef("reflection", uuid.UUID(r.id) if r else uuid.uuid4())

        @rule(
            target=judgments,
            student=students,
            refs=st.lists(evidence, max_size=3),
            level=LEVELS,
            competency=COMPETENCIES,
        )
        def judge(self, student, refs, level, competency):
            sid, _ = student
            r = self._do(
                lambda: self.app.record_judgment(
                    self.school.advisor,
                    sid,
                    framework_id=self.school.framework_id,
                    competency_id=competency,
                    level=level,
                    evidence=refs,
                    rationale="seen",
                )
            )
            return (uuid.UUID(r.id) if r else uuid.uuid4(), student)

        @rule(judgment=judgments)
        def retract(self, judgment):
            jid, _ = judgment
            self._do(lambda: self.app.retract_judgment(self.school.advisor, jid, "misread"))

        @rule(
            target=credits,
            student=students,
            picked=st.lists(judgments, max_size=2),
            amount=st.sampled_from(
                [Decimal("0.5"), Decimal("1.25"), Decimal("0"), Decimal("0.333")]
            ),
        )
        def propose(self, student, picked, amount):
            sid, _ = student
            r = self._do(
                lambda: self.app.propose_credit(
                    self.school.advisor,
                    sid,
                    area="CTE",
                    amount=amount,
                    title="Career prep",
                    school_year="2025-26",
                    term="S1",
                    method="mastery",
                    basis={"judgments": [str(j) for j, _ in picked]},
                )
            )
            return uuid.UUID(r.id) if r else uuid.uuid4()

        @rule(credit=credits, approve=st.booleans(), as_registrar=st.booleans())
        def decide(self, credit, approve, as_registrar):
            who = self.school.registrar if as_registrar else self.school.advisor
            if approve:
                self._do(lambda: self.app.approve_credit(who, credit))
            else:
                self._do(lambda: self.app.reject_credit(who, credit, "not enough"))

        @rule(credit=consumes(credits))
        def revoke(self, credit):
            self._do(lambda: self.app.revoke_credit(self.school.registrar, credit, "error"))

        @precondition(lambda self: True)
        @invariant()
        def log_order(self):
            ids = [n.id for n in self.app.recorder.select_notifications(start=1, limit=10**7)]
            assert ids == sorted(ids) and len(ids) == len(set(ids))

        def teardown(self) -> None:
            try:
                fresh = LedgerApplication(database_url=self.url)
                try:
                    for ident in self.touched:
                        live = self.app.repository.get(ident)
                        replayed = fresh.repository.get(ident)
                        assert _state(replayed) == _state(live), f"replay differs for {ident}"
                finally:
                    fresh.close()
            finally:
                self.app.close()
                self.cleanup()

    return LedgerMachine


def _state(aggregate) -> dict:
    return {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_random_command_sequences(kind, tmp_path: Path):
    if kind == "postgres":
        require_postgres()

    def make_url():
        if kind == "sqlite":
            path = tmp_path / f"{uuid.uuid4().hex}.sqlite"
            return f"sqlite:///{path}", lambda: None
        schema = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')

        def drop():
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

        return _with_query(POSTGRES_URL, schema=schema), drop

    machine = ledger_machine(make_url)
    machine.TestCase.settings = settings(
        max_examples=12,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    machine.TestCase().runTest()
