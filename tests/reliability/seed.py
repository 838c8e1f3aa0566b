"""A school for load tests, built through the application service, with a token per person."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from ledger.application import LedgerApplication
from ledger.domain import Actor, Role
from tests.builders import School
from tests.reliability.load import Command

HOURS_LOGGED = "competency-ledger/Experience.HoursLogged"
REFLECTION_SUBMITTED = "competency-ledger/Reflection.Submitted"


@dataclass
class Pupil:
    id: UUID
    actor: Actor
    token: str
    experience_id: UUID


@dataclass
class SeededSchool:
    school: School
    tokens: dict[str, str]  # role -> token (admin, registrar, advisor, mentor, guardian)
    pupils: list[Pupil] = field(default_factory=list)


def token_for(app: LedgerApplication, school: School, actor: Actor) -> str:
    _result, token = app.issue_token(school.admin, UUID(actor.user_id))
    return token


def seed_school(app: LedgerApplication, students: int) -> SeededSchool:
    school = School.build(app)
    admin_user, admin_token = app.add_user(school.admin, role=Role.ADMIN, name="Admin")
    tokens = {"admin": admin_token}
    for role in ("registrar", "advisor", "mentor", "guardian"):
        tokens[role] = token_for(app, school, getattr(school, role))
    seeded = SeededSchool(school, tokens)
    for n in range(students):
        sid, actor = school.enroll(f"R{n:04d}")
        xid = school.experience(sid)
        seeded.pupils.append(Pupil(sid, actor, token_for(app, school, actor), xid))
    return seeded


def hours_command(p: Pupil, n: int) -> Command:
    day = date(2025, 9, 1) + timedelta(days=n % 280)
    return Command(
        "log_hours",
        f"/v1/experiences/{p.experience_id}/hours",
        {"worked_on": day.isoformat(), "hours": str(Decimal(1) + n % 4), "activity": "shift"},
        p.token,
    )


def reflection_command(p: Pupil, n: int) -> Command:
    return Command(
        "submit_reflection",
        f"/v1/students/{p.id}/reflections",
        {"text": f"Reflection {n}: I learned to ask.", "competencies": ["CR.1"]},
        p.token,
    )


def mixed_plans(pupils: list[Pupil], writers: int, per_writer: int) -> list[list[Command]]:
    """Writers spread over the pupils, two hours entries to each reflection. Each pupil's
    hours fall on successive days so no day passes the 24-hour limit."""
    seq = dict.fromkeys(range(len(pupils)), 0)
    plans: list[list[Command]] = [[] for _ in range(writers)]
    for n in range(per_writer):
        for w in range(writers):
            i = (w + n * writers) % len(pupils)
            make = reflection_command if (n + w) % 3 == 0 else hours_command
            plans[w].append(make(pupils[i], seq[i]))
            seq[i] += 1
    return plans
