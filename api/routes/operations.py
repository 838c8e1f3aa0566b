"""Liveness and readiness, for load balancers and `make run`."""

from __future__ import annotations

from fastapi import APIRouter

from api import schemas
from api.deps import LedgerDep
from api.routes import PROBLEMS

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=schemas.Health, summary="The process is up")
def healthz() -> schemas.Health:
    return schemas.Health(status="ok")


@router.get(
    "/readyz",
    response_model=schemas.Readiness,
    summary="The database answers; how far the projections lag",
    responses={503: PROBLEMS[503]},
)
def readyz(ledger: LedgerDep) -> schemas.Readiness:
    # A database error here propagates to the 503 handler (problem+json with Retry-After).
    position = ledger.app.position()
    projected = ledger.reads.position()
    return schemas.Readiness(
        status="ready",
        database="ok",
        position=position,
        projection_position=projected,
        projection_lag=ledger.reads.lag(),
    )
