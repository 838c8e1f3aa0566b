"""Students and the people linked to them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from api import schemas, views
from api.deps import (
    ActorDep,
    Cursor,
    Ledger,
    LedgerDep,
    Limit,
    ResourceWriterDep,
    WriterDep,
    check_if_match,
    etag,
    visible_student,
    written,
)
from api.routes import PROBLEMS
from ledger.application import CommandResult
from ledger.domain import Role
from ledger.errors import NotPermitted

router = APIRouter(prefix="/v1/students", tags=["students"], responses=PROBLEMS)


def _written(
    response: Response, ledger: Ledger, result: CommandResult, sid: Any
) -> schemas.Written:
    """A write's answer: the student as it now stands, its location and ETag."""
    s = ledger.app.student(sid)
    return written(response, ledger, result, f"/v1/students/{s.id}", views.student(s), s)


@router.post("", status_code=201, response_model=schemas.Written, summary="Enrol a student")
def enroll_student(
    body: schemas.StudentIn, caller: WriterDep, ledger: LedgerDep, response: Response
) -> schemas.Written:
    result = ledger.app.enroll_student(caller.actor, **body.model_dump(), **caller.kw)
    return _written(response, ledger, result, result.id)


@router.get(
    "",
    response_model=schemas.Page,
    summary="List the students the caller may see",
    description="A registrar sees all; an advisor their advisees; a guardian linked students; "
    "a student themselves. Other roles may not list students (403).",
)
def list_students(
    actor: ActorDep, ledger: LedgerDep, cursor: Cursor = None, limit: Limit = 50
) -> schemas.Page:
    scope: dict = {}
    if actor.role is Role.REGISTRAR:
        pass
    elif actor.role is Role.ADVISOR:
        scope = {"advisor_id": actor.user_id}
    elif actor.role is Role.GUARDIAN:
        scope = {"guardian_id": actor.user_id}
    elif actor.role is Role.STUDENT and actor.student_id is not None:
        scope = {"student_ids": [str(actor.student_id)]}
    else:
        raise NotPermitted(f"the {actor.role} role may not list students")
    # Another process (the CLI, a second server) may have linked or unlinked someone since this
    # process last projected: catch up first, so who-sees-whom is as current as the log.
    ledger.caught_up()
    page = ledger.reads.list_students(**scope, cursor=cursor, limit=limit)
    return schemas.Page(items=page.items, next_cursor=page.next_cursor)


@router.get("/{student_id}", response_model=schemas.Resource, summary="One student")
def get_student(student_id: UUID, actor: ActorDep, ledger: LedgerDep, response: Response) -> dict:
    s = visible_student(ledger, actor, student_id)
    response.headers["ETag"] = etag(s)
    return views.student(s)


@router.post("/{student_id}/advisors", response_model=schemas.Written, summary="Assign an advisor")
def assign_advisor(
    student_id: UUID,
    body: schemas.PersonLinkIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    check_if_match(ledger, caller, visible_student(ledger, caller.actor, student_id))
    result = ledger.app.assign_advisor(caller.actor, student_id, body.user_id, **caller.kw)
    return _written(response, ledger, result, student_id)


@router.post("/{student_id}/guardians", response_model=schemas.Written, summary="Link a guardian")
def link_guardian(
    student_id: UUID,
    body: schemas.PersonLinkIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    check_if_match(ledger, caller, visible_student(ledger, caller.actor, student_id))
    result = ledger.app.link_guardian(caller.actor, student_id, body.user_id, **caller.kw)
    return _written(response, ledger, result, student_id)


@router.post(
    "/{student_id}/advisors/{user_id}/unassign",
    response_model=schemas.Written,
    summary="Unassign an advisor",
    description="The advisor no longer reads or writes this student's record (404 from then on).",
)
def unassign_advisor(
    student_id: UUID,
    user_id: UUID,
    body: schemas.ReasonIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    check_if_match(ledger, caller, visible_student(ledger, caller.actor, student_id))
    result = ledger.app.unassign_advisor(
        caller.actor, student_id, user_id, body.reason, **caller.kw
    )
    return _written(response, ledger, result, student_id)


@router.post(
    "/{student_id}/guardians/{user_id}/unlink",
    response_model=schemas.Written,
    summary="Unlink a guardian",
    description="The guardian no longer reads this student's record (404 from then on).",
)
def unlink_guardian(
    student_id: UUID,
    user_id: UUID,
    body: schemas.ReasonIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    check_if_match(ledger, caller, visible_student(ledger, caller.actor, student_id))
    result = ledger.app.unlink_guardian(caller.actor, student_id, user_id, body.reason, **caller.kw)
    return _written(response, ledger, result, student_id)
