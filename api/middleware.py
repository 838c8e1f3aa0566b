"""Per-request plumbing, as one pure ASGI middleware: correlation id, body limits, access log.

Pure ASGI (not BaseHTTPMiddleware) so the body can be counted as it streams in and a request
that exceeds the cap is refused with 413 before the route ever parses it.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import log_unexpected, problem_response

MAX_BODY_BYTES = 1024 * 1024
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
JSON_TYPES = re.compile(r"^application/([a-z0-9.\-]+\+)?json$")

log = structlog.get_logger("api.access")


class _TooLarge(Exception):
    pass


def correlation_id_from(headers: dict[str, str]) -> str:
    """A client's X-Request-ID when it is a sane token, else a fresh one (never echo junk)."""
    given = headers.get("x-request-id", "")
    return given if REQUEST_ID.match(given) else uuid.uuid4().hex


class RequestContext:
    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = correlation_id_from(headers)
        scope.setdefault("state", {})["request_id"] = request_id
        status: dict[str, Any] = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            refusal = self._refuse(scope, headers)
            if refusal is not None:
                await refusal(scope, receive, send_with_id)
                return
            received = 0

            async def counted_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        # FastAPI turns other errors raised while reading into a 400.
                        raise HTTPException(
                            413, f"request bodies are at most {self.max_body} bytes"
                        )
                return message

            try:
                await self.app(scope, counted_receive, send_with_id)
            except _TooLarge:
                await self._too_large(scope)(scope, receive, send_with_id)
            except Exception as exc:  # noqa: BLE001 - the last line of defence, see below
                # Handled here, not re-raised: the server's own error log would print the
                # exception's message, which can quote a student's record.
                log_unexpected(exc)
                if status["code"] == 500 and not status.get("started"):
                    await problem_response(
                        None,
                        500,
                        "internal-error",
                        "Internal error",
                        "the server failed; it is logged",
                        instance=scope.get("path", ""),
                    )(scope, receive, send_with_id)
        finally:
            self._log(scope, request_id, status["code"], started)

    def _too_large(self, scope: Scope) -> Any:
        return problem_response(
            None,
            413,
            "payload-too-large",
            "Request body too large",
            f"request bodies are at most {self.max_body} bytes",
            instance=scope.get("path", ""),
        )

    def _refuse(self, scope: Scope, headers: dict[str, str]) -> Any:
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return problem_response(
                    None,
                    400,
                    "bad-request",
                    "Bad request",
                    "Content-Length is not a number",
                    instance=scope.get("path", ""),
                )
            if int(length) > self.max_body:
                return self._too_large(scope)
        if scope["method"] in ("POST", "PUT", "PATCH"):
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            has_body = (length is not None and int(length) > 0) or "transfer-encoding" in headers
            if has_body and not JSON_TYPES.match(ctype):
                return problem_response(
                    None,
                    415,
                    "unsupported-media-type",
                    "Unsupported media type",
                    "send the body as application/json",
                    instance=scope.get("path", ""),
                )
        return None

    @staticmethod
    def _log(scope: Scope, request_id: str, status: int, started: float) -> None:
        state = scope.get("state", {})
        actor = state.get("actor")
        route = scope.get("route")
        # The route template, not the raw path: ids are fine but paths may carry anything.
        template = getattr(route, "path", None) or "unmatched"
        log.info(
            "request",
            request_id=request_id,
            method=scope.get("method"),
            route=template,
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            actor_id=getattr(actor, "user_id", None),
            role=str(actor.role) if actor is not None else None,
        )
