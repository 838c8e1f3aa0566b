"""Computed reads from the projections: mastery, transcript, hours, lineage, history, audit.

Each takes ``as_of`` (recorded time) or ``effective_on`` (effective time) where it makes sense.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from api import schemas
from api.deps import (
    ActorDep,
    AsOf,
    Cursor,
    LedgerDep,
    Limit,
    MomentDep,
    moment,
    visible_of_student,
    visible_student,
)
from api.routes import PROBLEMS
from ledger import access
from ledger.domain import Role

router = APIRouter(tags=["reads"], responses=PROBLEMS)

Filter = Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_.:/\-]+$")]


@router.get(
    "/v1/students/{student_id}/mastery",
    response_model=schemas.Mastery,
    summary="Mastery per competency",
)
def mastery(student_id: UUID, actor: ActorDep, ledger: LedgerDep, at: MomentDep) -> schemas.Mastery:
    visible_student(ledger, actor, student_id)
    rows = ledger.read("student", student_id, "mastery", str(student_id), **at.kw)
    return schemas.Mastery(student_id=str(student_id), competencies=rows, **at.kw)


@router.get(
    "/v1/students/{student_id}/transcript",
    response_model=dict[str, Any],
    summary="The transcript: credits by term and progress by graduation area",
)
def transcript(student_id: UUID, actor: ActorDep, ledger: LedgerDep, at: MomentDep) -> dict:
    visible_student(ledger, actor, student_id)
    return ledger.read("student", student_id, "transcript", str(student_id), **at.kw)


@router.get(
    "/v1/students/{student_id}/hours",
    response_model=dict[str, Any],
    summary="Hours logged, verified, disputed and credited, per experience",
)
def hours(student_id: UUID, actor: ActorDep, ledger: LedgerDep, at: MomentDep) -> dict:
    visible_student(ledger, actor, student_id)
    return ledger.read("student", student_id, "hours", str(student_id), **at.kw)


@router.get(
    "/v1/credits/{credit_id}/lineage",
    response_model=dict[str, Any],
    summary="Why a credit stands: its decisions, judgments and their evidence, as events",
)
def lineage(credit_id: UUID, actor: ActorDep, ledger: LedgerDep) -> dict:
    visible_of_student(ledger, actor, ledger.app.credit(credit_id), "credit")
    return ledger.read("credit", credit_id, "lineage", str(credit_id))


@router.get(
    "/v1/students/{student_id}/history",
    response_model=schemas.Page,
    summary="Every recorded act about one student, oldest first",
)
def history(
    student_id: UUID, actor: ActorDep, ledger: LedgerDep, cursor: Cursor = None, limit: Limit = 50
) -> schemas.Page:
    visible_student(ledger, actor, student_id)
    page = ledger.reads.history(str(student_id), cursor=cursor, limit=limit)
    return schemas.Page(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/v1/audit",
    response_model=schemas.Page,
    summary="The audit log (registrar); filter by actor, event type, student and recorded time",
)
def audit(
    actor: ActorDep,
    ledger: LedgerDep,
    actor_id: Annotated[Filter, Query(alias="actor")] = None,
    event_type: Annotated[Filter, Query(alias="type")] = None,
    student_id: UUID | None = None,
    since: AsOf = None,
    until: AsOf = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> schemas.Page:
    access.require_role(actor, Role.REGISTRAR)
    page = ledger.reads.audit(
        actor_id=actor_id,
        event_type=event_type,
        student_id=str(student_id) if student_id else None,
        since=moment(as_of=since).as_of,
        until=moment(as_of=until).as_of,
        cursor=cursor,
        limit=limit,
    )
    return schemas.Page(items=page.items, next_cursor=page.next_cursor)
