"""RFC 9457 problem details: every error the API answers, in one shape.

The ``type`` URI of a domain error is built from its stable ``code`` in ``ledger.errors``, so
clients can branch on it; ``title`` is the class's human title and ``detail`` this occurrence.
"""

from __future__ import annotations

import sqlite3
import traceback
from typing import Any

import psycopg
import psycopg_pool
import structlog
from eventsourcing import persistence
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger import errors

PROBLEM_BASE = "https://competency-ledger.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_SECONDS = "5"

log = structlog.get_logger("api")

# Domain error class -> HTTP status. Subclasses inherit their parent's status (looked up by MRO).
STATUS_OF: dict[type[errors.LedgerError], int] = {
    errors.NotFound: 404,
    errors.VersionChanged: 412,
    errors.NotPermitted: 403,
    errors.InvalidCommand: 422,
    errors.StateConflict: 409,
    errors.ConcurrencyConflict: 409,
    errors.IdempotencyKeyReused: 422,
    errors.LedgerError: 422,
}

# The database did not answer: the request may succeed later, so 503 + Retry-After.
UNAVAILABLE = (
    persistence.OperationalError,
    persistence.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    sqlite3.OperationalError,
)


class FieldError(BaseModel):
    location: list[str | int] = Field(description="Where the bad value is: body, query, header...")
    message: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str = Field(examples=[PROBLEM_BASE + "not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["student 6b1f... does not exist"])
    instance: str = Field(description="The request path that failed.", examples=["/v1/students/x"])
    errors: list[FieldError] | None = Field(
        default=None, description="For request validation problems: each bad field."
    )


def problem_response(
    request: Request | None,
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    field_errors: list[dict[str, Any]] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance if instance is not None else (request.url.path if request else ""),
    }
    if field_errors is not None:
        body["errors"] = field_errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def status_for(exc: errors.LedgerError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 422


class Unauthenticated(Exception):
    """No bearer token, or one the ledger does not know."""


class PreconditionFailed(Exception):
    """If-Match named a version that is no longer current."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The offending input is left out on purpose: it can be a student's name or free text.
    return [
        {
            "location": [str(p) if not isinstance(p, int) else p for p in e.get("loc", ())],
            "message": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]


HTTP_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.LedgerError)
    def ledger_error(request: Request, exc: errors.LedgerError) -> JSONResponse:
        return problem_response(request, status_for(exc), exc.code, exc.title, exc.detail)

    @app.exception_handler(Unauthenticated)
    def unauthenticated(request: Request, exc: Unauthenticated) -> JSONResponse:
        return problem_response(
            request,
            401,
            "unauthenticated",
            "Authentication required",
            str(exc) or "send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="competency-ledger"'},
        )

    @app.exception_handler(PreconditionFailed)
    def precondition_failed(request: Request, exc: PreconditionFailed) -> JSONResponse:
        return problem_response(
            request, 412, "precondition-failed", "Precondition failed", exc.detail
        )

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = _field_errors(exc)
        if any(e["type"] == "json_invalid" for e in errs):
            return problem_response(
                request, 400, "malformed-json", "Malformed JSON", "the body is not valid JSON"
            )
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['location'])}: {e['message']}" for e in errs[:5]
        )
        return problem_response(
            request,
            422,
            "request-validation",
            "Request validation failed",
            where or "the request is not valid",
            field_errors=errs,
        )

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = HTTP_TITLES.get(exc.status_code, ("http-error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem_response(
            request, exc.status_code, code, title, detail, headers=getattr(exc, "headers", None)
        )

    for cls in UNAVAILABLE:
        app.add_exception_handler(cls, database_unavailable)

    @app.exception_handler(Exception)
    def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Where it failed goes to the log, but not the message: messages can quote the data
        # (a response that failed validation holds a student's record). The client learns nothing.
        frames = [
            f"{f.filename}:{f.lineno}:{f.name}" for f in traceback.extract_tb(exc.__traceback__)
        ]
        log.error("unhandled_error", error_type=type(exc).__name__, frames=frames[-8:])
        return problem_response(
            request, 500, "internal-error", "Internal error", "the server failed; it is logged"
        )


def log_unexpected(exc: BaseException) -> None:
    """Where it failed goes to the log, but not the message: messages can quote the data (a
    response that failed validation holds a student's record). The client learns nothing."""
    frames = [f"{f.filename}:{f.lineno}:{f.name}" for f in traceback.extract_tb(exc.__traceback__)]
    log.error("unhandled_error", error_type=type(exc).__name__, frames=frames[-8:])


def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database_unavailable", error_type=type(exc).__name__)
    return problem_response(
        request,
        503,
        "database-unavailable",
        "Database unavailable",
        "the ledger's database does not answer; retry later",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting problem+json for the given statuses."""
    described = {
        400: "Malformed request",
        401: "Missing or unknown bearer token",
        403: "The caller may see the record but not take this action",
        404: "No such record, or one the caller may not know exists",
        409: "The record's state does not allow this",
        412: "If-Match names a version that is no longer current",
        413: "Request body larger than the limit",
        415: "Body is not application/json",
        422: "Invalid request or command",
        503: "Database unavailable (see Retry-After)",
    }
    return {
        s: {
            "description": described[s],
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in statuses
    }
