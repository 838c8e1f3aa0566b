"""Competency frameworks: anyone signed in reads them; an admin publishes and revises."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from api import mapping, schemas, views
from api.deps import (
    ActorDep,
    Cursor,
    LedgerDep,
    Limit,
    ResourceWriterDep,
    WriterDep,
    check_if_match,
    etag,
    written,
)
from api.routes import PROBLEMS

router = APIRouter(prefix="/v1/frameworks", tags=["frameworks"], responses=PROBLEMS)


@router.post("", status_code=201, response_model=schemas.Written, summary="Publish a framework")
def publish_framework(
    body: schemas.FrameworkIn, caller: WriterDep, ledger: LedgerDep, response: Response
) -> schemas.Written:
    result = ledger.app.publish_framework(
        caller.actor,
        mapping.framework_definition(body),
        framework_id=body.framework_id,
        **caller.kw,
    )
    fw = ledger.app.framework(result.id)
    return written(response, ledger, result, f"/v1/frameworks/{fw.id}", views.framework(fw), fw)


@router.get("", response_model=schemas.Page, summary="List frameworks")
def list_frameworks(
    actor: ActorDep, ledger: LedgerDep, cursor: Cursor = None, limit: Limit = 50
) -> schemas.Page:
    page = ledger.reads.frameworks(cursor=cursor, limit=limit)
    return schemas.Page(items=page.items, next_cursor=page.next_cursor)


@router.get("/{framework_id}", response_model=schemas.Resource, summary="One framework")
def get_framework(
    framework_id: UUID, actor: ActorDep, ledger: LedgerDep, response: Response
) -> dict:
    fw = ledger.app.framework(framework_id)
    response.headers["ETag"] = etag(fw)
    return views.framework(fw)


@router.post(
    "/{framework_id}/revisions", response_model=schemas.Written, summary="Revise a framework"
)
def revise_framework(
    framework_id: UUID,
    body: schemas.FrameworkRevisionIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    check_if_match(ledger, caller, ledger.app.framework(framework_id))
    result = ledger.app.revise_framework(
        caller.actor,
        framework_id,
        mapping.framework_definition(body.definition),
        body.reason,
        **caller.kw,
    )
    fw = ledger.app.framework(framework_id)
    resource = {**views.framework(fw), "changes": result.value.get("changes")}
    return written(response, ledger, result, f"/v1/frameworks/{fw.id}", resource, fw)
