"""Experiences and the hours logged on them."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from api import schemas, views
from api.deps import (
    ActorDep,
    Cursor,
    LedgerDep,
    Limit,
    ResourceWriterDep,
    WriterDep,
    check_if_match,
    etag,
    visible_experience,
    visible_student,
    written,
)
from api.routes import PROBLEMS
from ledger import access
from ledger.application import CommandResult
from ledger.domain import Role

router = APIRouter(tags=["experiences"], responses=PROBLEMS)


@router.post(
    "/v1/students/{student_id}/experiences",
    status_code=201,
    response_model=schemas.Written,
    summary="Plan an experience (advisor)",
)
def plan_experience(
    student_id: UUID,
    body: schemas.ExperienceIn,
    caller: WriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    visible_student(ledger, caller.actor, student_id)
    result = ledger.app.plan_experience(caller.actor, student_id, **body.model_dump(), **caller.kw)
    return _experience_written(response, ledger, result, UUID(result.id))


@router.get(
    "/v1/students/{student_id}/experiences",
    response_model=schemas.Page,
    summary="A student's experiences",
)
def list_experiences(
    student_id: UUID, actor: ActorDep, ledger: LedgerDep, cursor: Cursor = None, limit: Limit = 50
) -> schemas.Page:
    visible_student(ledger, actor, student_id)
    page = ledger.reads.experiences(str(student_id), cursor=cursor, limit=limit)
    return schemas.Page(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/v1/experiences",
    response_model=schemas.Page,
    summary="The experiences the calling mentor is assigned to (mentor)",
)
def list_mentored_experiences(
    actor: ActorDep, ledger: LedgerDep, cursor: Cursor = None, limit: Limit = 50
) -> schemas.Page:
    # Mentors reach students only through the experiences they mentor: this is how they
    # find them. Everyone else lists experiences per student.
    access.require_role(actor, Role.MENTOR)
    page = ledger.reads.experiences_mentored_by(actor.user_id, cursor=cursor, limit=limit)
    return schemas.Page(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/v1/experiences/{experience_id}", response_model=schemas.Resource, summary="One experience"
)
def get_experience(
    experience_id: UUID, actor: ActorDep, ledger: LedgerDep, response: Response
) -> dict:
    x, _s = visible_experience(ledger, actor, experience_id)
    response.headers["ETag"] = etag(x)
    return views.experience(x)


def _experience_written(
    response: Response, ledger: LedgerDep, result: CommandResult, experience_id: UUID
) -> schemas.Written:
    x = ledger.app.experience(experience_id)
    return written(response, ledger, result, f"/v1/experiences/{x.id}", views.experience(x), x)


@router.post(
    "/v1/experiences/{experience_id}/start",
    response_model=schemas.Written,
    summary="Start a planned experience (advisor)",
)
def start_experience(
    experience_id: UUID,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
    body: schemas.OnDateIn | None = None,
) -> schemas.Written:
    check_if_match(ledger, caller, visible_experience(ledger, caller.actor, experience_id)[0])
    on = body.on if body else None
    result = ledger.app.start_experience(caller.actor, experience_id, on, **caller.kw)
    return _experience_written(response, ledger, result, experience_id)


@router.post(
    "/v1/experiences/{experience_id}/complete",
    response_model=schemas.Written,
    summary="Complete a started experience (advisor)",
)
def complete_experience(
    experience_id: UUID,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
    body: schemas.OnDateIn | None = None,
) -> schemas.Written:
    check_if_match(ledger, caller, visible_experience(ledger, caller.actor, experience_id)[0])
    on = body.on if body else None
    result = ledger.app.complete_experience(caller.actor, experience_id, on, **caller.kw)
    return _experience_written(response, ledger, result, experience_id)


@router.post(
    "/v1/experiences/{experience_id}/withdraw",
    response_model=schemas.Written,
    summary="Withdraw an experience (advisor)",
)
def withdraw_experience(
    experience_id: UUID,
    body: schemas.WithdrawIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    check_if_match(ledger, caller, visible_experience(ledger, caller.actor, experience_id)[0])
    result = ledger.app.withdraw_experience(
        caller.actor, experience_id, body.reason, body.on, **caller.kw
    )
    return _experience_written(response, ledger, result, experience_id)


def _entry_written(
    response: Response, ledger: LedgerDep, result: CommandResult, experience_id: UUID
) -> schemas.Written:
    x = ledger.app.experience(experience_id)
    amount, status, day = x.entries[result.id]
    entry = {
        "id": result.id,
        "kind": "hours",
        "experience_id": str(x.id),
        "student_id": str(x.student_id),
        "hours": amount,
        "status": status,
        "worked_on": day,
    }
    # Hours entries are listed on their experience, which is where Location points.
    return written(response, ledger, result, f"/v1/experiences/{x.id}", entry, x)


@router.post(
    "/v1/experiences/{experience_id}/hours",
    status_code=201,
    response_model=schemas.Written,
    summary="Log hours (the student)",
)
def log_hours(
    experience_id: UUID,
    body: schemas.HoursIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    check_if_match(ledger, caller, visible_experience(ledger, caller.actor, experience_id)[0])
    result = ledger.app.log_hours(caller.actor, experience_id, **body.model_dump(), **caller.kw)
    return _entry_written(response, ledger, result, experience_id)


@router.post(
    "/v1/experiences/{experience_id}/hours/{entry_id}/verify",
    response_model=schemas.Written,
    summary="Verify an hours entry (the experience's mentor)",
)
def verify_hours(
    experience_id: UUID,
    entry_id: UUID,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    check_if_match(ledger, caller, visible_experience(ledger, caller.actor, experience_id)[0])
    result = ledger.app.verify_hours(caller.actor, experience_id, entry_id, **caller.kw)
    return _entry_written(response, ledger, result, experience_id)


@router.post(
    "/v1/experiences/{experience_id}/hours/{entry_id}/dispute",
    response_model=schemas.Written,
    summary="Dispute an hours entry (the experience's mentor)",
)
def dispute_hours(
    experience_id: UUID,
    entry_id: UUID,
    body: schemas.ReasonIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    check_if_match(ledger, caller, visible_experience(ledger, caller.actor, experience_id)[0])
    result = ledger.app.dispute_hours(
        caller.actor, experience_id, entry_id, body.reason, **caller.kw
    )
    return _entry_written(response, ledger, result, experience_id)
