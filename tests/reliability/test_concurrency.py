"""Many writers through the HTTP API at once, and the same request sent three times at once.

Counts, not timings: every acknowledged command is stored exactly once, nothing else is."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from ledger.application import LedgerApplication
from tests.reliability.load import Command, Outcome, events_since, head, run_load, storm
from tests.reliability.pg_instance import PrivatePostgres
from tests.reliability.seed import (
    HOURS_LOGGED,
    REFLECTION_SUBMITTED,
    SeededSchool,
    mixed_plans,
    seed_school,
)
from tests.reliability.server import ApiServer

pytestmark = pytest.mark.reliability

WRITERS = 8
COMMANDS_PER_WRITER = 500
STUDENTS = 10
IDEMPOTENCY = "competency-ledger/IdempotencyRecord"


def test_eight_writers_over_ten_students_on_postgres(
    private_postgres: PrivatePostgres, figures
) -> None:
    url = private_postgres.url
    app = LedgerApplication(database_url=url)
    seeded = seed_school(app, students=STUDENTS)
    start = head(app)
    app.close()
    plans = mixed_plans(seeded.pupils, WRITERS, COMMANDS_PER_WRITER)

    server = ApiServer(url)
    try:
        result, _problems = run_load(
            server.base_url, plans, max_attempts=20, request_timeout=60, deadline_s=900
        )
    finally:
        server.close()

    statuses = result.final_statuses()
    assert result.not_sent == 0
    assert set(statuses) <= {201, 409}, statuses
    acked_hours = [o for o in result.acknowledged if o.command.label == "log_hours"]
    acked_reflections = [o for o in result.acknowledged if o.command.label == "submit_reflection"]

    app = LedgerApplication(database_url=url)
    try:
        stored_hours = events_since(app, start, [HOURS_LOGGED])
        stored_reflections = events_since(app, start, [REFLECTION_SUBMITTED])
        entries: dict[str, Any] = {}
        for p in seeded.pupils:
            entries.update(app.experience(p.experience_id).entries)
        lost = [o for o in acked_hours if o.resource_id not in entries]
        lost += [o for o in acked_reflections if not _exists(app.reflection, o.resource_id)]
    finally:
        app.close()

    ids = [o.resource_id for o in result.acknowledged]
    assert len(set(ids)) == len(ids)
    assert not lost
    assert len(stored_hours) == len(acked_hours)
    assert len(stored_reflections) == len(acked_reflections)
    assert len(entries) == len(acked_hours)
    figures.record(
        writers=WRITERS,
        commands=WRITERS * COMMANDS_PER_WRITER,
        students=STUDENTS,
        acknowledged=len(result.acknowledged),
        answered_409=statuses.get(409, 0),
        attempts_answered_409=result.attempts.get("409", 0),
        commands_retried_by_client=result.retried(),
        stored_events=len(stored_hours) + len(stored_reflections),
        lost=len(lost),
        duplicated=len(stored_hours) + len(stored_reflections) - len(result.acknowledged),
        elapsed_s=round(result.elapsed, 1),
        commands_per_s=round(len(result.outcomes) / result.elapsed, 1),
    )


def _exists(load, ident: str) -> bool:
    try:
        load(ident)
    except Exception:  # noqa: BLE001 - NotFound is the answer we look for
        return False
    return True


# ---------------------------------------------------------------------- retry storms
STORM_CHAINS = 8


def test_retry_storms_give_one_event(store_url: str, figures) -> None:
    app = LedgerApplication(database_url=store_url)
    seeded = seed_school(app, students=0)
    app.close()
    server = ApiServer(store_url)
    app = LedgerApplication(database_url=store_url)
    tally: Counter = Counter()
    try:
        chain = StormChain(server.base_url, app, seeded, tally)
        for n in range(STORM_CHAINS):
            chain.run(n)
    finally:
        app.close()
        server.close()
    assert tally["storms"] == STORM_CHAINS * len(StormChain.STEPS)
    assert tally["requests"] == 3 * tally["storms"]
    assert tally["idempotency_records"] == tally["storms"]
    assert tally["duplicate_events"] == 0
    figures.record(store=store_url.split(":")[0], **dict(tally))


class StormChain:
    """One student's year, every POST of it sent three times at once with one key."""

    STEPS = (
        "enroll",
        "advisor",
        "guardian",
        "user",
        "plan",
        "start",
        "hours",
        "verify",
        "reflection",
        "artifact",
        "note",
        "judgment",
        "credit",
        "approve",
    )

    def __init__(
        self, base_url: str, app: LedgerApplication, seeded: SeededSchool, tally: Counter
    ) -> None:
        self.base_url = base_url
        self.app = app
        self.s = seeded
        self.tally = tally
        self.ids: dict[str, str] = {}
        self.user_ids = {
            role: getattr(seeded.school, role).user_id
            for role in ("advisor", "mentor", "guardian", "registrar")
        }

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.s.tokens[role]}"}

    def command(self, step: str, n: int) -> tuple[str, str, dict[str, Any] | None]:
        i = self.ids
        fw = str(self.s.school.framework_id)
        match step:
            case "enroll":
                body = {
                    "local_id": f"STORM-{n}",
                    "given_name": "Given",
                    "family_name": "Family",
                    "grade_level": "11",
                    "cohort": 2027,
                    "school_code": "1234",
                }
                return "registrar", "/v1/students", body
            case "advisor":
                body = {"user_id": self.user_ids["advisor"]}
                return "registrar", f"/v1/students/{i['student']}/advisors", body
            case "guardian":
                body = {"user_id": self.user_ids["guardian"]}
                return "registrar", f"/v1/students/{i['student']}/guardians", body
            case "user":
                body = {"role": "student", "name": f"Student {n}", "student_id": i["student"]}
                return "admin", "/v1/users", body
            case "plan":
                body = {
                    "kind": "internship",
                    "title": "Lab assistant",
                    "partner_organisation": "Acme Labs",
                    "mentor_id": self.user_ids["mentor"],
                    "starts_on": "2025-09-01",
                    "ends_on": "2026-06-15",
                    "target_competencies": ["CR.1"],
                }
                return "advisor", f"/v1/students/{i['student']}/experiences", body
            case "start":
                return "advisor", f"/v1/experiences/{i['plan']}/start", None
            case "hours":
                body = {"worked_on": "2025-10-02", "hours": "4", "activity": "bench work"}
                return "student", f"/v1/experiences/{i['plan']}/hours", body
            case "verify":
                return "mentor", f"/v1/experiences/{i['plan']}/hours/{i['hours']}/verify", None
            case "reflection":
                body = {"text": "I learned to ask.", "competencies": ["CR.1"]}
                return "student", f"/v1/students/{i['student']}/reflections", body
            case "artifact":
                body = {"kind": "link", "uri": "https://example.org/poster"}
                return "student", f"/v1/students/{i['student']}/artifacts", body
            case "note":
                body = {"text": "Asks good questions."}
                return "mentor", f"/v1/experiences/{i['plan']}/mentor-notes", body
            case "judgment":
                body = {
                    "framework_id": fw,
                    "competency_id": "CR.1",
                    "level": "3",
                    "evidence": [{"kind": "reflection", "id": i["reflection"]}],
                    "rationale": "observed at work",
                }
                return "advisor", f"/v1/students/{i['student']}/judgments", body
            case "credit":
                body = {
                    "area": "CTE",
                    "amount": "0.5",
                    "title": "Career Preparation",
                    "school_year": "2025-26",
                    "term": "S1",
                    "method": "mastery",
                    "basis": {"judgments": [i["judgment"]]},
                    "framework_id": fw,
                    "rule_id": "CTE-PREP",
                }
                return "advisor", f"/v1/students/{i['student']}/credits", body
            case "approve":
                return "registrar", f"/v1/credits/{i['credit']}/approve", None
        raise AssertionError(step)

    def run(self, n: int) -> None:
        self.ids = {}
        for step in self.STEPS:
            role, path, body = self.command(step, n)
            token = self.ids["token"] if role == "student" else self.s.tokens[role]
            before = head(self.app)
            outcomes = storm(self.base_url, Command(step, path, body, token))
            self.check(step, before, outcomes)

    def check(self, step: str, before: int, outcomes: list[Outcome]) -> None:
        statuses = [o.status for o in outcomes]
        assert all(o.acknowledged for o in outcomes), (step, statuses, [o.body for o in outcomes])
        ids = {o.resource_id for o in outcomes}
        assert len(ids) == 1, (step, ids)
        self.ids[step] = ids.pop()
        if step == "enroll":
            self.ids["student"] = self.ids[step]
        if step == "user":
            tokens = [o.body.get("token") for o in outcomes if o.body.get("token")]
            assert len(tokens) == 1, "the token is shown once, on the first answer"
            self.ids["token"] = tokens[0]
        events = events_since(self.app, before)
        topics = Counter(e.topic for e in events)
        records = sum(n for t, n in topics.items() if t.startswith(IDEMPOTENCY))
        written = {t: n for t, n in topics.items() if not t.startswith(IDEMPOTENCY)}
        assert written, (step, topics)
        self.tally["storms"] += 1
        self.tally["requests"] += len(outcomes)
        self.tally["replayed_answers"] += sum(1 for o in outcomes if o.body.get("replayed"))
        self.tally["idempotency_records"] += records
        self.tally["events_written"] += sum(written.values())
        self.tally["duplicate_events"] += sum(n - 1 for n in written.values() if n > 1)
