"""Advisors' judgments of competency, and their retraction."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from api import mapping, schemas, views
from api.deps import (
    ActorDep,
    LedgerDep,
    ResourceWriterDep,
    WriterDep,
    check_if_match,
    etag,
    visible_of_student,
    visible_student,
    written,
)
from api.routes import PROBLEMS

router = APIRouter(tags=["judgments"], responses=PROBLEMS)


@router.post(
    "/v1/students/{student_id}/judgments",
    status_code=201,
    response_model=schemas.Written,
    summary="Record a judgment (an advisor of the student)",
)
def record_judgment(
    student_id: UUID,
    body: schemas.JudgmentIn,
    caller: WriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    visible_student(ledger, caller.actor, student_id)
    result = ledger.app.record_judgment(
        caller.actor,
        student_id,
        framework_id=body.framework_id,
        competency_id=body.competency_id,
        level=body.level,
        evidence=mapping.evidence(body.evidence),
        rationale=body.rationale,
        effective_on=body.effective_on,
        supersedes=body.supersedes,
        **caller.kw,
    )
    j = ledger.app.judgment(result.id)
    return written(response, ledger, result, f"/v1/judgments/{j.id}", views.judgment(j), j)


@router.get("/v1/judgments/{judgment_id}", response_model=schemas.Resource, summary="One judgment")
def get_judgment(judgment_id: UUID, actor: ActorDep, ledger: LedgerDep, response: Response) -> dict:
    j = ledger.app.judgment(judgment_id)
    visible_of_student(ledger, actor, j, "judgment")
    response.headers["ETag"] = etag(j)
    return views.judgment(j)


@router.post(
    "/v1/judgments/{judgment_id}/retract",
    response_model=schemas.Written,
    summary="Retract a judgment; credits citing it are flagged for the registrar",
)
def retract_judgment(
    judgment_id: UUID,
    body: schemas.ReasonIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    j = ledger.app.judgment(judgment_id)
    visible_of_student(ledger, caller.actor, j, "judgment")
    check_if_match(ledger, caller, j)
    result = ledger.app.retract_judgment(caller.actor, judgment_id, body.reason, **caller.kw)
    j = ledger.app.judgment(judgment_id)
    resource = {**views.judgment(j), "flagged_credits": result.value.get("flagged_credits", [])}
    return written(response, ledger, result, f"/v1/judgments/{j.id}", resource, j)
