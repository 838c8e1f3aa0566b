"""Request models -> the domain's own values. The only place the API builds domain objects."""

from __future__ import annotations

from typing import Any

from api import schemas
from ledger.domain import (
    Association,
    Competency,
    CompetencyRequirement,
    CreditRule,
    EvidenceRef,
    FrameworkDefinition,
    Level,
    MasteryMethod,
    Scale,
)


def framework_definition(body: schemas.FrameworkDefinitionIn) -> FrameworkDefinition:
    return FrameworkDefinition(
        title=body.title,
        scale=Scale(
            tuple(Level(lv.code, lv.label, lv.value, lv.mastery) for lv in body.scale.levels)
        ),
        method=MasteryMethod(body.method.name, body.method.parameter, body.method.order_by),
        competencies=tuple(
            Competency(
                id=c.id,
                statement=c.statement,
                code=c.code,
                parent_id=c.parent_id,
                graduation_area=c.graduation_area,
                external_id=c.external_id,
                uri=c.uri,
                item_type=c.item_type,
                sequence=c.sequence,
            )
            for c in body.competencies
        ),
        credit_rules=tuple(
            CreditRule(
                id=r.id,
                title=r.title,
                area=r.area,
                amount=r.amount,
                competencies=tuple(
                    CompetencyRequirement(q.competency_id, q.min_level) for q in r.competencies
                ),
                hours_threshold=r.hours_threshold,
            )
            for r in body.credit_rules
        ),
        associations=tuple(
            Association(a.type, a.origin, a.destination, a.identifier) for a in body.associations
        ),
        graduation_area=body.graduation_area,
    )


def evidence(refs: list[schemas.EvidenceRefIn]) -> list[EvidenceRef]:
    return [EvidenceRef(r.kind, r.id, r.entry_id) for r in refs]


def basis(body: schemas.BasisIn) -> dict[str, Any]:
    return {
        "judgments": [str(j) for j in body.judgments],
        "experiences": [str(x) for x in body.experiences],
        "courses": [c.model_dump(exclude_none=True, mode="json") for c in body.courses],
    }


def credit_changes(body: schemas.CreditChangesIn) -> dict[str, Any]:
    """Only the fields the client named; amounts stay Decimal for the domain's checks."""
    return body.model_dump(exclude_unset=True, exclude_none=True)
