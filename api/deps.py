"""What routes share: the process's ledger, the caller, visibility checks, write responses."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from fastapi import Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from api import schemas
from api.problems import PreconditionFailed, Unauthenticated
from ledger import access
from ledger.application import CommandResult, LedgerApplication, expected_versions
from ledger.domain import Actor, Experience, IdempotencyRecord, LedgerAggregate, Student
from ledger.domain.user import idempotency_id
from ledger.errors import InvalidCommand, NotFound
from ledger.fresh_reads import FreshReads
from projections import ReadModels

T = TypeVar("T")


@dataclass
class Ledger:
    """The one application and read side of this process, built in the lifespan."""

    app: LedgerApplication
    rm: ReadModels
    # Tokens, users and students for access checks, refreshed once per request.
    fresh: FreshReads = field(init=False)

    def __post_init__(self) -> None:
        self.fresh = FreshReads(self.app)

    def student(self, student_id: UUID | str) -> Student:
        """A shared, current copy for access checks (never hand it to a command)."""
        try:
            return self.fresh.get(Student, student_id)
        except (AggregateNotFoundError, ValueError):
            raise NotFound("student", student_id) from None

    def caught_up(self) -> None:
        # Read-your-writes: project the write before answering, so the next read sees it.
        self.rm.catch_up()

    def read(self, kind: str, ident: Any, query: str, *args: Any, **kw: Any) -> Any:
        """A read-model query about one record. ``None`` can mean the projection has not yet
        applied a record another process wrote: catch up once before calling it not found."""
        fn = getattr(self.rm, query)
        found = fn(*args, **kw)
        if found is None:
            self.rm.catch_up()
            found = fn(*args, **kw)
        if found is None:
            raise NotFound(kind, ident)
        return found

    @property
    def reads(self) -> ReadModels:
        return self.rm


# Dependencies that do no I/O are async: FastAPI runs a sync one in the thread pool, and the
# hop there and back cost more than the dependency itself.
async def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]

bearer = HTTPBearer(auto_error=False, description="A token from `ledger users add`.")


CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def authenticated(
    request: Request, ledger: Ledger, credentials: HTTPAuthorizationCredentials | None
) -> Actor:
    """The caller, checked against the log as it stands now (one query; it blocks)."""
    if credentials is None:
        raise Unauthenticated("send Authorization: Bearer <token>")
    ledger.fresh.refresh()
    actor = ledger.app.authenticate(credentials.credentials, ledger.fresh)
    if actor is None:
        raise Unauthenticated("the bearer token is unknown, revoked or its user inactive")
    request.state.actor = actor
    return actor


def current_actor(request: Request, ledger: LedgerDep, credentials: CredentialsDep) -> Actor:
    return authenticated(request, ledger, credentials)


ActorDep = Annotated[Actor, Depends(current_actor)]


@dataclass(frozen=True)
class ReadCaller:
    """For the read routes: the caller is authenticated in the same thread-pool hop as the
    read itself. A sync dependency and a sync route are a hop each, and a sync route's response
    is validated in a third; together they cost more CPU than the read they carried."""

    request: Request
    ledger: Ledger
    credentials: HTTPAuthorizationCredentials

    async def run(self, read: Callable[[Actor], T]) -> T:
        return await run_in_threadpool(self._run, read)

    def _run(self, read: Callable[[Actor], T]) -> T:
        return read(authenticated(self.request, self.ledger, self.credentials))


async def read_caller(
    request: Request, ledger: LedgerDep, credentials: CredentialsDep
) -> ReadCaller:
    # No token is refused here, before the query is validated, as on every other route (a 401,
    # not a 422 about parameters); a token is checked in the read's hop.
    if credentials is None:
        raise Unauthenticated("send Authorization: Bearer <token>")
    return ReadCaller(request, ledger, credentials)


ReadCallerDep = Annotated[ReadCaller, Depends(read_caller)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Replaying a request with the same key returns the first outcome.",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=200,
        description='The resource\'s ETag (e.g. "3"): refuse with 412 if it has changed.',
    ),
]


@dataclass(frozen=True)
class Caller:
    actor: Actor
    correlation_id: str
    idempotency_key: str | None
    if_match: str | None = None

    @property
    def kw(self) -> dict[str, Any]:
        return {"idempotency_key": self.idempotency_key, "correlation_id": self.correlation_id}


async def writer(request: Request, actor: ActorDep, key: IdempotencyKey = None) -> Caller:
    return Caller(actor, request.state.request_id, key)


async def resource_writer(
    request: Request, actor: ActorDep, key: IdempotencyKey = None, if_match: IfMatch = None
) -> Caller:
    return Caller(actor, request.state.request_id, key, if_match)


WriterDep = Annotated[Caller, Depends(writer)]
ResourceWriterDep = Annotated[Caller, Depends(resource_writer)]


# ------------------------------------------------------------------ ETags and preconditions
def etag(aggregate: LedgerAggregate) -> str:
    return f'"{aggregate.version}"'


def check_if_match(ledger: Ledger, caller: Caller, aggregate: LedgerAggregate) -> None:
    """412 unless If-Match names the current version. A retry of a write that already happened
    (same Idempotency-Key) is let through so it can replay its first answer."""
    if caller.if_match is None:
        return
    # Strong comparison (RFC 9110 section 13.1.1): a weak tag (W/"...") never matches.
    tags = {t.strip() for t in caller.if_match.split(",")}
    if "*" in tags:
        return
    if etag(aggregate) in tags:
        # Held again when the command writes: a concurrent writer may commit in between.
        # (The endpoint runs in a copied context, so this ends with the request.)
        versions = frozenset(int(t[1:-1]) for t in tags if re.fullmatch(r'"\d{1,18}"', t))
        expected_versions.set({aggregate.id: versions})
        return
    if caller.idempotency_key is not None and ledger.app.exists(
        IdempotencyRecord, idempotency_id(caller.actor.user_id, caller.idempotency_key)
    ):
        return
    raise PreconditionFailed(
        f"If-Match {caller.if_match} is not the current version {etag(aggregate)}"
    )


# ------------------------------------------------------------------ visibility
def visible_student(ledger: Ledger, actor: Actor, student_id: UUID) -> Student:
    """The student, or NotFound when the caller may not know the record exists."""
    s = ledger.student(student_id)
    if not access.can_see_student(actor, s):
        raise NotFound("student", student_id)
    return s


def visible_experience(
    ledger: Ledger, actor: Actor, experience_id: UUID
) -> tuple[Experience, Student]:
    x = ledger.app.experience(experience_id)
    s = ledger.student(x.student_id)
    if not access.can_see_experience(actor, x, s):
        raise NotFound("experience", experience_id)
    return x, s


def visible_of_student(ledger: Ledger, actor: Actor, aggregate: Any, kind: str) -> Student:
    """For records that belong to one student (credits, judgments, evidence)."""
    s = ledger.student(aggregate.student_id)
    if not access.can_see_student(actor, s):
        raise NotFound(kind, aggregate.id)
    return s


# ------------------------------------------------------------------ write responses
def written(
    response: Response,
    ledger: Ledger,
    result: CommandResult,
    location: str,
    resource: dict[str, Any] | None = None,
    aggregate: LedgerAggregate | None = None,
) -> schemas.Written:
    ledger.caught_up()
    response.headers["Location"] = location
    if aggregate is not None:
        response.headers["ETag"] = etag(aggregate)
    return schemas.Written(
        resource=resource if resource is not None else dict(result.value),
        position=result.position,
        replayed=result.replayed,
    )


# ------------------------------------------------------------------ time and paging
AsOf = Annotated[
    AwareDatetime | None,
    Query(description="RFC 3339 instant with a zone (recorded time): the ledger as it stood."),
]
EffectiveOn = Annotated[
    date | None, Query(description="A date (effective time): what we now know was true then.")
]
Cursor = Annotated[
    str | None,
    Query(max_length=512, pattern=r"^[A-Za-z0-9_\-=.]*$", description="Opaque; from next_cursor."),
]
Limit = Annotated[int, Query(ge=1, le=200)]


@dataclass(frozen=True)
class Moment:
    as_of: datetime | None
    effective_on: date | None

    @property
    def kw(self) -> dict[str, Any]:
        return {"as_of": self.as_of, "effective_on": self.effective_on}


def moment(as_of: AsOf = None, effective_on: EffectiveOn = None) -> Moment:
    if as_of is not None and effective_on is not None:
        raise InvalidCommand("pass as_of (recorded time) or effective_on (a date), not both")
    if as_of is not None:
        try:
            as_of = as_of.astimezone(UTC)
        except (OverflowError, ValueError):
            raise InvalidCommand("as_of is out of range") from None
    return Moment(as_of, effective_on)


async def _moment(as_of: AsOf = None, effective_on: EffectiveOn = None) -> Moment:
    return moment(as_of, effective_on)


MomentDep = Annotated[Moment, Depends(_moment)]
