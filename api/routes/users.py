"""Users and their tokens (admin), and who the caller is."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from api import schemas
from api.deps import (
    ActorDep,
    LedgerDep,
    ResourceWriterDep,
    WriterDep,
    check_if_match,
    etag,
    written,
)
from api.routes import PROBLEMS
from ledger import access
from ledger.domain import Role

router = APIRouter(tags=["users"], responses=PROBLEMS)


@router.post(
    "/v1/users",
    status_code=201,
    response_model=schemas.UserCreated,
    summary="Add a user and issue their first token",
    description="The token is in this response only; a replay (same Idempotency-Key) omits it.",
)
def add_user(
    body: schemas.UserIn, caller: WriterDep, ledger: LedgerDep, response: Response
) -> schemas.UserCreated:
    result, token = ledger.app.add_user(
        caller.actor,
        role=Role(body.role),
        name=body.name,
        student_id=body.student_id,
        external_id=body.external_id,
        **caller.kw,
    )
    ledger.caught_up()
    user = ledger.app.user(result.id)
    response.headers["Location"] = f"/v1/users/{user.id}"
    response.headers["ETag"] = etag(user)
    return schemas.UserCreated(
        resource=_user(user),
        position=result.position,
        replayed=result.replayed,
        token=token or None,
    )


@router.get("/v1/users/{user_id}", response_model=schemas.Resource, summary="One user (admin)")
def get_user(user_id: UUID, actor: ActorDep, ledger: LedgerDep, response: Response) -> dict:
    access.require_role(actor, Role.ADMIN)
    user = ledger.app.user(user_id)
    response.headers["ETag"] = etag(user)
    return _user(user)


@router.post(
    "/v1/users/{user_id}/deactivate",
    response_model=schemas.Written,
    summary="Deactivate a user (admin)",
    description="Every token of the user answers 401 from then on; the user's links stay in "
    "the record's history.",
)
def deactivate_user(
    user_id: UUID,
    body: schemas.ReasonIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    # The role first: whether a user id exists is for an admin to know.
    access.require_role(caller.actor, Role.ADMIN)
    check_if_match(ledger, caller, ledger.app.user(user_id))
    result = ledger.app.deactivate_user(caller.actor, user_id, body.reason, **caller.kw)
    user = ledger.app.user(user_id)
    return written(response, ledger, result, f"/v1/users/{user.id}", _user(user), user)


@router.post(
    "/v1/tokens/revoke",
    response_model=schemas.Written,
    summary="Revoke one bearer token",
    description="The caller's own token (log out), or as an admin any token handed in; a token "
    "of someone else answers 404. To cut off every token of a user, deactivate the user.",
)
def revoke_token(
    body: schemas.TokenRevokeIn, caller: WriterDep, ledger: LedgerDep, response: Response
) -> schemas.Written:
    result = ledger.app.revoke_token(caller.actor, body.token, body.reason, **caller.kw)
    return written(response, ledger, result, f"/v1/users/{result.value['user_id']}")


@router.get("/v1/me", response_model=schemas.Resource, summary="The caller")
def me(actor: ActorDep, ledger: LedgerDep) -> dict:
    return _user(ledger.app.user(actor.user_id))


def _user(user) -> dict:
    return {
        "id": str(user.id),
        "version": user.version,
        "role": str(user.role),
        "student_id": str(user.student_id) if user.student_id else None,
        "active": user.active,
    }
