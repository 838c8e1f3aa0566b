"""Competency frameworks: scale, mastery method, competencies and the rules that earn credit."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from ledger.domain.base import CommandContext, LedgerAggregate
from ledger.errors import InvalidFramework, LevelNotOnScale, UnknownCompetency

MASTERY_METHODS = {
    # name: default parameter (None: the method takes none)
    "latest": None,
    "highest": None,
    "average": None,
    "weighted_average": Decimal("0.65"),
    "decaying_average": Decimal("0.65"),
    "n_mastery": Decimal("3"),
    "power_law": None,
}
SCORE_ORDERS = ("effective", "recorded")


@dataclass(frozen=True)
class Level:
    code: str
    label: str
    # None marks "insufficient evidence": a judgment at this level is recorded but is no score.
    value: Decimal | None
    mastery: bool = False


@dataclass(frozen=True)
class Scale:
    levels: tuple[Level, ...]

    def level(self, code: str) -> Level:
        for lvl in self.levels:
            if lvl.code == code:
                return lvl
        raise LevelNotOnScale(f"level {code!r} is not on the scale")

    def has(self, code: str) -> bool:
        return any(lvl.code == code for lvl in self.levels)

    @property
    def mastery_threshold(self) -> Decimal:
        return min(lvl.value for lvl in self.levels if lvl.mastery and lvl.value is not None)


@dataclass(frozen=True)
class MasteryMethod:
    name: str
    parameter: Decimal | None = None
    # How scores are ordered: by effective date (the default), or by when they were recorded.
    order_by: str = "effective"


@dataclass(frozen=True)
class Competency:
    id: str
    statement: str
    code: str | None = None
    parent_id: str | None = None
    graduation_area: str | None = None
    external_id: str | None = None
    uri: str | None = None
    item_type: str | None = None
    sequence: int | None = None


@dataclass(frozen=True)
class CompetencyRequirement:
    competency_id: str
    min_level: str


@dataclass(frozen=True)
class CreditRule:
    id: str
    title: str
    area: str
    amount: Decimal
    competencies: tuple[CompetencyRequirement, ...] = ()
    hours_threshold: Decimal | None = None


@dataclass(frozen=True)
class Association:
    """A CASE association other than the hierarchy (precedes, exactMatchOf, isRelatedTo...)."""

    type: str
    origin: str
    destination: str
    identifier: str | None = None
    # Where the destination lives when it is outside this framework (a crosswalk's target).
    destination_uri: str | None = None


def _finite(n: object) -> bool:
    try:
        return Decimal(n).is_finite()  # type: ignore[arg-type]
    except (ArithmeticError, TypeError, ValueError):
        return False


@dataclass(frozen=True)
class FrameworkDefinition:
    title: str
    scale: Scale
    method: MasteryMethod
    competencies: tuple[Competency, ...]
    credit_rules: tuple[CreditRule, ...] = ()
    associations: tuple[Association, ...] = ()
    graduation_area: str | None = None
    source: dict[str, Any] = field(default_factory=dict)

    # ---- (de)serialisation: events store plain JSON-able dicts ----
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrameworkDefinition:
        return cls(
            title=d["title"],
            scale=Scale(tuple(Level(**lv) for lv in d["scale"]["levels"])),
            method=MasteryMethod(**d["method"]),
            competencies=tuple(Competency(**c) for c in d["competencies"]),
            credit_rules=tuple(
                CreditRule(
                    id=r["id"],
                    title=r["title"],
                    area=r["area"],
                    amount=Decimal(r["amount"]),
                    competencies=tuple(CompetencyRequirement(**q) for q in r["competencies"]),
                    hours_threshold=(
                        None if r.get("hours_threshold") is None else Decimal(r["hours_threshold"])
                    ),
                )
                for r in d.get("credit_rules", ())
            ),
            associations=tuple(Association(**a) for a in d.get("associations", ())),
            graduation_area=d.get("graduation_area"),
            source=d.get("source") or {},
        )

    def competency(self, competency_id: str) -> Competency:
        for c in self.competencies:
            if c.id == competency_id:
                return c
        raise UnknownCompetency(f"competency {competency_id!r} is not in framework {self.title!r}")

    def credit_rule(self, rule_id: str) -> CreditRule:
        for r in self.credit_rules:
            if r.id == rule_id:
                return r
        raise InvalidFramework(f"credit rule {rule_id!r} is not in framework {self.title!r}")

    def area_of(self, competency_id: str) -> str | None:
        """A competency's graduation area: its own, the nearest ancestor's, or the framework's."""
        by_id = {c.id: c for c in self.competencies}
        node = by_id.get(competency_id)
        seen = set()
        while node is not None and node.id not in seen:
            if node.graduation_area:
                return node.graduation_area
            seen.add(node.id)
            node = by_id.get(node.parent_id) if node.parent_id else None
        return self.graduation_area

    def validate(self) -> None:
        if not self.title.strip():
            raise InvalidFramework("a framework needs a title")
        levels = self.scale.levels
        if not levels:
            raise InvalidFramework("the scale needs at least one level")
        # A NaN cannot be ordered or compared (decimal.InvalidOperation, untyped): refuse any
        # non-finite number before the checks below compare them.
        numbers = [
            *(lv.value for lv in levels),
            self.method.parameter,
            *(r.amount for r in self.credit_rules),
            *(r.hours_threshold for r in self.credit_rules),
        ]
        if any(n is not None and not _finite(n) for n in numbers):
            raise InvalidFramework(
                "level values, the method's parameter and rule amounts are finite"
            )
        codes = [lv.code for lv in levels]
        if len(set(codes)) != len(codes):
            raise InvalidFramework("scale level codes must be unique")
        scored = [lv.value for lv in levels if lv.value is not None]
        if not scored:
            raise InvalidFramework("the scale needs at least one level with a value")
        if scored != sorted(scored) or len(set(scored)) != len(scored):
            raise InvalidFramework("scale levels must be listed in strictly increasing value")
        if any(lv.mastery and lv.value is None for lv in levels):
            raise InvalidFramework("insufficient evidence cannot count as mastery")
        if not any(lv.mastery for lv in levels):
            raise InvalidFramework("at least one level must count as mastery")
        if sum(1 for lv in levels if lv.value is None) > 1:
            raise InvalidFramework("at most one insufficient-evidence mark")
        if self.method.name not in MASTERY_METHODS:
            raise InvalidFramework(
                f"unknown mastery method {self.method.name!r}; one of {sorted(MASTERY_METHODS)}"
            )
        if self.method.order_by not in SCORE_ORDERS:
            raise InvalidFramework(f"order_by must be one of {SCORE_ORDERS}")
        p = self.method.parameter
        weighted = self.method.name in ("weighted_average", "decaying_average")
        if weighted and p is not None and not (Decimal(0) < p <= Decimal(1)):
            raise InvalidFramework("the method's weight must be in (0, 1]")
        if (
            self.method.name == "n_mastery"
            and p is not None
            and (p != p.to_integral_value() or p < 1)
        ):
            raise InvalidFramework("n-mastery needs a whole n >= 1")
        if self.method.name == "power_law" and any(v <= 0 for v in scored):
            raise InvalidFramework("power law needs every scored level above zero")
        ids = [c.id for c in self.competencies]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise InvalidFramework(f"competency id {dup!r} appears twice")
        known = set(ids)
        for c in self.competencies:
            if not c.id.strip():
                raise InvalidFramework("every competency needs an id")
            if c.parent_id is not None and c.parent_id not in known:
                raise InvalidFramework(f"competency {c.id!r} has unknown parent {c.parent_id!r}")
        for r in self.credit_rules:
            if r.amount <= 0:
                raise InvalidFramework(f"credit rule {r.id!r} must award a positive amount")
            if not r.competencies and r.hours_threshold is None:
                raise InvalidFramework(
                    f"credit rule {r.id!r} needs competencies or an hours threshold"
                )
            if r.hours_threshold is not None and r.hours_threshold <= 0:
                raise InvalidFramework(f"credit rule {r.id!r} needs a positive hours threshold")
            for q in r.competencies:
                if q.competency_id not in known:
                    raise InvalidFramework(
                        f"credit rule {r.id!r} names unknown competency {q.competency_id!r}"
                    )
                if not self.scale.has(q.min_level):
                    raise InvalidFramework(
                        f"credit rule {r.id!r} names level {q.min_level!r}, not on the scale"
                    )
        for a in self.associations:
            if not a.type or not a.origin or not a.destination:
                raise InvalidFramework("an association needs a type, an origin and a destination")

    def with_defaults(self) -> FrameworkDefinition:
        if self.method.parameter is None and MASTERY_METHODS.get(self.method.name) is not None:
            method = MasteryMethod(
                self.method.name, MASTERY_METHODS[self.method.name], self.method.order_by
            )
            return FrameworkDefinition(
                title=self.title,
                scale=self.scale,
                method=method,
                competencies=self.competencies,
                credit_rules=self.credit_rules,
                associations=self.associations,
                graduation_area=self.graduation_area,
                source=self.source,
            )
        return self


def diff_competencies(old: FrameworkDefinition, new: FrameworkDefinition) -> dict[str, list[str]]:
    before = {c.id: c for c in old.competencies}
    after = {c.id: c for c in new.competencies}
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(i for i in set(before) & set(after) if before[i] != after[i]),
    }


class Framework(LedgerAggregate):
    TOPIC = "competency-ledger/Framework"

    class Published(LedgerAggregate.Created):
        TOPIC = "competency-ledger/Framework.Published"
        definition: dict

        def apply(self, fw: Framework) -> None:
            fw.revision = 1
            fw.definition_dict = self.definition
            fw._definition = None

    class Created(LedgerAggregate.Created):
        """Unused: pins the topic of the base class's creation event."""

        TOPIC = "competency-ledger/Framework.Created"

    class Revised(LedgerAggregate.Event):
        TOPIC = "competency-ledger/Framework.Revised"
        IS_CORRECTION = False
        revision: int
        definition: dict
        changes: dict
        reason: str

        def apply(self, fw: Framework) -> None:
            fw.revision = self.revision
            fw.definition_dict = self.definition
            fw._definition = None

    @property
    def definition(self) -> FrameworkDefinition:
        if getattr(self, "_definition", None) is None:
            self._definition = FrameworkDefinition.from_dict(self.definition_dict)
        return self._definition

    @classmethod
    def publish(cls, ctx: CommandContext, framework_id: UUID, d: FrameworkDefinition) -> Framework:
        d = d.with_defaults()
        d.validate()
        return cls._start(cls.Published, ctx, id=framework_id, definition=d.to_dict())

    def revise(
        self, ctx: CommandContext, d: FrameworkDefinition, reason: str
    ) -> dict[str, list[str]]:
        d = d.with_defaults()
        d.validate()
        changes = diff_competencies(self.definition, d)
        self._emit(
            self.Revised,
            ctx,
            revision=self.revision + 1,
            definition=d.to_dict(),
            changes=changes,
            reason=reason,
        )
        return changes
