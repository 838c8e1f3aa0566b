"""Exports over HTTP: the state grade-history file, a student's CLR 2.0 and printable transcript.

Each response is the file's bytes; the headers name the Export event recorded for it
(``X-Export-Id``), its SHA-256 and the log position read. A refused state export answers 422
with the invalid rows listed in the problem's ``rows`` member.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import ActorDep, AsOf, LedgerDep, visible_student
from api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE
from api.routes import PROBLEMS
from ledger.errors import ExportRefused, InvalidCommand
from projections.exports.service import (
    Made,
    export_clr,
    export_grade_history,
    export_transcript_pdf,
)

router = APIRouter(tags=["exports"], responses=PROBLEMS)

SchoolYear = Annotated[
    str, Query(pattern=r"^\d{4}-\d{2}$", description="The school year, like 2025-26.")
]


def _instant(as_of: datetime | None) -> datetime | None:
    if as_of is None:
        return None
    try:
        return as_of.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidCommand("as_of is out of range") from None


def _file(made: Made, disposition: str = "attachment") -> Response:
    return Response(
        content=made.file.content,
        media_type=made.file.media_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{made.file.name}"',
            "X-Export-Id": made.export_id,
            "X-Export-SHA256": made.file.sha256,
            "X-Ledger-Position": str(made.position),
            "Cache-Control": "no-store",
        },
    )


def _content(media_type: str, description: str) -> dict:
    return {200: {"description": description, "content": {media_type: {}}}}


@router.get(
    "/v1/exports/state/grade-history",
    summary="The CEDARS Student Grade History file for a school year (reporters, registrars)",
    response_class=Response,
    responses=_content("text/tab-separated-values", "Tab-delimited, header row, CRLF, UTF-8"),
)
def grade_history(
    request: Request,
    actor: ActorDep,
    ledger: LedgerDep,
    school_year: SchoolYear,
    as_of: AsOf = None,
) -> Response:
    try:
        made = export_grade_history(
            ledger.app, ledger.reads, actor, school_year=school_year, as_of=_instant(as_of)
        )
    except ExportRefused as e:
        return JSONResponse(
            {
                "type": PROBLEM_BASE + e.code,
                "title": e.title,
                "status": 422,
                "detail": e.detail,
                "instance": request.url.path,
                "rows": e.rows,
            },
            status_code=422,
            media_type=PROBLEM_MEDIA_TYPE,
        )
    return _file(made)


@router.get(
    "/v1/students/{student_id}/clr",
    summary="The student's Comprehensive Learner Record 2.0 (unsigned ClrCredential)",
    response_class=Response,
    responses=_content("application/ld+json", "A ClrCredential (VC Data Model 1.1)"),
)
def clr(student_id: UUID, actor: ActorDep, ledger: LedgerDep, as_of: AsOf = None) -> Response:
    visible_student(ledger, actor, student_id)
    made = export_clr(ledger.app, ledger.reads, actor, student_id, as_of=_instant(as_of))
    return _file(made, "inline")


@router.get(
    "/v1/students/{student_id}/transcript.pdf",
    summary="A printable transcript (PDF, one or two pages)",
    response_class=Response,
    responses=_content("application/pdf", "The transcript"),
)
def transcript_pdf(
    student_id: UUID, actor: ActorDep, ledger: LedgerDep, as_of: AsOf = None
) -> Response:
    visible_student(ledger, actor, student_id)
    made = export_transcript_pdf(ledger.app, ledger.reads, actor, student_id, as_of=_instant(as_of))
    return _file(made, "inline")
