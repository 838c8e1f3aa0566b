"""Imports over HTTP: a CASE package and a OneRoster roster, as JSON bodies (the API takes JSON
only, up to its body limit; bigger rosters go through `ledger import oneroster`). Each reads the
whole input into a plan before it writes; a bad file answers 422 naming the offending element
and writes nothing. Importing the same input again records nothing."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api import schemas
from api.deps import LedgerDep, WriterDep, written
from api.routes import PROBLEMS
from ledger.imports.case import parse_case
from ledger.imports.oneroster import RosterOptions, parse_oneroster
from ledger.imports.report import InvalidImport
from ledger.imports.settings import FrameworkOptions, mapping_from_dict

router = APIRouter(tags=["imports"], responses=PROBLEMS)


class CaseImportIn(BaseModel):
    package: dict[str, Any] = Field(description="A CASE CFPackage, as JSON.")
    mapping: dict[str, Any] | None = Field(
        None, description="Scale, method and graduation areas: the mapping file's JSON form."
    )


class RosterImportIn(BaseModel):
    files: dict[str, str] | None = Field(
        None, description="OneRoster CSV files by name (users.csv, enrollments.csv...)."
    )
    zip_base64: str | None = Field(None, description="Or: the export's zip file, base64.")
    local_id: str = Field("identifier", description="identifier or sourcedId.")
    default_cohort: int | None = None
    school_year: int | None = None


@router.post(
    "/v1/frameworks/import",
    response_model=schemas.Written,
    summary="Import or re-import a CASE framework",
)
def import_case(
    body: CaseImportIn, caller: WriterDep, ledger: LedgerDep, response: Response
) -> schemas.Written:
    options = mapping_from_dict(body.mapping) if body.mapping is not None else FrameworkOptions()
    # Through the bytes path, so the same Unicode checks apply as to a file.
    plan = parse_case(json.dumps(body.package).encode(), options)
    result = ledger.app.import_framework(
        caller.actor,
        plan.framework_id,
        plan.definition,
        "re-imported from a CASE package",
        correlation_id=caller.correlation_id,
    )
    resource = {
        **result.value,
        "counts": plan.counts,
        "normalised": plan.normalisations.as_dict(),
    }
    if result.value["status"] == "published":
        response.status_code = 201
    return written(response, ledger, result, f"/v1/frameworks/{plan.framework_id}", resource)


@router.post(
    "/v1/rosters/import", response_model=schemas.Written, summary="Import or re-import a roster"
)
def import_roster(
    body: RosterImportIn, caller: WriterDep, ledger: LedgerDep, response: Response
) -> schemas.Written:
    if (body.files is None) == (body.zip_base64 is None):
        raise InvalidImport("send either files or zip_base64")
    if body.zip_base64 is not None:
        try:
            source: Any = base64.b64decode(body.zip_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidImport("zip_base64 is not base64") from None
    else:
        source = {name: text.encode("utf-8", "replace") for name, text in body.files.items()}
    options = RosterOptions(
        local_id=body.local_id, default_cohort=body.default_cohort, school_year=body.school_year
    )
    plan = parse_oneroster(source, options)
    result = ledger.app.import_roster(
        caller.actor, plan, reason="OneRoster re-import", correlation_id=caller.correlation_id
    )
    resource = {
        **result.value,
        "counts": plan.counts,
        "normalised": plan.normalisations.as_dict(),
    }
    return written(response, ledger, result, "/v1/students", resource)
