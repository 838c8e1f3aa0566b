"""What every aggregate and event of the ledger shares: who acted, when, under which request.

Topics are pinned by hand (``TOPIC``) so that moving or renaming a class never orphans a stored
event: the string is the contract, not the Python path.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.errors import InvalidCommand

# Namespace for ids derived from natural keys (a student's local id, an idempotency key...).
LEDGER_NAMESPACE = UUID("6f1d7c0e-2b4a-5d39-9a61-3c8e4b0f7a21")


# Dates outside these bounds are typing mistakes (0001-01-01, 9999-12-31), not school records;
# they would also break the 4-digit years of state exports.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)


def check_plausible_date(value: date | None, what: str = "date") -> None:
    if value is not None and not (EARLIEST_DATE <= value <= LATEST_DATE):
        raise InvalidCommand(f"{what} {value} is outside {EARLIEST_DATE}..{LATEST_DATE}")


def derived_id(*parts: object) -> UUID:
    return uuid5(LEDGER_NAMESPACE, "/".join(str(p) for p in parts))


class Role(StrEnum):
    STUDENT = "student"
    GUARDIAN = "guardian"
    MENTOR = "mentor"
    ADVISOR = "advisor"
    REGISTRAR = "registrar"
    REPORTER = "reporter"
    ADMIN = "admin"
    # The ledger itself: imports, the demo school, maintenance. Never given to a token.
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: Role
    # Set for a student's own login: the student record they are.
    student_id: UUID | None = None


@dataclass(frozen=True)
class CommandContext:
    """One command's metadata: every event the command records carries it."""

    actor: Actor
    recorded_at: datetime
    correlation_id: str


# Values a copy of an aggregate may share with the original: nothing changes them in place.
_IMMUTABLE = (str, int, float, bytes, Decimal, UUID, date, type(None))


class LedgerAggregate(Aggregate):
    # Attributes holding maps whose values are replaced, never changed in place: copied one level.
    SHALLOW_MAPS = ()  # names of such attributes (no annotation: the library would make a field)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """Every command gets a deep copy of the cached aggregate, so that a command that fails
        cannot change the cache. The generic deepcopy walks every value (a third of a command's
        CPU, measured in docs/performance.md); here immutable values are shared, the maps named
        in SHALLOW_MAPS are copied one level, and only the rest is deep-copied."""
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        attrs = clone.__dict__
        for name, value in self.__dict__.items():
            if isinstance(value, _IMMUTABLE):
                attrs[name] = value
            elif name in self.SHALLOW_MAPS:
                attrs[name] = dict(value)
            elif type(value) is list and all(isinstance(v, _IMMUTABLE) for v in value):
                attrs[name] = list(value)  # advisors, competencies: ids and codes
            else:
                attrs[name] = copy.deepcopy(value, memo)
        return clone

    class Event(Aggregate.Event):
        actor_id: str
        actor_role: str
        correlation_id: str
        # The date the act took effect, where the act has one of its own (a judgment's effective
        # date, the day hours were worked). None: effective when recorded.
        effective_on: date | None

        # Corrections name what they correct; projections apply them in effective time too.
        IS_CORRECTION = False

        @property
        def recorded_at(self) -> datetime:
            return self.timestamp

        @property
        def effective_date(self) -> date:
            return self.effective_on or self.timestamp.date()

    class Created(Event, Aggregate.Created):
        pass

    @classmethod
    def _start(
        cls,
        event_class: type[Any],
        ctx: CommandContext,
        *,
        id: UUID,
        effective_on: date | None = None,
        **fields: Any,
    ) -> Any:
        check_plausible_date(effective_on, "effective date")
        return cls._create(
            event_class,
            id=id,
            timestamp=ctx.recorded_at,
            actor_id=ctx.actor.user_id,
            actor_role=str(ctx.actor.role),
            correlation_id=ctx.correlation_id,
            effective_on=effective_on,
            **fields,
        )

    def _emit(
        self,
        event_class: type[Any],
        ctx: CommandContext,
        *,
        effective_on: date | None = None,
        **fields: Any,
    ) -> None:
        check_plausible_date(effective_on, "effective date")
        self.trigger_event(
            event_class,
            timestamp=ctx.recorded_at,
            actor_id=ctx.actor.user_id,
            actor_role=str(ctx.actor.role),
            correlation_id=ctx.correlation_id,
            effective_on=effective_on,
            **fields,
        )
