"""The FastAPI application: one LedgerApplication and one ReadModels per process."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import structlog
from fastapi import FastAPI

from api import logs, problems
from api.deps import Ledger
from api.middleware import MAX_BODY_BYTES, RequestContext
from api.routes import (
    credits,
    evidence,
    experiences,
    exports,
    frameworks,
    imports,
    integrity,
    judgments,
    operations,
    reads,
    students,
    users,
)
from ledger.application import LedgerApplication, utc_now
from ledger.integrity.checkpoints import maybe_checkpoint
from ledger.settings import Settings, get_settings
from projections import ReadModels

DESCRIPTION = """\
The competency ledger over HTTP. Authenticate with `Authorization: Bearer <token>`
(`ledger users add` prints one). Errors are RFC 9457 `application/problem+json`.
Writes accept `Idempotency-Key`; state changes on a resource accept `If-Match` with its `ETag`.
A write is projected before it answers, so the same client's next read sees it.
See docs/api.md."""


def create_app(
    database_url: str | None = None,
    *,
    settings: Settings | None = None,
    clock: Callable[[], datetime] = utc_now,
    max_body_bytes: int = MAX_BODY_BYTES,
    checkpoint_seconds: float | None = None,
) -> FastAPI:
    """The API over the ledger at ``database_url`` (default: the settings' URL). The ledger is
    opened when the app starts (lifespan) and closed when it stops. With ``checkpoint_seconds``,
    a background thread signs a checkpoint whenever ``checkpoint_interval`` events arrived."""
    settings = settings or get_settings()
    url = database_url or settings.database_url
    logs.configure(settings.log_level)

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        app = LedgerApplication(database_url=url, clock=clock)
        try:
            rm = ReadModels(app)
            stop = threading.Event()
            checkpointer = None
            if checkpoint_seconds:
                checkpointer = threading.Thread(
                    target=_checkpoint_loop,
                    args=(app, stop, checkpoint_seconds),
                    name="checkpointer",
                    daemon=True,
                )
            try:
                rm.catch_up()
                api.state.ledger = Ledger(app, rm)
                if checkpointer:
                    checkpointer.start()
                yield
            finally:
                stop.set()
                if checkpointer:
                    checkpointer.join(timeout=30)
                rm.close()
        finally:
            app.close()

    api = FastAPI(
        title="competency-ledger",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    problems.install(api)
    # The reads first: a request is matched against the routes in this order, and matching
    # the busiest ones after every other router's routes was a tenth of a GET's server CPU. No
    # two routes match the same path, so the order changes nothing else (and the docs group by tag).
    for module in (
        reads,
        operations,
        frameworks,
        imports,
        students,
        users,
        experiences,
        evidence,
        judgments,
        credits,
        exports,
        integrity,
    ):
        api.include_router(module.router)
    api.add_middleware(RequestContext, max_body=max_body_bytes)
    return api


def _checkpoint_loop(app: LedgerApplication, stop: threading.Event, seconds: float) -> None:
    # Writes come through this process, so it is the one that notices N new events. A failure
    # (database away, key missing) is logged by kind only and retried on the next tick.
    log = structlog.get_logger("api.checkpoints")
    while not stop.wait(seconds):
        try:
            maybe_checkpoint(app)
        except Exception as e:  # noqa: BLE001 - keep serving; the next tick tries again
            log.warning("checkpoint.failed", error=type(e).__name__)


def served_app() -> FastAPI:
    """The app as `ledger serve --workers N` builds it in each worker process."""
    return create_app(checkpoint_seconds=10.0)
