"""Credits: classes recorded and proposals decided by a registrar; proposals by an advisor."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from fastapi import APIRouter, Response

from api import mapping, schemas, views
from api.deps import (
    ActorDep,
    Caller,
    Ledger,
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
from ledger.application import CommandResult

router = APIRouter(tags=["credits"], responses=PROBLEMS)


def _credit(ledger: Ledger, credit_id: UUID | str) -> dict:
    c = ledger.app.credit(credit_id)
    row = ledger.rm.credit(str(c.id)) or {}
    return {**row, **views.credit(c)}


def _credit_written(response: Response, ledger: Ledger, result: CommandResult) -> schemas.Written:
    ledger.caught_up()
    c = ledger.app.credit(result.id)
    return written(response, ledger, result, f"/v1/credits/{c.id}", _credit(ledger, c.id), c)


@router.post(
    "/v1/students/{student_id}/courses",
    status_code=201,
    response_model=schemas.Written,
    summary="Record a passed class (registrar): a credit recorded and approved in one act",
)
def record_class(
    student_id: UUID,
    body: schemas.CourseIn,
    caller: WriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    visible_student(ledger, caller.actor, student_id)
    result = ledger.app.record_class(caller.actor, student_id, **body.model_dump(), **caller.kw)
    return _credit_written(response, ledger, result)


@router.post(
    "/v1/students/{student_id}/credits",
    status_code=201,
    response_model=schemas.Written,
    summary="Propose a credit (an advisor of the student)",
)
def propose_credit(
    student_id: UUID,
    body: schemas.CreditIn,
    caller: WriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    visible_student(ledger, caller.actor, student_id)
    fields = body.model_dump(exclude={"basis"})
    result = ledger.app.propose_credit(
        caller.actor, student_id, basis=mapping.basis(body.basis), **fields, **caller.kw
    )
    return _credit_written(response, ledger, result)


@router.get("/v1/credits/{credit_id}", response_model=schemas.Resource, summary="One credit")
def get_credit(credit_id: UUID, actor: ActorDep, ledger: LedgerDep, response: Response) -> dict:
    c = ledger.app.credit(credit_id)
    visible_of_student(ledger, actor, c, "credit")
    response.headers["ETag"] = etag(c)
    return _credit(ledger, credit_id)


def _decide(
    credit_id: UUID,
    caller: Caller,
    ledger: Ledger,
    response: Response,
    command: Callable[[], CommandResult],
) -> schemas.Written:
    c = ledger.app.credit(credit_id)
    visible_of_student(ledger, caller.actor, c, "credit")
    check_if_match(ledger, caller, c)
    return _credit_written(response, ledger, command())


@router.post(
    "/v1/credits/{credit_id}/approve",
    response_model=schemas.Written,
    summary="Approve a proposed credit (registrar)",
)
def approve_credit(
    credit_id: UUID,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
    body: schemas.OnDateIn | None = None,
) -> schemas.Written:
    on = body.on if body else None
    return _decide(
        credit_id,
        caller,
        ledger,
        response,
        lambda: ledger.app.approve_credit(caller.actor, credit_id, on, **caller.kw),
    )


@router.post(
    "/v1/credits/{credit_id}/reject",
    response_model=schemas.Written,
    summary="Reject a proposed credit (registrar)",
)
def reject_credit(
    credit_id: UUID,
    body: schemas.ReasonIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    return _decide(
        credit_id,
        caller,
        ledger,
        response,
        lambda: ledger.app.reject_credit(caller.actor, credit_id, body.reason, **caller.kw),
    )


@router.post(
    "/v1/credits/{credit_id}/revoke",
    response_model=schemas.Written,
    summary="Revoke an approved credit (registrar)",
)
def revoke_credit(
    credit_id: UUID,
    body: schemas.ReasonIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    return _decide(
        credit_id,
        caller,
        ledger,
        response,
        lambda: ledger.app.revoke_credit(caller.actor, credit_id, body.reason, **caller.kw),
    )


@router.post(
    "/v1/credits/{credit_id}/reconfirm",
    response_model=schemas.Written,
    summary="Re-confirm a flagged, approved credit (registrar)",
)
def reconfirm_credit(
    credit_id: UUID,
    body: schemas.ReasonIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    return _decide(
        credit_id,
        caller,
        ledger,
        response,
        lambda: ledger.app.reconfirm_credit(caller.actor, credit_id, body.reason, **caller.kw),
    )


@router.post(
    "/v1/credits/{credit_id}/amend",
    response_model=schemas.Written,
    summary="Amend a credit (registrar): a correction that names its reason",
)
def amend_credit(
    credit_id: UUID,
    body: schemas.AmendIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    return _decide(
        credit_id,
        caller,
        ledger,
        response,
        lambda: ledger.app.amend_credit(
            caller.actor,
            credit_id,
            reason=body.reason,
            changes=mapping.credit_changes(body.changes),
            basis=mapping.basis(body.basis) if body.basis is not None else None,
            framework_id=body.framework_id,
            rule_id=body.rule_id,
            **caller.kw,
        ),
    )
