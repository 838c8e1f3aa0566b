"""Tamper evidence over HTTP: verify the whole log, and a credit's proof bundle for an auditor
(docs/integrity.md)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter

from api.deps import ActorDep, LedgerDep, visible_of_student
from api.routes import PROBLEMS
from ledger import access
from ledger.domain import Role
from ledger.integrity.proofs import credit_proof
from ledger.integrity.verify import verify_ledger

router = APIRouter(tags=["integrity"], responses=PROBLEMS)


@router.get(
    "/v1/ledger/verify",
    response_model=dict[str, Any],
    summary="Recompute the Merkle tree over every stored event and check every signed checkpoint",
)
def verify(actor: ActorDep, ledger: LedgerDep) -> dict:
    access.require_role(actor, Role.REGISTRAR, Role.ADMIN, Role.SYSTEM)
    return verify_ledger(ledger.app).to_dict()


@router.get(
    "/v1/credits/{credit_id}/proof",
    response_model=dict[str, Any],
    summary="The events behind a credit with inclusion proofs an auditor can check offline",
)
def proof(credit_id: UUID, actor: ActorDep, ledger: LedgerDep) -> dict:
    # The bundle carries the events' stored payloads: a registrar's hand-off to an auditor.
    access.require_role(actor, Role.REGISTRAR, Role.ADMIN, Role.SYSTEM)
    visible_of_student(ledger, actor, ledger.app.credit(credit_id), "credit")
    lineage = ledger.read("credit", credit_id, "lineage", str(credit_id))
    return credit_proof(ledger.app, lineage, credit_id=str(credit_id))
