"""Work-based learning experiences and the hours logged on them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from ledger.domain.base import CommandContext, LedgerAggregate, check_plausible_date
from ledger.errors import (
    ExperienceNotActive,
    InvalidCommand,
    InvalidHours,
    NotPermitted,
    StateConflict,
)

EXPERIENCE_KINDS = (
    "career_fair",
    "job_shadow",
    "informational_interview",
    "internship",
    "pre_apprenticeship",
    "paid_employment",
    "service_learning",
    "project",
)
MAX_HOURS_PER_DAY = Decimal(24)


class Experience(LedgerAggregate):
    """One experience. Hours entries live on it in compact form (hours and status only; the
    activity text stays in the event), so loading it costs little even after a year of logging."""

    TOPIC = "competency-ledger/Experience"
    # Entries grow with every hour logged and are replaced, never changed in place (see the apply
    # methods): a command's copy copies these maps one level (LedgerAggregate.__deepcopy__).
    SHALLOW_MAPS = ("entries", "day_hours")

    class Planned(LedgerAggregate.Created):
        TOPIC = "competency-ledger/Experience.Planned"
        student_id: UUID
        kind: str
        title: str
        partner_organisation: str
        mentor_id: str | None
        starts_on: date
        ends_on: date
        target_competencies: list
        paid: bool

        def apply(self, x: Experience) -> None:
            x.student_id = self.student_id
            x.kind = self.kind
            x.title = self.title
            x.mentor_id = self.mentor_id
            x.starts_on = self.starts_on
            x.ends_on = self.ends_on
            x.paid = self.paid
            x.target_competencies = list(self.target_competencies)
            x.status = "planned"
            x.entries = {}  # entry id -> [hours, status, work date]; replaced, never mutated
            x.day_hours = {}  # work date (iso) -> hours logged that day

    class Created(LedgerAggregate.Created):
        """Unused: pins the topic of the base class's creation event."""

        TOPIC = "competency-ledger/Experience.Created"

    class Started(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Experience.Started"

        def apply(self, x: Experience) -> None:
            x.status = "started"

    class Completed(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Experience.Completed"

        def apply(self, x: Experience) -> None:
            x.status = "completed"

    class Withdrawn(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Experience.Withdrawn"
        reason: str

        def apply(self, x: Experience) -> None:
            x.status = "withdrawn"

    class MentorReassigned(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Experience.MentorReassigned"
        mentor_id: str
        reason: str

        def apply(self, x: Experience) -> None:
            x.mentor_id = self.mentor_id

    class HoursLogged(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Experience.HoursLogged"
        entry_id: UUID
        hours: Decimal
        activity: str

        def apply(self, x: Experience) -> None:
            day = self.effective_date.isoformat()
            x.entries[str(self.entry_id)] = [self.hours, "logged", day]
            x.day_hours[day] = x.day_hours.get(day, Decimal(0)) + self.hours

    class HoursVerified(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Experience.HoursVerified"
        entry_id: UUID

        def apply(self, x: Experience) -> None:
            hours, _status, day = x.entries[str(self.entry_id)]
            x.entries[str(self.entry_id)] = [hours, "verified", day]

    class HoursDisputed(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Experience.HoursDisputed"
        entry_id: UUID
        reason: str

        def apply(self, x: Experience) -> None:
            hours, _status, day = x.entries[str(self.entry_id)]
            x.entries[str(self.entry_id)] = [hours, "disputed", day]
            x.day_hours[day] -= hours

    @classmethod
    def plan(
        cls,
        ctx: CommandContext,
        *,
        experience_id: UUID,
        student_id: UUID,
        kind: str,
        title: str,
        partner_organisation: str,
        mentor_id: str | None,
        starts_on: date,
        ends_on: date,
        target_competencies: list[str],
        paid: bool = False,
    ) -> Experience:
        if kind not in EXPERIENCE_KINDS:
            raise InvalidCommand(
                f"unknown experience kind {kind!r}; one of {list(EXPERIENCE_KINDS)}"
            )
        check_plausible_date(starts_on, "start date")
        check_plausible_date(ends_on, "end date")
        if ends_on < starts_on:
            raise InvalidCommand("an experience cannot end before it starts")
        if not title.strip():
            raise InvalidCommand("an experience needs a title")
        return cls._start(
            cls.Planned,
            ctx,
            id=experience_id,
            student_id=student_id,
            kind=kind,
            title=title,
            partner_organisation=partner_organisation,
            mentor_id=mentor_id,
            starts_on=starts_on,
            ends_on=ends_on,
            target_competencies=sorted(set(target_competencies)),
            paid=paid,
        )

    def start(self, ctx: CommandContext, on: date | None) -> None:
        if self.status != "planned":
            raise ExperienceNotActive(f"experience is {self.status}, not planned")
        self._emit(self.Started, ctx, effective_on=on)

    def complete(self, ctx: CommandContext, on: date | None) -> None:
        if self.status != "started":
            raise ExperienceNotActive(f"experience is {self.status}, not started")
        self._emit(self.Completed, ctx, effective_on=on)

    def withdraw(self, ctx: CommandContext, reason: str, on: date | None) -> None:
        if self.status in ("completed", "withdrawn"):
            raise ExperienceNotActive(f"experience is already {self.status}")
        self._emit(self.Withdrawn, ctx, effective_on=on, reason=reason)

    def reassign_mentor(self, ctx: CommandContext, mentor_id: str, reason: str) -> None:
        if mentor_id == self.mentor_id:
            return
        self._emit(self.MentorReassigned, ctx, mentor_id=mentor_id, reason=reason)

    def log_hours(
        self, ctx: CommandContext, *, entry_id: UUID, worked_on: date, hours: Decimal, activity: str
    ) -> None:
        if self.status != "started":
            raise ExperienceNotActive(
                f"hours are logged on a started experience; this is {self.status}"
            )
        # NaN cannot be compared (decimal.InvalidOperation, an untyped 500): refuse it first.
        if not (
            isinstance(hours, Decimal)
            and hours.is_finite()
            and Decimal(0) < hours <= MAX_HOURS_PER_DAY
        ):
            raise InvalidHours("hours must be more than 0 and at most 24")
        if not (self.starts_on <= worked_on <= self.ends_on):
            raise InvalidHours(
                f"{worked_on} is outside the experience's dates {self.starts_on}..{self.ends_on}"
            )
        if self.day_hours.get(worked_on.isoformat(), Decimal(0)) + hours > MAX_HOURS_PER_DAY:
            raise InvalidHours(f"more than 24 hours would be logged on {worked_on}")
        if str(entry_id) in self.entries:
            raise StateConflict(f"hours entry {entry_id} exists already")
        self._emit(
            self.HoursLogged,
            ctx,
            effective_on=worked_on,
            entry_id=entry_id,
            hours=hours,
            activity=activity,
        )

    def _entry_for_review(self, ctx: CommandContext, entry_id: UUID) -> list:
        entry = self.entries.get(str(entry_id))
        if entry is None:
            raise InvalidCommand(f"hours entry {entry_id} is not on this experience")
        if ctx.actor.user_id != self.mentor_id:
            raise NotPermitted("only the experience's assigned mentor reviews its hours")
        if entry[1] != "logged":
            raise StateConflict(f"hours entry {entry_id} is already {entry[1]}")
        return entry

    def verify_hours(self, ctx: CommandContext, entry_id: UUID) -> None:
        self._entry_for_review(ctx, entry_id)
        self._emit(self.HoursVerified, ctx, entry_id=entry_id)

    def dispute_hours(self, ctx: CommandContext, entry_id: UUID, reason: str) -> None:
        self._entry_for_review(ctx, entry_id)
        if not reason.strip():
            raise InvalidCommand("a dispute needs a reason")
        self._emit(self.HoursDisputed, ctx, entry_id=entry_id, reason=reason)

    @property
    def verified_hours(self) -> Decimal:
        return sum((e[0] for e in self.entries.values() if e[1] == "verified"), Decimal(0))
