"""Computed reads from the projections: mastery, transcript, hours, lineage, history, audit.

Each takes ``as_of`` (recorded time) or ``effective_on`` (effective time) where it makes sense.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from api import schemas
from api.deps import (
    AsOf,
    Cursor,
    Limit,
    MomentDep,
    ReadCallerDep,
    moment,
    visible_of_student,
    visible_student,
)
from api.routes import PROBLEMS
from ledger import access
from ledger.domain import Actor, Role

router = APIRouter(tags=["reads"], responses=PROBLEMS)

Filter = Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_.:/\-]+$")]


@router.get(
    "/v1/students/{student_id}/mastery",
    response_model=schemas.Mastery,
    summary="Mastery per competency",
)
async def mastery(student_id: UUID, caller: ReadCallerDep, at: MomentDep) -> schemas.Mastery:
    def read(actor: Actor) -> schemas.Mastery:
        visible_student(caller.ledger, actor, student_id)
        rows = caller.ledger.read("student", student_id, "mastery", str(student_id), **at.kw)
        return schemas.Mastery(student_id=str(student_id), competencies=rows, **at.kw)

    return await caller.run(read)


@router.get(
    "/v1/students/{student_id}/transcript",
    response_model=dict[str, Any],
    summary="The transcript: credits by term and progress by graduation area",
)
async def transcript(student_id: UUID, caller: ReadCallerDep, at: MomentDep) -> dict:
    def read(actor: Actor) -> dict:
        visible_student(caller.ledger, actor, student_id)
        return caller.ledger.read("student", student_id, "transcript", str(student_id), **at.kw)

    return await caller.run(read)


@router.get(
    "/v1/students/{student_id}/hours",
    response_model=dict[str, Any],
    summary="Hours logged, verified, disputed and credited, per experience",
)
async def hours(student_id: UUID, caller: ReadCallerDep, at: MomentDep) -> dict:
    def read(actor: Actor) -> dict:
        visible_student(caller.ledger, actor, student_id)
        return caller.ledger.read("student", student_id, "hours", str(student_id), **at.kw)

    return await caller.run(read)


@router.get(
    "/v1/credits/{credit_id}/lineage",
    response_model=dict[str, Any],
    summary="Why a credit stands: its decisions, judgments and their evidence, as events",
)
async def lineage(credit_id: UUID, caller: ReadCallerDep) -> dict:
    def read(actor: Actor) -> dict:
        ledger = caller.ledger
        visible_of_student(ledger, actor, ledger.app.credit(credit_id), "credit")
        return ledger.read("credit", credit_id, "lineage", str(credit_id))

    return await caller.run(read)


@router.get(
    "/v1/students/{student_id}/history",
    response_model=schemas.Page,
    summary="Every recorded act about one student, oldest first",
)
async def history(
    student_id: UUID, caller: ReadCallerDep, cursor: Cursor = None, limit: Limit = 50
) -> schemas.Page:
    def read(actor: Actor) -> schemas.Page:
        visible_student(caller.ledger, actor, student_id)
        page = caller.ledger.reads.history(str(student_id), cursor=cursor, limit=limit)
        return schemas.Page(items=page.items, next_cursor=page.next_cursor)

    return await caller.run(read)


@router.get(
    "/v1/audit",
    response_model=schemas.Page,
    summary="The audit log (registrar); filter by actor, event type, student and recorded time",
)
async def audit(
    caller: ReadCallerDep,
    actor_id: Annotated[Filter, Query(alias="actor")] = None,
    event_type: Annotated[Filter, Query(alias="type")] = None,
    student_id: UUID | None = None,
    since: AsOf = None,
    until: AsOf = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> schemas.Page:
    def read(actor: Actor) -> schemas.Page:
        access.require_role(actor, Role.REGISTRAR)
        page = caller.ledger.reads.audit(
            actor_id=actor_id,
            event_type=event_type,
            student_id=str(student_id) if student_id else None,
            since=moment(as_of=since).as_of,
            until=moment(as_of=until).as_of,
            cursor=cursor,
            limit=limit,
        )
        return schemas.Page(items=page.items, next_cursor=page.next_cursor)

    return await caller.run(read)
