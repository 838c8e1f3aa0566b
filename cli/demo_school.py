"""A generated school year, built through the application service by the people who would act.

The demo school behind `ledger demo` and `make run`, and (at a larger size) the benchmarks'
generated district. Everything goes through `LedgerApplication`'s public commands with real
actors: an admin publishes the framework and adds users, the registrar enrols, links, approves,
rejects, revokes and records classes, advisors plan experiences, judge and propose credits,
mentors verify hours and write notes, students log hours, write reflections and attach artifacts.

The year is simulated day by day (one pass over ~11 months, each day's acts sorted by time), so
with a `SchoolClock` recorded time follows the school year and increases along the log, and
memory stays flat in the size of the school. A seeded RNG per student makes the same seed give
the same acts in the same order.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from uuid import UUID, uuid5

from ledger.application import LedgerApplication, system_actor
from ledger.domain import (
    Actor,
    Competency,
    CompetencyRequirement,
    CreditRule,
    EvidenceRef,
    FrameworkDefinition,
    Level,
    MasteryMethod,
    Role,
    Scale,
    User,
)

SCHOOL_YEAR = "2025-26"
YEAR_START = date(2025, 8, 18)  # staff set-up; enrolment follows, experiences from September
FIRST_DAY = date(2025, 9, 8)
LAST_DAY = date(2026, 6, 5)  # last day of experiences; decisions follow into the summer
YEAR_END = date(2026, 7, 31)
S1_END = date(2026, 1, 28)

# Namespace of the demo's derived ids (users, artifacts): one per build, so a forced second
# build into the same store never collides with the first.
DEMO_NAMESPACE = UUID("0b7f1f3c-9c55-5a0e-8d3e-4f2b6a1d9e70")
LOGIN_ROLES = (
    Role.STUDENT,
    Role.GUARDIAN,
    Role.MENTOR,
    Role.ADVISOR,
    Role.REGISTRAR,
    Role.REPORTER,
    Role.ADMIN,
)

# ----------------------------------------------------------------------------- the framework
SCALE = Scale(
    (
        Level("IE", "Insufficient evidence", None),
        Level("1", "Beginning", Decimal(1)),
        Level("2", "Developing", Decimal(2)),
        Level("3", "Proficient", Decimal(3), mastery=True),
        Level("4", "Advanced", Decimal(4), mastery=True),
    )
)
CASE_DOC = UUID("5d2c0a64-3a8e-4f0b-9b1e-2c7d4e6f8a10")
CASE_BASE = "https://case.demo-school.invalid/uri/"

# (id, statement, graduation area)
COMPETENCIES = (
    ("CWR", "Career and work readiness", None),
    ("CWR.1", "Communicates professionally with colleagues and clients", "CTE"),
    ("CWR.2", "Collaborates on a team toward a shared goal", "CTE"),
    ("CWR.3", "Uses data and measurement to solve a workplace problem", "MATH"),
    ("CWR.4", "Writes clearly for a workplace audience", "ENG"),
    ("CWR.5", "Follows workplace safety and health practices", "HF"),
    ("CWR.6", "Explains how the workplace serves its community", "SOC"),
)
# Competency -> the mastery credit rule it earns.
RULE_OF = {"CWR.1": "CTE-PREP", "CWR.3": "MATH-APPLIED", "CWR.4": "ENG-WORKPLACE"}
SECONDARY = ("CWR.2", "CWR.5", "CWR.6")
WBL_RULE = "WBL-PAID"
# SCED-style state course codes the district reports the work-based credits under
# (a district maps its own; these keep the demo's state export valid).
STATE_COURSE_OF = {
    "CTE-PREP": "12051",
    "MATH-APPLIED": "02201",
    "ENG-WORKPLACE": "01154",
    "WBL-PAID": "22151",
}
WBL_HOURS = Decimal(180)


def case_id(code: str) -> UUID:
    return uuid5(CASE_DOC, code)


def framework_definition() -> FrameworkDefinition:
    comps = tuple(
        Competency(
            cid,
            statement,
            code=cid,
            parent_id=None if cid == "CWR" else "CWR",
            graduation_area=area,
            external_id=str(case_id(cid)),
            uri=f"{CASE_BASE}{case_id(cid)}",
            item_type="Domain" if cid == "CWR" else "Competency",
            sequence=n,
        )
        for n, (cid, statement, area) in enumerate(COMPETENCIES)
    )
    return FrameworkDefinition(
        title="Career and Work Readiness (demo)",
        scale=SCALE,
        method=MasteryMethod("decaying_average", Decimal("0.65")),
        competencies=comps,
        credit_rules=(
            CreditRule(
                "CTE-PREP",
                "Career Preparation",
                "CTE",
                Decimal("0.5"),
                (CompetencyRequirement("CWR.1", "3"),),
            ),
            CreditRule(
                "MATH-APPLIED",
                "Applied Workplace Mathematics",
                "MATH",
                Decimal("0.5"),
                (CompetencyRequirement("CWR.3", "3"),),
            ),
            CreditRule(
                "ENG-WORKPLACE",
                "Workplace Writing",
                "ENG",
                Decimal("0.5"),
                (CompetencyRequirement("CWR.4", "3"),),
            ),
            # Washington worksite learning: 0.5 credit for 180 verified hours of paid work.
            CreditRule(
                WBL_RULE,
                "Worksite Learning (paid)",
                "ELEC",
                Decimal("0.5"),
                (),
                hours_threshold=WBL_HOURS,
            ),
        ),
        source={
            "kind": "CASE-like",
            "CFDocument": str(CASE_DOC),
            "uri": f"{CASE_BASE}{CASE_DOC}",
        },
    )


# ----------------------------------------------------------------------------- invented people
GIVEN = (
    "Ava", "Ben", "Carmen", "Dev", "Elena", "Farah", "Gabe", "Hana", "Isaac", "Jada", "Kai",
    "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vik",
    "Willa", "Xavier", "Yara", "Zane",
)  # fmt: skip
FAMILY = (
    "Alvarez", "Brooks", "Chen", "Diallo", "Eriksen", "Fontaine", "Garcia", "Haddad", "Ito",
    "Johnson", "Kowalski", "Lopez", "Mensah", "Nguyen", "Okafor", "Patel", "Quintero", "Reyes",
    "Singh", "Tanaka", "Usman", "Vega", "Walker", "Xu", "Yilmaz", "Zhou",
)  # fmt: skip
PARTNERS = (
    "Cascade Regional Hospital", "Puget Sound Credit Union", "Evergreen Parks Department",
    "Northwind Robotics", "Harbor Street Bakery", "Rainier Auto Service", "Sound Transit Shop",
    "Olympic Vet Clinic", "Columbia Public Library", "Skagit Valley Farms",
)  # fmt: skip
KINDS = ("job_shadow", "service_learning", "project", "pre_apprenticeship", "internship")
TITLES = {
    "paid_employment": "Part-time paid work",
    "internship": "Semester internship",
    "job_shadow": "Two-week job shadow",
    "service_learning": "Community service project",
    "project": "Industry-sponsored project",
    "pre_apprenticeship": "Pre-apprenticeship placement",
}
ACTIVITIES = (
    "front desk and client calls", "inventory count and reorder", "shadowed the lead technician",
    "prepared the weekly report", "team stand-up and task board", "safety walk-through",
)  # fmt: skip
REFLECTIONS = (
    "This week I learned how to explain a problem clearly before asking for help.",
    "I kept a log of measurements and used it to show my supervisor where time was lost.",
    "Working with the team taught me to check in early instead of waiting to be asked.",
    "I rewrote my summary for the client twice; the second version was shorter and clearer.",
)
NOTES = (
    "Arrives prepared and asks good questions; needs reminders to document work.",
    "Handled a difficult customer call calmly and followed up in writing.",
    "Took ownership of the inventory spreadsheet and found two ordering errors.",
    "Works safely and well with the crew; ready for more independent tasks.",
)
CLASSES = (  # course id, title, area, SCED-style state course code
    ("ENG11", "English 11", "ENG", "01003"),
    ("ALG2", "Algebra II", "MATH", "02056"),
    ("BIO", "Biology", "SCI", "03051"),
    ("USHIST", "U.S. History", "SOC", "04103"),
    ("SPAN2", "Spanish II", "WL", "24052"),
    ("PE", "Physical Education", "HF", "08001"),
    ("ART1", "Ceramics", "ARTS", "05154"),
)
MARKS = ("A", "A", "A-", "B+", "B", "B", "B-", "C+", "C")


# ----------------------------------------------------------------------------- time
class SchoolClock:
    """Recorded time the generator moves along the school year. Install it as the app's clock:
    ``LedgerApplication(..., clock=SchoolClock())`` or pass it to `build_demo_school`. Every call
    answers a strictly later instant, so events keep their order in recorded time too."""

    def __init__(self, start: datetime | None = None) -> None:
        self._target = start or datetime.combine(YEAR_START, time(8), UTC)
        self._last = self._target - timedelta(microseconds=1)

    def set(self, when: datetime) -> None:
        self._target = when

    def __call__(self) -> datetime:
        self._last = max(self._target, self._last + timedelta(microseconds=1))
        return self._last


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


def _weekdays(start: date, end: date) -> list[date]:
    days = (start + timedelta(n) for n in range((end - start).days + 1))
    return [d for d in days if d.weekday() < 5]


# ----------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class DemoSize:
    """How big a school. 30 x 3 x 12 is the demo (about 5,000 events); the benchmarks' district
    is about 2,000 x 4 x 60 (about a million)."""

    students: int = 30
    experiences_per_student: int = 3
    hours_per_experience: int = 12

    def __post_init__(self) -> None:
        if self.students < 2 or self.experiences_per_student < 1 or self.hours_per_experience < 1:
            raise ValueError("a demo needs 2+ students, 1+ experiences, 1+ hours entries each")


@dataclass
class DemoLogin:
    role: Role
    user_id: UUID
    name: str
    token: str = ""


@dataclass
class DemoSummary:
    """What a build made: the login users (with their one-time tokens), and counts of acts."""

    run: int
    framework_id: UUID | None = None
    logins: dict[Role, DemoLogin] = field(default_factory=dict)
    acts: Counter = field(default_factory=Counter)
    student_ids: list[UUID] = field(default_factory=list)
    flagged_credit_id: UUID | None = None
    revoked_credit_id: UUID | None = None
    # How far the log moved during the build (inside a caller's own `bulk()` block: only what
    # had been flushed by then).
    events: int = 0


Act = tuple[datetime, Callable[[], None]]


class _Cast:
    """The build's people: ids derived from the run, so they are known before they exist."""

    def __init__(self, run: int, size: DemoSize) -> None:
        self.run = run
        self.advisors = [self.actor(Role.ADVISOR, i) for i in range(max(1, size.students // 10))]
        self.mentors = [self.actor(Role.MENTOR, i) for i in range(max(2, size.students // 5))]
        self.registrar = self.actor(Role.REGISTRAR, 0)
        self.admin = self.actor(Role.ADMIN, 0)
        self.reporter = self.actor(Role.REPORTER, 0)

    def uid(self, role: Role, i: int) -> UUID:
        return demo_user_id(self.run, role, i)

    def actor(self, role: Role, i: int, student_id: UUID | None = None) -> Actor:
        return Actor(str(self.uid(role, i)), role, student_id)


def demo_user_id(run: int, role: Role, i: int = 0) -> UUID:
    return uuid5(DEMO_NAMESPACE, f"{run}/{role}/{i}")


class _Experience:
    """One experience's year: what happens on which day, decided up front from the RNG except
    for the ids the ledger hands back."""

    def __init__(self, school: _Build, st: _Student, k: int, rng: random.Random) -> None:
        self.b, self.st, self.k, self.rng = school, st, k, rng
        size = school.size
        i = st.index
        self.paid = k == 0 and i % 3 == 0
        self.kind = "paid_employment" if self.paid else ("internship" if k == 0 else None)
        if self.kind is None:
            self.kind = KINDS[(i + k) % len(KINDS)]
        n_exp = size.experiences_per_student
        if k == 0:
            self.starts_on, self.ends_on = FIRST_DAY, LAST_DAY
        else:
            span = (LAST_DAY - FIRST_DAY).days // max(1, n_exp - 1)
            self.starts_on = FIRST_DAY + timedelta((k - 1) * span + rng.randint(0, 6))
            length = 13 if self.kind == "job_shadow" else span - 20
            self.ends_on = min(LAST_DAY, self.starts_on + timedelta(max(4, length)))
        while self.starts_on.weekday() >= 5:
            self.starts_on += timedelta(1)
        self.target = list(RULE_OF)[(i + k) % len(RULE_OF)]
        self.secondary = SECONDARY[(i + k) % len(SECONDARY)]
        self.mentor = (
            school.cast.mentors[0]
            if i == 0 and k == 0
            else school.cast.mentors[rng.randrange(len(school.cast.mentors))]
        )
        # Students 0 and 1 carry the stories a demo must show: a credit whose basis is
        # retracted after approval (flagged) and a revoked credit.
        self.scenario = None
        if k == min(1, n_exp - 1) and i in (0, 1):
            self.scenario = "flag" if i == 0 else "revoke"
        self.withdrawn_on: date | None = None
        if self.scenario is None and k > 0 and rng.random() < 0.05:
            self.withdrawn_on = self.starts_on + (self.ends_on - self.starts_on) * 2 // 3
        # Work days: exactly n entries spread over the weekdays (several a day if needed).
        n = max(size.hours_per_experience, 25) if self.paid else size.hours_per_experience
        days = _weekdays(self.starts_on, self.ends_on)
        per_day = -(-n // len(days))
        slots = [(d, j) for d in days for j in range(per_day)]
        picked = sorted(rng.sample(range(len(slots)), n))
        self.work = [slots[p] for p in picked]
        cap = Decimal(24) / per_day
        choices = [Decimal(8)] if self.paid else [Decimal(h) / 2 for h in range(4, 9)]
        self.hours = [
            min(rng.choice(choices), cap).quantize(Decimal("0.25"), ROUND_DOWN) for _ in picked
        ]
        self.verify_lag = [rng.randint(1, 3) for _ in picked]
        forced_dispute = i % 5 == 1 and k == 0 and n > 2
        self.disputed = {e for e in range(n) if rng.random() < 0.04 or (forced_dispute and e == 2)}
        self.revise = rng.random() < 0.35
        self.wrong_judgment = i % 4 == 2 and k == min(1, n_exp - 1)
        self.ie_judgment = rng.random() < 0.25
        self.final_level = "3" if self.scenario else rng.choice(("2", "3", "3", "3", "4"))
        self.approve = bool(self.scenario) or rng.random() < 0.85
        self.artifact_kind = rng.choice(("document", "photo", "link"))
        # What the ledger hands back as the year goes.
        self.id: UUID | None = None
        self.next_work = 0
        self.reviews: list[tuple[date, int]] = []
        self.entries: dict[int, UUID] = {}  # logged, not yet reviewed
        self.verified = Decimal(0)
        self.first_verified: UUID | None = None
        self.reflections: list[UUID] = []
        self.notes: list[UUID] = []
        self.artifact: UUID | None = None
        self.mid_judgment: UUID | None = None
        self.final_judgment: UUID | None = None
        self.credit: UUID | None = None
        self.hours_credit: UUID | None = None
        # The days on which acts_on can yield something besides work and reviews: most days of
        # the year an experience has nothing to do, and asking it each day was a fifth of an
        # import's CPU.
        self.mid, self.late = self.day(0.45), self.day(0.8)
        self.fixed_days = {self.starts_on - timedelta(7), self.starts_on, self.late}
        self.fixed_days.update(self.mid + timedelta(n) for n in range(6))
        self.fixed_days.update(self.ends_on + timedelta(n) for n in (0, 4, 5, 7, 12, 26, 33))
        if self.withdrawn_on is not None:
            self.fixed_days.add(self.withdrawn_on)

    # -- the calendar of this experience
    def day(self, fraction: float) -> date:
        return self.starts_on + timedelta(int((self.ends_on - self.starts_on).days * fraction))

    def due(self, day: date) -> bool:
        """Whether acts_on(day) may yield anything (if False, it would yield nothing)."""
        if day in self.fixed_days:
            return True
        if self.id is None:
            return False
        work = self.work
        return (self.next_work < len(work) and work[self.next_work][0] <= day) or bool(
            self.reviews and self.reviews[0][0] <= day
        )

    def acts_on(self, day: date) -> Iterator[Act]:
        fixed = day in self.fixed_days
        if fixed and day == self.starts_on - timedelta(7):
            yield _at(day, 10), self.plan
        if self.id is None:
            return
        if fixed and day == self.starts_on:
            yield _at(day, 8), self.start
        # Days only move forward: a cursor over the work days, a heap of reviews due.
        while self.next_work < len(self.work) and self.work[self.next_work][0] <= day:
            e, (work_day, j) = self.next_work, self.work[self.next_work]
            self.next_work += 1
            if work_day == day and self.active(day):
                yield _at(day, 17, min(59, 30 + j)), lambda e=e: self.log(e)
        while self.reviews and self.reviews[0][0] <= day:
            _due, e = heapq.heappop(self.reviews)
            yield _at(day, 9, e % 60), lambda e=e: self.review(e)
        if not fixed:
            return  # every act below falls on one of the fixed days
        mid = self.mid
        if day == mid and self.active(day):
            yield _at(day, 20), self.reflect
        if day == mid + timedelta(1) and self.active(day):
            yield _at(day, 16), lambda: self.note("2")
        if day == mid + timedelta(2) and self.revise and self.reflections:
            yield _at(day, 21), self.revise_reflection
        if day == mid + timedelta(3) and self.notes and self.reflections:
            yield _at(day, 11), self.judge_mid
        if day == mid + timedelta(4) and self.notes and self.ie_judgment:
            yield _at(day, 11), self.judge_insufficient
        if day == mid + timedelta(5) and self.notes and self.wrong_judgment:
            yield _at(day, 11), self.judge_wrongly
        if self.withdrawn_on is not None and day == self.withdrawn_on:
            yield _at(day, 15), self.withdraw
        if not self.active(day):
            return
        if day == self.late:
            yield _at(day, 19), self.attach
            yield _at(day, 20), self.reflect
        if day == self.ends_on:
            yield _at(day, 16), lambda: self.note(self.final_level)
        if day == self.ends_on + timedelta(4):
            yield _at(day, 15), self.complete
        if day == self.ends_on + timedelta(5):
            yield _at(day, 11), self.judge_final
        if day == self.ends_on + timedelta(7):
            yield _at(day, 10), self.propose
        if day == self.ends_on + timedelta(12):
            yield _at(day, 14), self.decide
        if day == self.ends_on + timedelta(26) and self.scenario == "flag":
            yield _at(day, 10), self.retract_behind_credit
        if day == self.ends_on + timedelta(33) and self.scenario == "revoke":
            yield _at(day, 10), self.revoke

    def active(self, day: date) -> bool:
        return self.withdrawn_on is None or day < self.withdrawn_on

    # -- the acts
    def plan(self) -> None:
        st, b = self.st, self.b
        self.id = b.cmd(
            "plan_experience",
            st.advisor,
            st.id,
            kind=self.kind,
            title=TITLES[self.kind],
            partner_organisation=PARTNERS[self.rng.randrange(len(PARTNERS))],
            mentor_id=UUID(self.mentor.user_id),
            starts_on=self.starts_on,
            ends_on=self.ends_on,
            target_competencies=[self.target, self.secondary],
            paid=self.paid,
        )

    def start(self) -> None:
        self.b.cmd("start_experience", self.st.advisor, self.id, on=self.starts_on)

    def log(self, e: int) -> None:
        self.entries[e] = self.b.cmd(
            "log_hours",
            self.st.actor,
            self.id,
            worked_on=self.work[e][0],
            hours=self.hours[e],
            activity=ACTIVITIES[e % len(ACTIVITIES)],
        )
        due = self.work[e][0] + timedelta(self.verify_lag[e])
        heapq.heappush(self.reviews, (due, e))
        self.b.on(due, self.st.index)

    def review(self, e: int) -> None:
        if e in self.disputed:
            reason = "supervisor's timesheet shows a shorter shift"
            self.b.cmd("dispute_hours", self.mentor, self.id, self.entries.pop(e), reason)
            return
        entry = self.entries.pop(e)
        self.b.cmd("verify_hours", self.mentor, self.id, entry)
        self.verified += self.hours[e]
        self.first_verified = self.first_verified or entry

    def reflect(self) -> None:
        n = len(self.reflections)
        rid = self.b.cmd(
            "submit_reflection",
            self.st.actor,
            self.st.id,
            text=REFLECTIONS[(self.st.index + self.k + n) % len(REFLECTIONS)],
            experience_id=self.id,
            competencies=[self.target],
        )
        self.reflections.append(rid)

    def revise_reflection(self) -> None:
        self.b.cmd(
            "revise_reflection",
            self.st.actor,
            self.reflections[0],
            text=REFLECTIONS[(self.st.index + self.k) % len(REFLECTIONS)]
            + " Looking back, I would also ask for feedback sooner.",
            reason="added what I would do differently",
            competencies=[self.target, self.secondary],
        )

    def attach(self) -> None:
        digest = hashlib.sha256(f"demo:{self.b.run}:{self.st.index}:{self.k}".encode()).hexdigest()
        kind = self.artifact_kind
        ext = {"document": "pdf", "photo": "jpg", "link": "html"}[kind]
        host = "portfolio" if kind == "link" else "files"
        self.artifact = self.b.cmd(
            "attach_artifact",
            self.st.actor,
            self.st.id,
            kind=kind,
            uri=f"https://{host}.demo-school.invalid/{digest[:16]}.{ext}",
            sha256=None if kind == "link" else digest,
            size=None if kind == "link" else self.rng.randint(40_000, 4_000_000),
            caption="work sample",
            experience_id=self.id,
            competencies=[self.target],
        )

    def note(self, level: str) -> None:
        ratings = {self.target: level, self.secondary: self.rng.choice(("2", "3"))}
        nid = self.b.cmd(
            "write_mentor_note",
            self.mentor,
            self.id,
            text=NOTES[(self.st.index + len(self.notes)) % len(NOTES)],
            ratings=ratings,
            framework_id=self.b.framework_id,
        )
        self.notes.append(nid)

    def _judge(
        self, competency: str, level: str, evidence: list[EvidenceRef], why: str, **kw
    ) -> UUID:
        return self.b.cmd(
            "record_judgment",
            self.st.advisor,
            self.st.id,
            framework_id=self.b.framework_id,
            competency_id=competency,
            level=level,
            evidence=evidence,
            rationale=why,
            effective_on=self.b.today,
            **kw,
        )

    def judge_mid(self) -> None:
        ev = [
            EvidenceRef("reflection", self.reflections[0]),
            EvidenceRef("mentor_note", self.notes[0]),
        ]
        if self.first_verified is not None:
            ev.append(EvidenceRef("hours", self.id, self.first_verified))
        self.mid_judgment = self._judge(self.target, "2", ev, "developing: mentor's mid-point note")

    def judge_insufficient(self) -> None:
        ev = [EvidenceRef("mentor_note", self.notes[0])]
        self._judge(self.secondary, "IE", ev, "one observation so far; not enough to judge")

    def judge_wrongly(self) -> None:
        jid = self._judge(
            self.secondary, "2", [EvidenceRef("mentor_note", self.notes[0])], "mid-point check"
        )
        self.b.cmd(
            "retract_judgment", self.st.advisor, jid, "recorded against the wrong competency"
        )

    def withdraw(self) -> None:
        self.b.cmd(
            "withdraw_experience",
            self.st.advisor,
            self.id,
            "placement ended early: the partner closed the site",
            on=self.withdrawn_on,
        )

    def complete(self) -> None:
        self.b.cmd("complete_experience", self.st.advisor, self.id, on=self.ends_on)

    def judge_final(self) -> None:
        ev = [EvidenceRef("mentor_note", self.notes[-1])]
        ev += [EvidenceRef("reflection", r) for r in self.reflections[-1:]]
        if self.artifact is not None:
            ev.append(EvidenceRef("artifact", self.artifact))
        self.final_judgment = self._judge(
            self.target,
            self.final_level,
            ev,
            "end-of-placement review with the mentor",
            supersedes=self.mid_judgment,
        )

    def propose(self) -> None:
        st, b = self.st, self.b
        rule = RULE_OF[self.target]
        if (
            self.final_judgment is not None
            and self.final_level in ("3", "4")
            and rule not in st.claimed
        ):
            st.claimed.add(rule)
            self.credit = b.cmd(
                "propose_credit",
                st.advisor,
                st.id,
                area=b.rules[rule].area,
                amount=b.rules[rule].amount,
                title=b.rules[rule].title,
                school_year=SCHOOL_YEAR,
                term="S1" if self.ends_on <= S1_END else "S2",
                method="mastery",
                basis={"judgments": [str(self.final_judgment)]},
                state_course_code=STATE_COURSE_OF[rule],
                framework_id=b.framework_id,
                rule_id=rule,
            )
        if self.paid and self.verified >= WBL_HOURS and WBL_RULE not in st.claimed:
            st.claimed.add(WBL_RULE)
            r = b.rules[WBL_RULE]
            self.hours_credit = b.cmd(
                "propose_credit",
                st.advisor,
                st.id,
                area=r.area,
                amount=r.amount,
                title=r.title,
                school_year=SCHOOL_YEAR,
                term="FY",
                method="hours",
                basis={"experiences": [str(self.id)]},
                state_course_code=STATE_COURSE_OF[WBL_RULE],
                framework_id=b.framework_id,
                rule_id=WBL_RULE,
            )

    def decide(self) -> None:
        b = self.b
        for cid in (self.credit, self.hours_credit):
            if cid is None:
                continue
            if self.approve or cid == self.hours_credit:
                b.cmd("approve_credit", b.cast.registrar, cid, on=b.today)
            else:
                b.cmd(
                    "reject_credit",
                    b.cast.registrar,
                    cid,
                    "the evidence does not yet show independent performance",
                )
                self.credit = None

    def retract_behind_credit(self) -> None:
        if self.final_judgment is None or self.credit is None:
            return
        self.b.cmd(
            "retract_judgment",
            self.st.advisor,
            self.final_judgment,
            "the cited reflection was written for another course",
        )
        self.b.summary.flagged_credit_id = self.credit

    def revoke(self) -> None:
        if self.credit is None:
            return
        self.b.cmd(
            "revoke_credit",
            self.b.cast.registrar,
            self.credit,
            "the partner could not confirm the placement",
        )
        self.b.summary.revoked_credit_id = self.credit


class _Student:
    def __init__(self, b: _Build, index: int) -> None:
        self.b, self.index = b, index
        self.rng = random.Random(f"{b.seed}/{b.run}/student/{index}")
        self.local_id = f"D{b.run}-{index + 1:05d}"
        self.given = GIVEN[self.rng.randrange(len(GIVEN))]
        self.family = FAMILY[self.rng.randrange(len(FAMILY))]
        self.grade = self.rng.choice(("10", "11", "12"))
        self.advisor = b.cast.advisors[index % len(b.cast.advisors)]
        # Every tenth student is a younger sibling: the same guardian as the one before.
        self.guardian_index = index - 1 if index % 10 == 9 else index
        self.id: UUID | None = None
        self.actor: Actor | None = None
        self.claimed: set[str] = set()
        self.enrol_day = YEAR_START + timedelta(3 + index % 5)
        self.experiences = [
            _Experience(b, self, k, self.rng) for k in range(b.size.experiences_per_student)
        ]
        for day in (self.enrol_day, S1_END, LAST_DAY):
            b.on(day, index)
        for x in self.experiences:
            for day in x.fixed_days:
                b.on(day, index)
            for day, _j in x.work:
                b.on(day, index)

    def acts_on(self, day: date) -> Iterator[Act]:
        if day == self.enrol_day:
            yield _at(day, 9, self.index % 60), self.enroll
        if self.id is None:
            return
        if day in (S1_END, LAST_DAY):
            yield _at(day, 13), lambda: self.record_classes(day)
        for x in self.experiences:
            if x.due(day):
                yield from x.acts_on(day)

    def enroll(self) -> None:
        b = self.b
        self.id = b.cmd(
            "enroll_student",
            b.cast.registrar,
            local_id=self.local_id,
            given_name=self.given,
            family_name=self.family,
            grade_level=self.grade,
            cohort=2025 + (13 - int(self.grade)),
            school_code=b.school_code,
            # Washington SSIDs: 10 digits, never starting with 0.
            state_student_id=f"{5_100_000_000 + self.index * 37 + b.seed % 37:010d}",
            enrolled_on=self.enrol_day,
        )
        b.summary.student_ids.append(self.id)
        b.cmd("assign_advisor", b.cast.registrar, self.id, UUID(self.advisor.user_id))
        guardian = b.cast.uid(Role.GUARDIAN, self.guardian_index)
        if self.guardian_index == self.index:
            b.add_user(Role.GUARDIAN, self.index, f"Guardian of {self.local_id}")
        b.cmd("link_guardian", b.cast.registrar, self.id, guardian)
        b.add_user(Role.STUDENT, self.index, f"{self.given} {self.family}", student_id=self.id)
        self.actor = b.cast.actor(Role.STUDENT, self.index, self.id)

    def record_classes(self, day: date) -> None:
        b = self.b
        term = "S1" if day == S1_END else "S2"
        picks = self.rng.sample(range(len(CLASSES)), 3)
        for p in sorted(picks):
            course, title, area, code = CLASSES[p]
            b.cmd(
                "record_class",
                b.cast.registrar,
                self.id,
                course_id=f"{course}-{term}",
                title=f"{title} ({term})",
                area=area,
                credits_earned=Decimal("0.5"),
                credits_attempted=Decimal("0.5"),
                mark=self.rng.choice(MARKS),
                school_year=SCHOOL_YEAR,
                term=term,
                state_course_code=code,
                completed_on=day,
            )


class _Build:
    def __init__(
        self,
        app: LedgerApplication,
        size: DemoSize,
        seed: int,
        run: int,
        school_code: str,
        clock: SchoolClock | None,
    ) -> None:
        self.app, self.size, self.seed, self.run = app, size, seed, run
        self.school_code, self.clock = school_code, clock
        self.cast = _Cast(run, size)
        self.summary = DemoSummary(run=run)
        self.framework_id: UUID | None = None
        self.rules: dict[str, CreditRule] = {}
        self.today = YEAR_START
        # Day -> the students who may have an act that day (a superset: acts_on decides). Most
        # days most students have none, and asking every student every day cost more than
        # the acts of a small school.
        self.calendar: dict[date, set[int]] = {}

    def on(self, day: date, student: int) -> None:
        self.calendar.setdefault(day, set()).add(student)

    def cmd(self, name: str, *args, **kwargs) -> UUID:
        result = getattr(self.app, name)(*args, **kwargs)
        self.summary.acts[name] += 1
        return UUID(result.id)

    def add_user(
        self, role: Role, i: int, name: str, student_id: UUID | None = None
    ) -> tuple[UUID, str]:
        actor = system_actor() if role is Role.ADMIN else self.cast.admin
        result, token = self.app.add_user(
            actor,
            role=role,
            name=name,
            student_id=student_id,
            user_id=self.cast.uid(role, i),
            external_id=f"demo:{self.run}:{role}:{i}",
        )
        self.summary.acts["add_user"] += 1
        uid = UUID(result.id)
        if i == 0:
            self.summary.logins[role] = DemoLogin(role, uid, name, token)
        return uid, token

    def set_up(self) -> None:
        """Staff and the framework, on the first day."""
        c = self.cast
        self.add_user(Role.ADMIN, 0, "Demo Admin")
        d = framework_definition()
        self.framework_id = UUID(self.app.publish_framework(c.admin, d).id)
        self.summary.acts["publish_framework"] += 1
        self.summary.framework_id = self.framework_id
        self.rules = {r.id: r for r in d.credit_rules}
        self.add_user(Role.REGISTRAR, 0, "Demo Registrar")
        self.add_user(Role.REPORTER, 0, "Demo District Reporter")
        for i in range(len(c.advisors)):
            self.add_user(Role.ADVISOR, i, f"Advisor {i + 1}")
        for i in range(len(c.mentors)):
            self.add_user(Role.MENTOR, i, f"Mentor {i + 1} ({PARTNERS[i % len(PARTNERS)]})")

    def run_year(self, progress: Callable[[int, int], None] | None) -> None:
        days = [YEAR_START + timedelta(n) for n in range((YEAR_END - YEAR_START).days + 1)]
        self.tick(_at(YEAR_START, 8))
        self.set_up()
        students = [_Student(self, i) for i in range(self.size.students)]
        for n, day in enumerate(days, 1):
            self.today = day
            acts = [
                (when, s, k, fn)
                for s in sorted(self.calendar.pop(day, ()))
                for k, (when, fn) in enumerate(students[s].acts_on(day))
            ]
            # Same instant: the earlier student first, then that student's own order.
            acts.sort(key=lambda a: (a[0], a[1], a[2]))
            for when, _s, _k, fn in acts:
                self.tick(when)
                fn()
            if progress is not None:
                progress(n, len(days))

    def tick(self, when: datetime) -> None:
        if self.clock is not None:
            self.clock.set(when)


def build_demo_school(
    app: LedgerApplication,
    *,
    size: DemoSize | None = None,
    seed: int = 2025,
    run: int | None = None,
    school_code: str = "1234",
    clock: SchoolClock | None = None,
    chunk_events: int | None = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> DemoSummary:
    """Builds a school year into ``app``.

    ``clock``: a `SchoolClock` to record the year at its own dates; it is installed as
    ``app.clock`` for the build (None: recorded time is the app's clock, effective dates still
    follow the year). ``chunk_events``: write through `LedgerApplication.bulk` in chunks of this
    many events (None: one transaction per command). ``run``: which build of the store this is
    (ids and local ids carry it); None picks the next free one. ``progress(done, total)`` is
    called after each simulated day.
    """
    size = size or DemoSize()
    if run is None:
        run = next_run(app)
    b = _Build(app, size, seed, run, school_code, clock)
    before = app.position()
    saved_clock = app.clock
    if clock is not None:
        app.clock = clock
    try:
        with app.bulk(chunk_events) if chunk_events else nullcontext():
            b.run_year(progress)
    finally:
        app.clock = saved_clock
    b.summary.events = app.position() - before
    return b.summary


# ----------------------------------------------------------------------------- logins
def next_run(app: LedgerApplication) -> int:
    run = 0
    while app.exists(User, demo_user_id(run, Role.ADMIN)):
        run += 1
    return run


def login_ids(run: int) -> dict[Role, UUID]:
    """The demo's login users: the first student, their guardian, the mentor and advisor of
    that student's first experience, the registrar, the reporter and the admin."""
    return {role: demo_user_id(run, role, 0) for role in LOGIN_ROLES}


def mint_demo_tokens(app: LedgerApplication) -> dict[Role, DemoLogin] | None:
    """Fresh tokens for the newest demo build's login users (tokens are stored hashed, so the
    first ones cannot be shown again). None when the store holds no demo school."""
    run = next_run(app) - 1
    if run < 0:
        return None
    logins = {}
    for role, uid in login_ids(run).items():
        if not app.exists(User, uid):
            continue
        _result, token = app.issue_token(system_actor(), uid)
        logins[role] = DemoLogin(role, uid, app.user(uid).name, token)
    return logins
