"""Bench 2: the same command (log hours) on a student with 10 earlier events and on one with
10,000, per-command time, warm (the aggregate cache holds the student's aggregates, as in a
running server) and cold (a new process: the first command after start).

The long history is made through the application service and spread the way a student's record
grows: past experiences with their hours logged and verified, a current experience with a
year's hours, reflections, judgments citing them, mentor notes. The short-history student is made
afresh for each repetition, so it stays short while the long one barely grows.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from bench.common import POSTGRES_URL, console, pg_schema, show, with_schema, write_result
from bench.school import ENDS, FRAMEWORK, STARTS, Cast
from ledger.application import LedgerApplication
from ledger.domain import EvidenceRef

TARGET = 1.3


class Student:
    def __init__(self, cast: Cast, local_id: str, framework_id: UUID) -> None:
        self.cast = cast
        self.app = cast.app
        self.framework_id = framework_id
        self.events: Counter[str] = Counter()
        self.login, self.sid, self.xid = cast.student(local_id)
        # enrolled, advisor assigned, experience planned and started
        self.events.update(student=2, experience=2)
        self.logged = 0

    def _hours(self, xid: UUID, entries: int, verify: bool = True) -> None:
        for i in range(entries):
            # At most an hour a day, so the benchmarked slices still fit in the day's 24.
            day = STARTS + timedelta(days=i % (ENDS - STARTS).days)
            entry = self.app.log_hours(
                self.login, xid, worked_on=day, hours=Decimal("0.25"), activity="Assisted"
            ).id
            self.events["hours"] += 1
            if verify:
                self.app.verify_hours(self.cast.mentor, xid, UUID(entry))
                self.events["hours"] += 1

    def _past_experience(self, entries: int) -> None:
        xid = UUID(
            self.app.plan_experience(
                self.cast.advisor,
                self.sid,
                kind="job_shadow",
                title="Shadow",
                partner_organisation="Clinic",
                mentor_id=UUID(self.cast.mentor.user_id),
                starts_on=STARTS,
                ends_on=ENDS,
            ).id
        )
        self.app.start_experience(self.cast.advisor, xid)
        self._hours(xid, entries)
        self.app.complete_experience(self.cast.advisor, xid)
        self.events["experience"] += 3

    def _reflections_and_judgments(self, reflections: int, judgments: int) -> None:
        ids = []
        for _ in range(reflections):
            r = self.app.submit_reflection(
                self.login,
                self.sid,
                text="I asked the lead how the schedule is built and drafted one.",
                experience_id=self.xid,
                competencies=["CR.1"],
            )
            ids.append(UUID(r.id))
            self.events["reflection"] += 1
        for j in range(judgments):
            self.app.record_judgment(
                self.cast.advisor,
                self.sid,
                framework_id=self.framework_id,
                competency_id="CR.1" if j % 2 else "CR.2",
                level=str(1 + j % 3),
                evidence=[EvidenceRef("reflection", ids[j % len(ids)])],
                rationale="Seen at the site visit",
            )
            self.events["judgment"] += 1

    def _notes(self, notes: int) -> None:
        for _ in range(notes):
            self.app.write_mentor_note(
                self.cast.mentor, self.xid, text="Punctual; asks good questions."
            )
            self.events["mentor_note"] += 1

    def build_history(self, total: int) -> None:
        """Earlier events up to about ``total``, spread as described in the module docstring."""
        if total <= 20:
            self._hours(self.xid, 2)  # 4 events: with the 4 above and these 2, ten
            self._reflections_and_judgments(1, 1)
            self.logged = 2
            return
        # Of the rest: hours 60% (a fifth on the current experience, logged and verified),
        # reflections 15%, judgments 10%, mentor notes the remainder.
        rest = total - 4 - 4 * 3
        self._hours(self.xid, int(rest * 0.1))
        self.logged = int(rest * 0.1)
        for _ in range(4):
            self._past_experience(int(rest * 0.05))
        self._reflections_and_judgments(int(rest * 0.15), int(rest * 0.1))
        self._notes(total - sum(self.events.values()))

    def command(self) -> float:
        t0 = time.perf_counter()
        self.cast.log(self.login, self.xid, self.logged)
        self.logged += 1
        return time.perf_counter() - t0


def run(quick: bool = False) -> dict[str, Any]:
    reps, per_rep = (2, 20) if quick else (5, 100)
    long_total = 1_000 if quick else 10_000
    with pg_schema() as schema:
        url = with_schema(POSTGRES_URL, schema)
        app = LedgerApplication(database_url=url)
        try:
            cast = Cast.make(app)
            fw = UUID(app.publish_framework(cast.admin, FRAMEWORK).id)
            t0 = time.perf_counter()
            big = Student(cast, "LONG", fw)
            big.build_history(long_total)
            console.print(
                f"[dim]built a history of {sum(big.events.values()):,} events "
                f"in {time.perf_counter() - t0:.0f} s: {dict(big.events)}[/dim]"
            )
            short_ms, long_ms = [], []
            short_sizes = []
            for rep in range(reps):
                small = Student(cast, f"SHORT{rep}", fw)
                small.build_history(10)
                short_sizes.append(sum(small.events.values()))
                small.command(), big.command()  # each side's cache is warm, as in a server
                # Alternating, so drift of the machine touches both alike.
                s_times, l_times = [], []
                for _ in range(per_rep):
                    s_times.append(small.command())
                    l_times.append(big.command())
                short_ms.append(1000 * sum(s_times) / per_rep)
                long_ms.append(1000 * sum(l_times) / per_rep)
        finally:
            app.close()
        cold_short, cold_long = [], []
        for _ in range(reps):
            fresh = LedgerApplication(database_url=url)
            try:
                fresh_cast = Cast(fresh, cast.admin, cast.advisor, cast.mentor)
                for student, out in ((small, cold_short), (big, cold_long)):
                    student.cast, student.app = fresh_cast, fresh
                    out.append(1000 * student.command())
            finally:
                fresh.close()

    def med(xs: list[float]) -> float:
        return sorted(xs)[len(xs) // 2]

    warm_ratio = med(long_ms) / med(short_ms)
    cold_ratio = med(cold_long) / med(cold_short)
    show(
        f"Bench 2: log hours against history (ms per command, median of {reps})",
        [
            "cache",
            "10 earlier events",
            f"{sum(big.events.values()):,} earlier events",
            "ratio",
            "target",
            "met",
        ],
        [
            [
                "warm",
                med(short_ms),
                med(long_ms),
                warm_ratio,
                f"<= {TARGET}",
                "yes" if warm_ratio <= TARGET else "NO",
            ],
            [
                "cold (first command of a process)",
                med(cold_short),
                med(cold_long),
                cold_ratio,
                "(info)",
                "",
            ],
        ],
    )
    payload = {
        "quick": quick,
        "command": "log_hours (one HoursLogged event)",
        "short_history_events": short_sizes,
        "long_history_events": dict(big.events),
        "long_history_total": sum(big.events.values()),
        "commands_per_repetition": per_rep,
        "repetitions": reps,
        "warm": {
            "short_ms": med(short_ms),
            "long_ms": med(long_ms),
            "ratio": warm_ratio,
            "target": TARGET,
            "met": warm_ratio <= TARGET,
            "samples_short_ms": short_ms,
            "samples_long_ms": long_ms,
        },
        "cold": {
            "short_ms": med(cold_short),
            "long_ms": med(cold_long),
            "ratio": cold_ratio,
            "samples_short_ms": cold_short,
            "samples_long_ms": cold_long,
        },
    }
    write_result("history-quick" if quick else "history", payload)
    return payload
