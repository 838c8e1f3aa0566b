"""The application service: the only way into the write side.

Every command runs the same way (``_run``): check the caller, load the few small aggregates it
touches, let them decide, save every new event in one transaction. A version conflict with a
concurrent command is retried a bounded number of times; an idempotency key is saved with the
command's own events, so a replay finds the first outcome and writes nothing.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import random
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
    project_aggregate,
)
from eventsourcing.persistence import IntegrityError, Transcoding

from ledger import access
from ledger.domain import (
    ApiToken,
    Artifact,
    CommandContext,
    Credit,
    EvidenceRef,
    Experience,
    Export,
    Framework,
    FrameworkDefinition,
    IdempotencyRecord,
    Judgment,
    MentorNote,
    Reflection,
    Role,
    Student,
    User,
)
from ledger.domain.areas import check_amount
from ledger.domain.base import Actor, LedgerAggregate
from ledger.domain.credit import check_basis_present
from ledger.domain.evidence import EVIDENCE_KINDS
from ledger.domain.user import idempotency_id, token_id_for
from ledger.errors import (
    ConcurrencyConflict,
    EvidenceNotFound,
    EvidenceOfAnotherStudent,
    IdempotencyKeyReused,
    InvalidBasis,
    InvalidCommand,
    LedgerError,
    NotFound,
    NotPermitted,
    StateConflict,
    VersionChanged,
)
from ledger.fresh_reads import FreshReads
from ledger.persistence import GroupCommitRecorder, bulk_copy
from ledger.persistence import reads as command_reads
from ledger.persistence.repository import LedgerRepository
from ledger.store import StoreConfig, parse_database_url

if TYPE_CHECKING:
    from ledger.imports.plan import RosterPlan

A = TypeVar("A", bound=LedgerAggregate)

_BULK_FAILED = (
    "another writer changed a record during a bulk write; that chunk and the rest of the block"
    " were not saved"
)

MAX_ATTEMPTS = 12


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class CommandResult:
    """What a command did: the resource it made or changed, and the log position of its events
    (wait for that position to read your own write)."""

    value: dict[str, Any]
    position: int | None
    event_count: int = 0
    replayed: bool = False

    @property
    def id(self) -> str:
        return self.value["id"]


@dataclass
class _Outcome:
    save: list[LedgerAggregate | None]
    value: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


def _plain(obj: Any) -> Any:
    """Canonical JSON form of command arguments, for the idempotency fingerprint."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (UUID, Decimal)):
        return str(obj)
    if isinstance(obj, (date, datetime)):
        return obj.isoformat()
    if hasattr(obj, "to_dict"):
        return _plain(obj.to_dict())
    return obj


def fingerprint(command: str, args: dict[str, Any]) -> str:
    body = json.dumps({"command": command, "args": _plain(args)}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


# Versions a caller requires of records a command writes (an API request's If-Match), checked
# against the version each was loaded at, inside the optimistic-concurrency loop: a check made
# only before the command lets two writers that both read version N each commit.
expected_versions: ContextVar[dict[UUID, frozenset[int]] | None] = ContextVar(
    "expected_versions", default=None
)


def _check_expected(aggregates: Iterable[Any]) -> None:
    expected = expected_versions.get()
    if not expected:
        return
    for a in aggregates:
        allowed = expected.get(getattr(a, "id", None))
        if allowed is not None:
            loaded = a.version - len(a.pending_events)
            if loaded not in allowed:
                raise VersionChanged(f"the record is at version {loaded}, not the one required")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _collect(into: ProcessingEvent, objs: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """ProcessingEvent.collect_events less its two runtime-Protocol isinstance checks per object
    (profiled: a tenth of a one-event command's CPU, a fifth of a bulk command's)."""
    for obj in objs:
        if isinstance(obj, LedgerAggregate):
            into.events.extend(obj.collect_events())
            into.aggregates[obj.id] = obj
        elif obj is not None:
            into.collect_events(obj)
    into.saved_kwargs.update(kwargs)


class LedgerApplication(Application):
    """Commands of the competency ledger. Construct one per process."""

    name = "CompetencyLedger"
    env = {
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
    }
    snapshotting_intervals = {Experience: 200, Student: 200}
    # Set inside ``bulk()``: the events of commands not yet written, the chunk size, and the
    # aggregates the block wrote last (served from memory: the block is their only writer).
    _bulk: ProcessingEvent | None = None
    _bulk_chunk = 0
    _bulk_known: OrderedDict[UUID, LedgerAggregate] | None = None
    # Within one command of the block: the aggregates lent to it and their versions then.
    _bulk_lent: dict[UUID, tuple[LedgerAggregate, int]] | None = None
    _bulk_freezes = False
    # PostgreSQL: the thread that COPYs chunks, and the chunk it is writing (at most one).
    _bulk_writer: ThreadPoolExecutor | None = None
    _bulk_inflight: tuple[Future[None], ProcessingEvent] | None = None
    # Set once a chunk failed: the block's memory is ahead of the store, so nothing more of
    # the block may be written.
    _bulk_failed = False
    # Correlation ids of the block's commands: a random prefix and a count.
    _bulk_prefix = ""
    _bulk_commands = 0
    # Records the block keeps in memory (in order of last use). A district cites a reflection,
    # note or judgment months after writing it, so the reuse distance grows with the district:
    # at 2,000 students 20,000 meant 10,034 reloads from the store (112 us/event of CPU), 50,000
    # meant 4,005 (98 us, 402 MB peak RSS), 80,000 meant 2,001 (96 us, 456 MB).
    BULK_KNOWN_MAX = 50_000

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        database_url: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store: StoreConfig | None = None
        if database_url is not None:
            self.store = parse_database_url(database_url)
            if self.store.sqlite_path is not None:
                Path(self.store.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
            env = {**self.store.env, **(env or {})}
        super().__init__(env)
        self.clock = clock

    def close(self) -> None:
        # The group-commit recorder keeps a connection of the pool: it goes back before the pool
        # closes (a connection out of the pool would stay open until collected).
        if isinstance(self.recorder, GroupCommitRecorder):
            self.recorder.close()
        super().close()

    def construct_repository(self) -> Repository[Any]:
        # The library's, with a cheaper cache and fast-forward locks (persistence/repository.py).
        return LedgerRepository.like(super().construct_repository())

    def register_transcodings(self, transcoder: Any) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # ------------------------------------------------------------------ running commands
    def context(self, actor: Actor, correlation_id: str | None = None) -> CommandContext:
        return CommandContext(
            actor=actor, recorded_at=self.clock(), correlation_id=correlation_id or uuid4().hex
        )

    def _run(
        self,
        command: str,
        actor: Actor,
        args: dict[str, Any],
        decide: Callable[[CommandContext], _Outcome],
        *,
        idempotency_key: str | None,
        correlation_id: str | None,
    ) -> CommandResult:
        if self._bulk is not None and idempotency_key is None:
            return self._run_bulk(actor, decide, correlation_id)
        record_id = fp = None
        if idempotency_key is not None:
            if not (0 < len(idempotency_key) <= 255):
                raise InvalidCommand("an idempotency key has 1 to 255 characters")
            record_id = idempotency_id(actor.user_id, idempotency_key)
            fp = fingerprint(command, args)
            replay = self._replay(record_id, command, fp)
            if replay is not None:
                return replay
        # Where the recorder checks what a command read at commit, the first attempt reads from
        # the cache without a round trip per aggregate (ledger/persistence/reads.py).
        checks_reads = self._bulk is None and getattr(self.recorder, "checks_reads", False)
        for attempt in range(MAX_ATTEMPTS):
            ctx = self.context(actor, correlation_id)
            try:
                with command_reads.tracking(checks_reads, attempt) as read:
                    outcome = decide(ctx)
                _check_expected(a for a in outcome.save if a is not None)
            except LedgerError:
                if read is not None and read.from_cache and attempt == 0:
                    # Decided on cached copies that nobody checked (another process may have
                    # moved them on: a second worker, a second server): a refusal is only
                    # given once it holds on state loaded from the store. (A concurrent
                    # request with the same key is looked for then, or its record conflicts.)
                    continue
                # A concurrent request with the same key may have committed since we looked:
                # its outcome, not the refusal its own write now causes, is the answer.
                if record_id is not None:
                    replay = self._replay(record_id, command, fp)
                    if replay is not None:
                        return replay
                raise
            to_save = [a for a in outcome.save if a is not None]
            if record_id is not None:
                to_save.append(
                    IdempotencyRecord._start(
                        IdempotencyRecord.Recorded,
                        ctx,
                        id=record_id,
                        command=command,
                        fingerprint=fp,
                        result=outcome.value,
                    )
                )
            elif (
                read is not None
                and read.from_cache
                and attempt == 0
                and not any(a.pending_events for a in to_save)
            ):
                # Nothing to write, so nothing the recorder would check the cached reads
                # against: "already so" on a stale copy would answer success for a change
                # another process undid. Decide again on state loaded from the store.
                continue
            try:
                recordings = self._save_now(
                    to_save, command_reads.recorder_kwargs(read, to_save), remember=checks_reads
                )
            except IntegrityError:
                if record_id is not None:
                    replay = self._replay(record_id, command, fp)
                    if replay is not None:
                        return replay
                # Another command moved one of our streams on: decide again on fresh state.
                time.sleep(min(0.2, 0.002 * 2**attempt) * random.random())
                continue
            position = max((r.notification.id for r in recordings), default=None)
            return CommandResult(outcome.value, position, len(recordings))
        raise ConcurrencyConflict(
            f"{command}: the record kept changing under {MAX_ATTEMPTS} attempts; try again"
        )

    def _replay(self, record_id: UUID, command: str, fp: str | None) -> CommandResult | None:
        try:
            record = self.repository.get(record_id)
        except AggregateNotFoundError:
            return None
        if record.command != command or record.fingerprint != fp:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used for a different request; use a new key"
            )
        return CommandResult(
            dict(record.result), self.recorder.max_notification_id(), 0, replayed=True
        )

    # ------------------------------------------------------------------ bulk writing
    @contextmanager
    def bulk(self, chunk_events: int = 2000) -> Iterator[None]:
        """Commands inside this block are written in chunks of about ``chunk_events`` events, one
        transaction per chunk instead of one per command (PITFALLS 1: one huge save hangs on
        PostgreSQL), and what the block wrote or read is served from memory. For one writer
        filling a store (the demo school, a generated district): the block as a whole is not
        atomic, commands return no log position, and a chunk that meets a concurrent writer
        fails the block with ConcurrencyConflict and writes nothing of that chunk.

        Every command still checks the caller and decides on current state, and a refused one
        writes nothing; but it decides on the block's own objects, not on copies
        (``_run_bulk``), and a chunk goes to PostgreSQL by binary COPY
        (ledger/persistence/bulk_copy.py): per event, the copies and the SQL text were most of
        the cost of an import (docs/performance.md). On PostgreSQL a chunk is written by a
        thread of the block while the next one is decided (one chunk at a time, in order), so a
        conflict may surface one chunk later, from a later command or the end of the block;
        either way that chunk and everything after it is not written."""
        if self._bulk is not None:
            raise InvalidCommand("bulk writing does not nest")
        self._bulk, self._bulk_chunk = ProcessingEvent(), max(1, chunk_events)
        self._bulk_known = OrderedDict()
        self._bulk_failed = False
        self._bulk_prefix, self._bulk_commands = secrets.token_hex(12), 0
        if bulk_copy.supports(self.recorder):
            self._bulk_writer = ThreadPoolExecutor(1, thread_name_prefix="ledger-bulk")
        # Unless someone else froze objects already (a pre-fork server), each written chunk
        # freezes what is alive (see _flush_bulk) and the end of the block thaws it.
        self._bulk_freezes = gc.get_freeze_count() == 0
        try:
            yield
            self._flush_bulk(settle=True)
        finally:
            writer, inflight = self._bulk_writer, self._bulk_inflight
            if inflight is not None:
                # Leaving on an error: let the chunk being written finish before the block
                # ends (its own outcome is not the news: the error that ended the block is).
                inflight[0].exception()
            if writer is not None:
                writer.shutdown(wait=True)
            self._bulk = self._bulk_known = self._bulk_lent = None
            self._bulk_writer = self._bulk_inflight = None
            if self._bulk_freezes:
                gc.unfreeze()

    def _run_bulk(
        self,
        actor: Actor,
        decide: Callable[[CommandContext], _Outcome],
        correlation_id: str | None,
    ) -> CommandResult:
        """One command inside ``bulk()``. The aggregates it loads are lent from the block's
        memory, not copied: copying an experience with its hours entries for every hours entry
        made the copy cost grow with the experience. Lending is safe because the block is the
        only writer and a refusal is undone here: every lent aggregate the failed command moved
        (or, on an unexpected error, every one it was lent) is dropped from memory after the
        chunk so far is written, so the next command loads it again from the store as it was.
        Saves cannot meet a version conflict before a chunk is written, so there is no retry."""
        if self._bulk_failed:
            raise ConcurrencyConflict(_BULK_FAILED)
        if correlation_id is None:
            # As unique as uuid4().hex and of its form, without a getrandom() call per command
            # (slow on these machines: 4-9 us each, profiled).
            self._bulk_commands += 1
            correlation_id = f"{self._bulk_prefix}{self._bulk_commands & 0xFFFFFFFF:08x}"
        ctx = self.context(actor, correlation_id)
        lent: dict[UUID, tuple[LedgerAggregate, int]] = {}
        self._bulk_lent = lent
        try:
            outcome = decide(ctx)
            to_save = [a for a in outcome.save if a is not None]
            _check_expected(to_save)
        except LedgerError:
            self._bulk_lent = None
            self._bulk_forget([a for a, v in lent.values() if a.version != v or a.pending_events])
            raise
        except BaseException:
            self._bulk_lent = None
            self._bulk_forget([a for a, _v in lent.values()])
            raise
        self._bulk_lent = None
        saved = {id(a) for a in to_save}
        # A command that moved an aggregate without saving it (none should) leaves memory
        # ahead of the store: drop it, as a copy would have been dropped.
        unsaved = [a for a, v in lent.values() if id(a) not in saved and a.version != v]
        if unsaved:
            self._bulk_forget(unsaved)
        self.save(*to_save)
        return CommandResult(outcome.value, None, 0)

    def _bulk_forget(self, aggregates: list[LedgerAggregate]) -> None:
        if not aggregates or self._bulk_known is None:
            return
        # The chunk so far holds only events of commands that succeeded: write it, so that the
        # store has every event accepted until now and a reload finds the state before the
        # failed command.
        self._flush_bulk(settle=True)
        for a in aggregates:
            self._bulk_known.pop(a.id, None)

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]:
        if self._bulk is None:
            return self._save_now(objs, kwargs, remember=False)
        chunk, known = self._bulk, self._bulk_known
        _collect(chunk, objs, kwargs)
        for obj in objs:
            if isinstance(obj, LedgerAggregate):
                known[obj.id] = obj
                known.move_to_end(obj.id)
        if len(chunk.events) >= self._bulk_chunk:
            self._flush_bulk()
        return []

    def _save_now(
        self, objs: Iterable[Any], kwargs: dict[str, Any], *, remember: bool
    ) -> list[Any]:
        """Application.save, with the events collected by _collect. ``remember``: bring the
        cache forward from what was stored (ledger/persistence/reads.py) before snapshots are
        taken, so that a snapshot due now is taken from the cache (``take_snapshot``)."""
        processing = ProcessingEvent()
        _collect(processing, tuple(objs), kwargs)
        recordings = self._record(processing)
        if remember:
            command_reads.remember(self.repository, self.mapper, recordings)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)  # the library's deprecated hook, kept as it calls it
        return recordings

    def take_snapshot(
        self,
        aggregate_id: Any,
        version: int | None = None,
        projector_func: Any = project_aggregate,
    ) -> None:
        """The library's snapshot, of the cached state where the cache holds exactly the version
        asked for: the library replays the aggregate from the store instead (two queries and
        every event since the last snapshot decoded, 200 here, each time). The cache after a
        commit is what a replay gives, types included (tests/persistence)."""
        cached = command_reads.cached_at(self.repository, aggregate_id, version)
        if cached is None or self.snapshots is None:
            super().take_snapshot(aggregate_id, version, projector_func)
            return
        snapshot_class = getattr(type(cached), "Snapshot", type(self).snapshot_class)
        self.snapshots.put([snapshot_class.take(cached)])

    def _flush_bulk(self, *, settle: bool = False) -> None:
        """Writes the chunk collected so far (on PostgreSQL: hands it to the block's writer
        once the previous chunk is committed). ``settle``: also wait until it is committed."""
        chunk, self._bulk = self._bulk, ProcessingEvent()
        if self._bulk_failed:
            raise ConcurrencyConflict(_BULK_FAILED)
        if chunk is not None and chunk.events:
            if self._bulk_writer is not None and not chunk.saved_kwargs:
                # Encoded here, copied by the writer; no recordings: nothing in the block asks
                # for positions (commands return none) and _notify does nothing here.
                stored = bulk_copy.to_stored_events(self.mapper, chunk.events)
                self._bulk_settle()
                future = self._bulk_writer.submit(bulk_copy.copy_events, self.recorder, stored)
                self._bulk_inflight = (future, chunk)
            else:
                self._bulk_settle()
                try:
                    recordings = self._record(chunk)
                except IntegrityError:
                    self._bulk_failed = True
                    raise ConcurrencyConflict(_BULK_FAILED) from None
                self._take_snapshots(chunk)
                self._notify(recordings)
            known = self._bulk_known
            # Never forget an aggregate whose events are still being written: a reload from
            # the store would miss them.
            while len(known) > self.BULK_KNOWN_MAX and next(iter(known)) not in chunk.aggregates:
                known.popitem(last=False)
            if self._bulk_freezes:
                # The block keeps tens of thousands of aggregates alive, and each full
                # collection of the cyclic GC walked all of them: GC time per event grew with
                # the district (7% of the build at 200 students, 17% at 1,000). What survived a
                # chunk is moved out of the collector's sight; reference counting still frees
                # it, and unfreeze() at the end hands any cycles among it back to the collector.
                gc.freeze()
        if settle:
            self._bulk_settle()

    def _bulk_settle(self) -> None:
        """Waits for the chunk being written; a failure fails the block."""
        inflight, self._bulk_inflight = self._bulk_inflight, None
        if inflight is None:
            return
        future, chunk = inflight
        try:
            future.result()
        except IntegrityError:
            self._bulk_failed = True
            raise ConcurrencyConflict(_BULK_FAILED) from None
        except BaseException:
            self._bulk_failed = True
            raise
        self._take_snapshots(chunk)
        self._notify([])

    # ------------------------------------------------------------------ loading
    def load(self, cls: type[A], ident: UUID | str, kind: str | None = None) -> A:
        kind = kind or cls.__name__.lower()
        try:
            uid = ident if isinstance(ident, UUID) else UUID(str(ident))
        except ValueError:
            raise NotFound(kind, ident) from None
        known = self._bulk_known
        if known is not None:
            return self._load_bulk(cls, uid, kind, ident, known)
        try:
            agg = command_reads.get(self.repository, uid)
        except AggregateNotFoundError:
            raise NotFound(kind, ident) from None
        if not isinstance(agg, cls):
            raise NotFound(kind, ident)
        return agg

    def _load_bulk(
        self,
        cls: type[A],
        uid: UUID,
        kind: str,
        ident: UUID | str,
        known: OrderedDict[UUID, LedgerAggregate],
    ) -> A:
        """Inside ``bulk()``: what the block wrote or read, from memory (kept in the order of
        last use, so that what the year keeps touching stays), else from the store. A command
        of the block borrows the block's object (see ``_run_bulk``); anyone else gets a copy,
        as from the cache."""
        agg = known.get(uid)
        if agg is None:
            try:
                agg = command_reads.get(self.repository, uid)
            except AggregateNotFoundError:
                raise NotFound(kind, ident) from None
            known[uid] = agg
        else:
            known.move_to_end(uid)
        if not isinstance(agg, cls):
            raise NotFound(kind, ident)
        lent = self._bulk_lent
        if lent is None:
            return copy.deepcopy(agg)
        lent.setdefault(uid, (agg, agg.version))
        return agg  # type: ignore[return-value]

    def exists(self, cls: type[LedgerAggregate], ident: UUID) -> bool:
        try:
            self.load(cls, ident)
        except NotFound:
            return False
        return True

    def student(self, student_id: UUID | str) -> Student:
        return self.load(Student, student_id, "student")

    def framework(self, framework_id: UUID | str) -> Framework:
        return self.load(Framework, framework_id, "framework")

    def experience(self, experience_id: UUID | str) -> Experience:
        return self.load(Experience, experience_id, "experience")

    def judgment(self, judgment_id: UUID | str) -> Judgment:
        return self.load(Judgment, judgment_id, "judgment")

    def credit(self, credit_id: UUID | str) -> Credit:
        return self.load(Credit, credit_id, "credit")

    def reflection(self, reflection_id: UUID | str) -> Reflection:
        return self.load(Reflection, reflection_id, "reflection")

    def user(self, user_id: UUID | str) -> User:
        return self.load(User, user_id, "user")

    # ------------------------------------------------------------------ users and tokens
    def add_user(
        self,
        actor: Actor,
        *,
        role: Role,
        name: str,
        student_id: UUID | None = None,
        external_id: str | None = None,
        user_id: UUID | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> tuple[CommandResult, str]:
        """Registers a user and issues their first token. The token is returned once, here."""
        access.require_role(actor, Role.ADMIN, Role.SYSTEM)
        token = "clt_" + secrets.token_urlsafe(32)

        def decide(ctx: CommandContext) -> _Outcome:
            sid = self.student(student_id).id if student_id is not None else None
            uid = user_id or uuid4()
            user = User.register(
                ctx,
                user_id=uid,
                role=role,
                name=name,
                student_id=sid,
                external_id=external_id,
            )
            tok = ApiToken.issue(ctx, token=token, user_id=uid)
            return _Outcome([user, tok], {"id": str(uid), "kind": "user", "role": str(role)})

        args = {
            "role": role,
            "name": name,
            "student_id": student_id,
            "external_id": external_id,
            "user_id": user_id,
        }
        result = self._run(
            "add_user",
            actor,
            args,
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )
        return result, ("" if result.replayed else token)

    def issue_token(self, actor: Actor, user_id: UUID) -> tuple[CommandResult, str]:
        access.require_role(actor, Role.ADMIN, Role.SYSTEM)
        token = "clt_" + secrets.token_urlsafe(32)

        def decide(ctx: CommandContext) -> _Outcome:
            if not self.user(user_id).active:
                raise StateConflict("the user is deactivated; a token would not authenticate")
            tok = ApiToken.issue(ctx, token=token, user_id=user_id)
            return _Outcome([tok], {"id": str(user_id), "kind": "user"})

        result = self._run(
            "issue_token",
            actor,
            {"user_id": user_id},
            decide,
            idempotency_key=None,
            correlation_id=None,
        )
        return result, token

    def authenticate(self, token: str, reads: FreshReads | None = None) -> Actor | None:
        """The actor a bearer token stands for, or None for an unknown, revoked or idle token.
        With ``reads`` (refreshed by the caller), token and user come from its shared copies."""
        if not token or len(token) > 200:
            return None
        try:
            if reads is not None:
                tok: Any = reads.get(ApiToken, token_id_for(token))
                user: Any = reads.get(User, tok.user_id)
            else:
                tok = self.repository.get(token_id_for(token))
                if not isinstance(tok, ApiToken):
                    return None
                user = self.user(tok.user_id)
        except (AggregateNotFoundError, NotFound, ValueError):
            return None
        if tok.revoked or not user.active:
            return None
        return Actor(str(user.id), user.role, user.student_id)

    def deactivate_user(
        self,
        actor: Actor,
        user_id: UUID,
        reason: str,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        """Every token of the user stops authenticating (``authenticate`` refuses an inactive
        user), so an admin need not know the token strings, which are shown only once."""
        access.require_role(actor, Role.ADMIN, Role.SYSTEM)
        _require_reason(reason)
        if actor.user_id == str(user_id):
            raise InvalidCommand("an admin may not deactivate themselves")

        def decide(ctx: CommandContext) -> _Outcome:
            user = self.user(user_id)
            user.deactivate(ctx, reason)
            return _Outcome([user], {"id": str(user.id), "kind": "user", "active": user.active})

        return self._run(
            "deactivate_user",
            actor,
            {"user_id": user_id, "reason": reason},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def revoke_token(
        self,
        actor: Actor,
        token: str,
        reason: str,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        """One token stops authenticating. Its holder may revoke it (log out), and an admin may
        revoke a token handed to them (one found leaked); anyone else is told it does not
        exist. The token string itself is never stored or returned."""
        _require_reason(reason)
        tid = token_id_for(token) if token and len(token) <= 200 else None

        def decide(ctx: CommandContext) -> _Outcome:
            if tid is None:
                raise NotFound("token", "given")
            tok = self.load(ApiToken, tid, "token")
            if actor.role not in (Role.ADMIN, Role.SYSTEM) and str(tok.user_id) != actor.user_id:
                raise NotFound("token", "given")
            tok.revoke(ctx, reason)
            return _Outcome(
                [tok], {"id": str(tok.id), "kind": "token", "user_id": str(tok.user_id)}
            )

        return self._run(
            "revoke_token",
            actor,
            {"token_id": tid, "reason": reason},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    # ------------------------------------------------------------------ frameworks
    def publish_framework(
        self,
        actor: Actor,
        definition: FrameworkDefinition,
        *,
        framework_id: UUID | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        access.require_role(actor, Role.ADMIN, Role.SYSTEM)

        def decide(ctx: CommandContext) -> _Outcome:
            fid = framework_id or uuid4()
            if framework_id is not None and self.exists(LedgerAggregate, fid):
                # Else every attempt's insert conflicts, and the twelfth answers "try again".
                raise StateConflict(
                    f"a record with id {fid} exists already; a published framework is revised"
                )
            fw = Framework.publish(ctx, fid, definition)
            return _Outcome([fw], {"id": str(fid), "kind": "framework", "revision": 1})

        return self._run(
            "publish_framework",
            actor,
            {"definition": definition, "framework_id": framework_id},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def revise_framework(
        self,
        actor: Actor,
        framework_id: UUID,
        definition: FrameworkDefinition,
        reason: str,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        access.require_role(actor, Role.ADMIN, Role.SYSTEM)

        def decide(ctx: CommandContext) -> _Outcome:
            fw = self.framework(framework_id)
            changes = fw.revise(ctx, definition, reason)
            return _Outcome(
                [fw],
                {
                    "id": str(framework_id),
                    "kind": "framework",
                    "revision": fw.revision,
                    "changes": changes,
                },
            )

        return self._run(
            "revise_framework",
            actor,
            {"framework_id": framework_id, "definition": definition, "reason": reason},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def import_framework(
        self,
        actor: Actor,
        framework_id: UUID,
        definition: FrameworkDefinition,
        reason: str,
        *,
        correlation_id: str | None = None,
    ) -> CommandResult:
        """Publishes an imported framework, or revises it when the import differs; the same
        definition again records nothing (value ``status``: published, revised, unchanged)."""
        access.require_role(actor, Role.ADMIN, Role.SYSTEM)
        wanted = definition.with_defaults()

        def decide(ctx: CommandContext) -> _Outcome:
            value: dict[str, Any] = {"id": str(framework_id), "kind": "framework"}
            try:
                fw = self.framework(framework_id)
            except NotFound:
                fw = Framework.publish(ctx, framework_id, wanted)
                added = [c.id for c in wanted.competencies]
                changes = {"added": added, "removed": [], "changed": []}
                return _Outcome(
                    [fw], {**value, "status": "published", "revision": 1, "changes": changes}
                )
            if fw.definition == wanted:
                return _Outcome([], {**value, "status": "unchanged", "revision": fw.revision})
            changes = fw.revise(ctx, wanted, reason)
            return _Outcome(
                [fw],
                {**value, "status": "revised", "revision": fw.revision, "changes": changes},
            )

        return self._run(
            "import_framework",
            actor,
            {"framework_id": framework_id, "definition": definition},
            decide,
            idempotency_key=None,
            correlation_id=correlation_id,
        )

    def import_roster(
        self,
        actor: Actor,
        plan: RosterPlan,
        *,
        reason: str = "roster re-import",
        correlation_id: str | None = None,
        chunk_events: int = 2000,
        progress: Callable[[int, int], None] | None = None,
    ) -> CommandResult:
        """Applies a roster plan: users and students missing are created, changed details
        corrected, missing advisor and guardian links added; what already matches records
        nothing. Every change is decided before the first write, so a bad row writes nothing.
        Up to ``chunk_events`` events go in one transaction; a bigger roster is saved in chunks
        (PITFALLS 1), and since the import converges, re-running it completes one that a
        crash cut short."""
        access.require_role(actor, Role.REGISTRAR, Role.ADMIN, Role.SYSTEM)
        for attempt in range(MAX_ATTEMPTS):
            ctx = self.context(actor, correlation_id)
            aggregates, value = self._decide_roster(ctx, plan, reason)
            chunks: list[list[LedgerAggregate]] = [[]]
            size = total = 0
            for agg in aggregates:
                n = len(agg.pending_events)
                if chunks[-1] and size + n > chunk_events:
                    chunks.append([])
                    size = 0
                chunks[-1].append(agg)
                size += n
                total += n
            recordings: list[Any] = []
            try:
                for chunk in chunks:
                    if chunk:
                        recordings += self.save(*chunk)
                    if progress is not None:
                        progress(len(recordings), total)
            except IntegrityError:
                time.sleep(min(0.2, 0.002 * 2**attempt) * random.random())
                continue
            value["chunks"] = sum(1 for c in chunks if c)
            position = max((r.notification.id for r in recordings), default=None)
            return CommandResult(value, position, len(recordings))
        raise ConcurrencyConflict(
            f"import_roster: the records kept changing under {MAX_ATTEMPTS} attempts; try again"
        )

    def _decide_roster(
        self, ctx: CommandContext, plan: RosterPlan, reason: str
    ) -> tuple[list[LedgerAggregate], dict[str, Any]]:
        tally = {
            "users": {"created": 0, "unchanged": 0},
            "students": {"created": 0, "updated": 0, "unchanged": 0},
            "advisor_links": 0,
            "guardian_links": 0,
        }
        out: list[LedgerAggregate] = []
        roles: dict[str, Role] = {}
        for p in plan.people:
            try:
                existing = self.user(p.user_id)
            except NotFound:
                out.append(
                    User.register(
                        ctx, user_id=p.user_id, role=p.role, name=p.name, external_id=p.external_id
                    )
                )
                roles[str(p.user_id)] = p.role
                tally["users"]["created"] += 1
                continue
            if existing.role is not p.role:
                raise InvalidCommand(f"{p.where}: user {p.user_id} is a {existing.role}")
            roles[str(p.user_id)] = p.role
            tally["users"]["unchanged"] += 1
        for s in plan.students:
            try:
                student = self.student(s.student_id)
            except NotFound:
                try:
                    student = Student.enroll(
                        ctx,
                        local_id=s.local_id,
                        given_name=s.given_name,
                        family_name=s.family_name,
                        grade_level=s.grade_level,
                        cohort=s.cohort,
                        school_code=s.school_code,
                        state_student_id=s.state_student_id,
                    )
                except InvalidCommand as e:
                    raise InvalidCommand(f"{s.where}: {e.detail}") from None
                tally["students"]["created"] += 1
            else:
                wanted = {
                    "given_name": s.given_name,
                    "family_name": s.family_name,
                    "grade_level": s.grade_level,
                    "cohort": s.cohort,
                }
                if s.state_student_id is not None:
                    wanted["state_student_id"] = s.state_student_id
                if student.correct_details(ctx, wanted, reason):
                    tally["students"]["updated"] += 1
                else:
                    tally["students"]["unchanged"] += 1
            sid = student.id
            for uid in plan.advisors.get(sid, []):
                self._check_roster_link(uid, Role.ADVISOR, roles, s.where)
                tally["advisor_links"] += student.assign_advisor(ctx, str(uid))
            for uid in plan.guardians.get(sid, []):
                self._check_roster_link(uid, Role.GUARDIAN, roles, s.where)
                tally["guardian_links"] += student.link_guardian(ctx, str(uid))
            if student.pending_events:
                out.append(student)
        value = {"kind": "roster", **tally, "events": sum(len(a.pending_events) for a in out)}
        return out, value

    def _check_roster_link(self, uid: UUID, role: Role, roles: dict[str, Role], where: str) -> None:
        if roles.get(str(uid)) is role:
            return
        try:
            known = self.user(uid).role
        except NotFound:
            raise InvalidCommand(f"{where}: linked user {uid} is not in the roster") from None
        if known is not role:
            raise InvalidCommand(f"{where}: user {uid} is a {known}, not a {role}")

    # ------------------------------------------------------------------ students
    def enroll_student(
        self,
        actor: Actor,
        *,
        local_id: str,
        given_name: str,
        family_name: str,
        grade_level: str,
        cohort: int,
        school_code: str,
        state_student_id: str | None = None,
        enrolled_on: date | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        access.require_role(actor, Role.REGISTRAR, Role.ADMIN, Role.SYSTEM)
        args = dict(
            local_id=local_id,
            given_name=given_name,
            family_name=family_name,
            grade_level=grade_level,
            cohort=cohort,
            school_code=school_code,
            state_student_id=state_student_id,
            enrolled_on=enrolled_on,
        )

        def decide(ctx: CommandContext) -> _Outcome:
            s = Student.enroll(ctx, **args)
            if self.exists(Student, s.id):
                raise InvalidCommand(
                    f"a student with local id {local_id!r} is already enrolled at {school_code}"
                )
            return _Outcome([s], {"id": str(s.id), "kind": "student"})

        return self._run(
            "enroll_student",
            actor,
            args,
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def correct_student_details(
        self,
        actor: Actor,
        student_id: UUID,
        changes: dict[str, Any],
        reason: str,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        access.require_role(actor, Role.REGISTRAR, Role.ADMIN, Role.SYSTEM)

        def decide(ctx: CommandContext) -> _Outcome:
            s = self.student(student_id)
            real = s.correct_details(ctx, changes, reason)
            return _Outcome(
                [s], {"id": str(student_id), "kind": "student", "changed": sorted(real)}
            )

        return self._run(
            "correct_student_details",
            actor,
            {"student_id": student_id, "changes": changes, "reason": reason},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def _link_person(
        self,
        command: str,
        actor: Actor,
        student_id: UUID,
        user_id: UUID,
        role: Role,
        idempotency_key: str | None,
        correlation_id: str | None,
    ) -> CommandResult:
        access.require_role(actor, Role.REGISTRAR, Role.ADMIN, Role.SYSTEM)

        def decide(ctx: CommandContext) -> _Outcome:
            s = self.student(student_id)
            person = self.user(user_id)
            if not person.active:
                raise InvalidCommand(f"user {user_id} is deactivated")
            if person.role is not role:
                raise InvalidCommand(f"user {user_id} is a {person.role}, not a {role}")
            if role is Role.ADVISOR:
                s.assign_advisor(ctx, str(person.id))
            else:
                s.link_guardian(ctx, str(person.id))
            return _Outcome(
                [s], {"id": str(student_id), "kind": "student", str(role): str(user_id)}
            )

        return self._run(
            command,
            actor,
            {"student_id": student_id, "user_id": user_id},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def assign_advisor(
        self,
        actor: Actor,
        student_id: UUID,
        advisor_id: UUID,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        return self._link_person(
            "assign_advisor",
            actor,
            student_id,
            advisor_id,
            Role.ADVISOR,
            idempotency_key,
            correlation_id,
        )

    def link_guardian(
        self,
        actor: Actor,
        student_id: UUID,
        guardian_id: UUID,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        return self._link_person(
            "link_guardian",
            actor,
            student_id,
            guardian_id,
            Role.GUARDIAN,
            idempotency_key,
            correlation_id,
        )

    def _unlink_person(
        self,
        command: str,
        actor: Actor,
        student_id: UUID,
        user_id: UUID,
        role: Role,
        reason: str,
        idempotency_key: str | None,
        correlation_id: str | None,
    ) -> CommandResult:
        access.require_role(actor, Role.REGISTRAR, Role.ADMIN, Role.SYSTEM)
        _require_reason(reason)

        def decide(ctx: CommandContext) -> _Outcome:
            s = self.student(student_id)
            person = self.user(user_id)
            if role is Role.ADVISOR:
                s.unassign_advisor(ctx, str(person.id), reason)
            else:
                s.unlink_guardian(ctx, str(person.id), reason)
            return _Outcome(
                [s], {"id": str(student_id), "kind": "student", str(role): str(user_id)}
            )

        return self._run(
            command,
            actor,
            {"student_id": student_id, "user_id": user_id, "reason": reason},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def unassign_advisor(
        self,
        actor: Actor,
        student_id: UUID,
        advisor_id: UUID,
        reason: str,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        """The advisor stops advising the student: no more reads or writes of their record."""
        return self._unlink_person(
            "unassign_advisor",
            actor,
            student_id,
            advisor_id,
            Role.ADVISOR,
            reason,
            idempotency_key,
            correlation_id,
        )

    def unlink_guardian(
        self,
        actor: Actor,
        student_id: UUID,
        guardian_id: UUID,
        reason: str,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        """The guardian stops being one of the student's (custody changed): no more reads."""
        return self._unlink_person(
            "unlink_guardian",
            actor,
            student_id,
            guardian_id,
            Role.GUARDIAN,
            reason,
            idempotency_key,
            correlation_id,
        )

    def withdraw_student(
        self,
        actor: Actor,
        student_id: UUID,
        reason: str,
        on: date | None = None,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        access.require_role(actor, Role.REGISTRAR, Role.SYSTEM)

        def decide(ctx: CommandContext) -> _Outcome:
            s = self.student(student_id)
            s.withdraw(ctx, reason, on)
            return _Outcome([s], {"id": str(student_id), "kind": "student", "status": s.status})

        return self._run(
            "withdraw_student",
            actor,
            {"student_id": student_id, "reason": reason, "on": on},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def graduate_student(
        self,
        actor: Actor,
        student_id: UUID,
        on: date | None = None,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        access.require_role(actor, Role.REGISTRAR, Role.SYSTEM)

        def decide(ctx: CommandContext) -> _Outcome:
            s = self.student(student_id)
            s.graduate(ctx, on)
            return _Outcome([s], {"id": str(student_id), "kind": "student", "status": s.status})

        return self._run(
            "graduate_student",
            actor,
            {"student_id": student_id, "on": on},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    # ------------------------------------------------------------------ experiences and hours
    def _active_student(self, student_id: UUID) -> Student:
        s = self.student(student_id)
        if not s.is_active:
            raise InvalidCommand(f"student is {s.status}; their record is closed to new work")
        return s

    def plan_experience(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        kind: str,
        title: str,
        partner_organisation: str,
        mentor_id: UUID | None,
        starts_on: date,
        ends_on: date,
        target_competencies: Iterable[str] = (),
        paid: bool = False,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        targets = list(target_competencies)
        args = dict(
            student_id=student_id,
            kind=kind,
            title=title,
            partner_organisation=partner_organisation,
            mentor_id=mentor_id,
            starts_on=starts_on,
            ends_on=ends_on,
            target_competencies=targets,
            paid=paid,
        )

        def decide(ctx: CommandContext) -> _Outcome:
            s = self._active_student(student_id)
            access.require_advisor_of(actor, s)
            mentor = self.user(mentor_id) if mentor_id is not None else None
            if mentor is not None and not mentor.active:
                raise InvalidCommand(f"user {mentor_id} is deactivated")
            if mentor is not None and mentor.role is not Role.MENTOR:
                raise InvalidCommand(f"user {mentor_id} is not a mentor")
            x = Experience.plan(
                ctx,
                experience_id=uuid4(),
                student_id=s.id,
                kind=kind,
                title=title,
                partner_organisation=partner_organisation,
                mentor_id=str(mentor.id) if mentor else None,
                starts_on=starts_on,
                ends_on=ends_on,
                target_competencies=targets,
                paid=paid,
            )
            return _Outcome([x], {"id": str(x.id), "kind": "experience", "student_id": str(s.id)})

        return self._run(
            "plan_experience",
            actor,
            args,
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def _change_experience(
        self,
        command: str,
        actor: Actor,
        experience_id: UUID,
        change: Callable[..., None],
        args: dict[str, Any],
        idempotency_key: str | None,
        correlation_id: str | None,
    ) -> CommandResult:
        def decide(ctx: CommandContext) -> _Outcome:
            x = self.experience(experience_id)
            s = self.student(x.student_id)
            access.require_advisor_of(actor, s)
            change(x, ctx)
            return _Outcome([x], {"id": str(x.id), "kind": "experience", "status": x.status})

        return self._run(
            command,
            actor,
            {"experience_id": experience_id, **args},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def start_experience(
        self,
        actor: Actor,
        experience_id: UUID,
        on: date | None = None,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        return self._change_experience(
            "start_experience",
            actor,
            experience_id,
            lambda x, ctx: x.start(ctx, on),
            {"on": on},
            idempotency_key,
            correlation_id,
        )

    def complete_experience(
        self,
        actor: Actor,
        experience_id: UUID,
        on: date | None = None,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        return self._change_experience(
            "complete_experience",
            actor,
            experience_id,
            lambda x, ctx: x.complete(ctx, on),
            {"on": on},
            idempotency_key,
            correlation_id,
        )

    def withdraw_experience(
        self,
        actor: Actor,
        experience_id: UUID,
        reason: str,
        on: date | None = None,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        if not reason.strip():
            raise InvalidCommand("a withdrawal needs a reason")
        return self._change_experience(
            "withdraw_experience",
            actor,
            experience_id,
            lambda x, ctx: x.withdraw(ctx, reason, on),
            {"on": on, "reason": reason},
            idempotency_key,
            correlation_id,
        )

    def log_hours(
        self,
        actor: Actor,
        experience_id: UUID,
        *,
        worked_on: date,
        hours: Decimal,
        activity: str,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        args = dict(
            experience_id=experience_id, worked_on=worked_on, hours=hours, activity=activity
        )

        def decide(ctx: CommandContext) -> _Outcome:
            x = self.experience(experience_id)
            s = self.student(x.student_id)
            access.require_student_self(actor, s)
            entry = uuid4()
            x.log_hours(ctx, entry_id=entry, worked_on=worked_on, hours=hours, activity=activity)
            return _Outcome(
                [x],
                {
                    "id": str(entry),
                    "kind": "hours",
                    "experience_id": str(x.id),
                    "student_id": str(s.id),
                },
            )

        return self._run(
            "log_hours",
            actor,
            args,
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def _review_hours(
        self,
        command: str,
        actor: Actor,
        experience_id: UUID,
        entry_id: UUID,
        reason: str | None,
        idempotency_key: str | None,
        correlation_id: str | None,
    ) -> CommandResult:
        access.require_role(actor, Role.MENTOR)

        def decide(ctx: CommandContext) -> _Outcome:
            x = self.experience(experience_id)
            if reason is None:
                x.verify_hours(ctx, entry_id)
            else:
                x.dispute_hours(ctx, entry_id, reason)
            status = x.entries[str(entry_id)][1]
            return _Outcome(
                [x],
                {
                    "id": str(entry_id),
                    "kind": "hours",
                    "experience_id": str(x.id),
                    "status": status,
                },
            )

        return self._run(
            command,
            actor,
            {"experience_id": experience_id, "entry_id": entry_id, "reason": reason},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def verify_hours(
        self,
        actor: Actor,
        experience_id: UUID,
        entry_id: UUID,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        return self._review_hours(
            "verify_hours", actor, experience_id, entry_id, None, idempotency_key, correlation_id
        )

    def dispute_hours(
        self,
        actor: Actor,
        experience_id: UUID,
        entry_id: UUID,
        reason: str,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        return self._review_hours(
            "dispute_hours", actor, experience_id, entry_id, reason, idempotency_key, correlation_id
        )

    # ------------------------------------------------------------------ evidence
    def _own_experience(self, experience_id: UUID | None, student: Student) -> UUID | None:
        if experience_id is None:
            return None
        x = self.experience(experience_id)
        if x.student_id != student.id:
            raise InvalidCommand("the experience belongs to another student")
        return x.id

    def submit_reflection(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        text: str,
        experience_id: UUID | None = None,
        competencies: Iterable[str] = (),
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        comps = list(competencies)

        def decide(ctx: CommandContext) -> _Outcome:
            s = self._active_student(student_id)
            access.require_student_self(actor, s)
            xid = self._own_experience(experience_id, s)
            r = Reflection.submit(
                ctx,
                reflection_id=uuid4(),
                student_id=s.id,
                experience_id=xid,
                competencies=comps,
                text=text,
            )
            return _Outcome(
                [r],
                {"id": str(r.id), "kind": "reflection", "student_id": str(s.id), "text_version": 1},
            )

        return self._run(
            "submit_reflection",
            actor,
            {
                "student_id": student_id,
                "text": text,
                "experience_id": experience_id,
                "competencies": comps,
            },
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def revise_reflection(
        self,
        actor: Actor,
        reflection_id: UUID,
        *,
        text: str,
        reason: str = "",
        competencies: Iterable[str] | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        comps = None if competencies is None else list(competencies)

        def decide(ctx: CommandContext) -> _Outcome:
            r = self.reflection(reflection_id)
            s = self.student(r.student_id)
            access.require_student_self(actor, s)
            r.revise(ctx, text, comps, reason)
            return _Outcome(
                [r],
                {
                    "id": str(r.id),
                    "kind": "reflection",
                    "student_id": str(s.id),
                    "text_version": r.text_version,
                },
            )

        return self._run(
            "revise_reflection",
            actor,
            {"reflection_id": reflection_id, "text": text, "reason": reason, "competencies": comps},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def attach_artifact(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        kind: str,
        uri: str,
        sha256: str | None = None,
        size: int | None = None,
        caption: str = "",
        experience_id: UUID | None = None,
        competencies: Iterable[str] = (),
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        comps = list(competencies)
        args = dict(
            student_id=student_id,
            kind=kind,
            uri=uri,
            sha256=sha256,
            size=size,
            caption=caption,
            experience_id=experience_id,
            competencies=comps,
        )

        def decide(ctx: CommandContext) -> _Outcome:
            s = self._active_student(student_id)
            access.require_student_self(actor, s)
            xid = self._own_experience(experience_id, s)
            a = Artifact.attach(
                ctx,
                artifact_id=uuid4(),
                student_id=s.id,
                experience_id=xid,
                kind=kind,
                uri=uri,
                sha256=sha256,
                size=size,
                caption=caption,
                competencies=comps,
            )
            return _Outcome([a], {"id": str(a.id), "kind": "artifact", "student_id": str(s.id)})

        return self._run(
            "attach_artifact",
            actor,
            args,
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def write_mentor_note(
        self,
        actor: Actor,
        experience_id: UUID,
        *,
        text: str,
        ratings: dict[str, str] | None = None,
        framework_id: UUID | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        access.require_role(actor, Role.MENTOR)
        ratings = dict(ratings or {})

        def decide(ctx: CommandContext) -> _Outcome:
            x = self.experience(experience_id)
            if x.mentor_id != actor.user_id:
                raise NotPermitted("only the experience's assigned mentor writes its notes")
            if ratings:
                if framework_id is None:
                    raise InvalidCommand("rubric ratings name the framework they rate against")
                d = self.framework(framework_id).definition
                for comp, level in ratings.items():
                    d.competency(comp)
                    d.scale.level(level)
            n = MentorNote.write(
                ctx,
                note_id=uuid4(),
                student_id=x.student_id,
                experience_id=x.id,
                text=text,
                ratings=ratings,
            )
            return _Outcome(
                [n], {"id": str(n.id), "kind": "mentor_note", "student_id": str(x.student_id)}
            )

        return self._run(
            "write_mentor_note",
            actor,
            {
                "experience_id": experience_id,
                "text": text,
                "ratings": ratings,
                "framework_id": framework_id,
            },
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    # ------------------------------------------------------------------ judgments
    def _check_evidence(self, student: Student, refs: list[EvidenceRef]) -> None:
        kinds = {"reflection": Reflection, "artifact": Artifact, "mentor_note": MentorNote}
        for ref in refs:
            if ref.kind not in EVIDENCE_KINDS:
                raise EvidenceNotFound(f"unknown evidence kind {ref.kind!r}")
            try:
                if ref.kind == "hours":
                    x = self.experience(ref.id)
                    entry = x.entries.get(str(ref.entry_id)) if ref.entry_id else None
                    if entry is None or entry[1] != "verified":
                        raise EvidenceNotFound(
                            f"hours entry {ref.entry_id} of experience {ref.id} "
                            "is not a verified entry"
                        )
                    owner = x.student_id
                else:
                    owner = self.load(kinds[ref.kind], ref.id, ref.kind).student_id
            except NotFound as e:
                raise EvidenceNotFound(f"cited {e.kind} {e.ident} does not exist") from None
            if owner != student.id:
                raise EvidenceOfAnotherStudent(f"cited {ref.kind} {ref.id} is another student's")

    def record_judgment(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        framework_id: UUID,
        competency_id: str,
        level: str,
        evidence: Iterable[EvidenceRef],
        rationale: str,
        effective_on: date | None = None,
        supersedes: UUID | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        refs = list(evidence)
        args = dict(
            student_id=student_id,
            framework_id=framework_id,
            competency_id=competency_id,
            level=level,
            evidence=refs,
            rationale=rationale,
            effective_on=effective_on,
            supersedes=supersedes,
        )

        def decide(ctx: CommandContext) -> _Outcome:
            s = self._active_student(student_id)
            access.require_advisor_of(actor, s)
            fw = self.framework(framework_id)
            fw.definition.competency(competency_id)
            fw.definition.scale.level(level)
            self._check_evidence(s, refs)
            jid = uuid4()
            old = self.judgment(supersedes) if supersedes is not None else None
            j = Judgment.record(
                ctx,
                judgment_id=jid,
                student_id=s.id,
                framework_id=fw.id,
                framework_revision=fw.revision,
                competency_id=competency_id,
                level=level,
                evidence=[r.to_dict() for r in refs],
                rationale=rationale,
                effective_on=effective_on,
                supersedes=old.id if old else None,
            )
            changed: list[LedgerAggregate] = [j]
            if old is not None:
                if old.student_id != s.id or old.competency_id != competency_id:
                    raise InvalidCommand(
                        "a judgment supersedes one of the same student and competency"
                    )
                old.supersede(ctx, jid, rationale)
                changed += [old, *self._flag_credits(ctx, old, "basis judgment superseded")]
            return _Outcome(
                changed,
                {
                    "id": str(jid),
                    "kind": "judgment",
                    "student_id": str(s.id),
                    "framework_revision": fw.revision,
                },
            )

        return self._run(
            "record_judgment",
            actor,
            args,
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def _flag_credits(self, ctx: CommandContext, j: Judgment, why: str) -> list[Credit]:
        flagged = []
        for credit_id in j.cited_by:
            c = self.credit(credit_id)
            if c.flag(ctx, j.id, why):
                flagged.append(c)
        return flagged

    def retract_judgment(
        self,
        actor: Actor,
        judgment_id: UUID,
        reason: str,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        def decide(ctx: CommandContext) -> _Outcome:
            j = self.judgment(judgment_id)
            access.require_advisor_of(actor, self.student(j.student_id))
            j.retract(ctx, reason)
            flagged = self._flag_credits(ctx, j, f"basis judgment retracted: {reason}")
            return _Outcome(
                [j, *flagged],
                {
                    "id": str(j.id),
                    "kind": "judgment",
                    "status": j.status,
                    "flagged_credits": [str(c.id) for c in flagged],
                },
            )

        return self._run(
            "retract_judgment",
            actor,
            {"judgment_id": judgment_id, "reason": reason},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    # ------------------------------------------------------------------ credits
    def _check_basis(
        self,
        ctx: CommandContext,
        student: Student,
        credit_id: UUID,
        method: str,
        basis: dict[str, Any],
        framework_id: UUID | None,
        rule_id: str | None,
    ) -> tuple[dict[str, Any], list[Judgment]]:
        """Validates a credit's basis; returns it normalised and the judgments to mark as cited."""
        judgments: list[Judgment] = []
        for jid in dict.fromkeys(str(j) for j in basis.get("judgments", [])):
            try:
                j = self.judgment(jid)
            except NotFound:
                raise InvalidBasis(f"cited judgment {jid} does not exist") from None
            if j.student_id != student.id:
                raise InvalidBasis(f"cited judgment {jid} is another student's")
            if not j.is_standing:
                raise InvalidBasis(f"cited judgment {jid} is {j.status}")
            judgments.append(j)
        experiences: list[Experience] = []
        for xid in dict.fromkeys(str(x) for x in basis.get("experiences", [])):
            try:
                x = self.experience(xid)
            except NotFound:
                raise InvalidBasis(f"cited experience {xid} does not exist") from None
            if x.student_id != student.id:
                raise InvalidBasis(f"cited experience {xid} is another student's")
            if x.verified_hours <= 0:
                raise InvalidBasis(f"cited experience {xid} has no verified hours")
            experiences.append(x)
        if framework_id is not None:
            framework_id = self.framework(framework_id).id
        if rule_id is not None:
            if framework_id is None:
                raise InvalidBasis("a credit rule is named together with its framework")
            d = self.framework(framework_id).definition
            rule = d.credit_rule(rule_id)
            for req in rule.competencies:
                need = d.scale.level(req.min_level).value
                if not any(
                    j.competency_id == req.competency_id
                    and j.framework_id == framework_id
                    and (v := d.scale.level(j.level).value) is not None
                    and v >= need
                    for j in judgments
                ):
                    raise InvalidBasis(
                        f"rule {rule_id} needs {req.competency_id} at {req.min_level} or above"
                    )
            if rule.hours_threshold is not None:
                total = sum((x.verified_hours for x in experiences), Decimal(0))
                if total < rule.hours_threshold:
                    raise InvalidBasis(
                        f"rule {rule_id} needs {rule.hours_threshold} verified hours; "
                        f"the basis has {total}"
                    )
        courses = []
        for c in basis.get("courses", []):
            if not isinstance(c, dict) or not str(c.get("course_id", "")).strip():
                raise InvalidBasis("a course basis names its course_id")
            courses.append({k: str(v) for k, v in sorted(c.items()) if v is not None})
        normal = {
            "judgments": [str(j.id) for j in judgments],
            "experiences": [str(x.id) for x in experiences],
            "courses": courses,
        }
        if framework_id is not None:
            normal["framework_id"] = str(framework_id)
        for j in judgments:
            j.cite(ctx, credit_id)
        return normal, judgments

    def propose_credit(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        area: str,
        amount: Decimal,
        title: str,
        school_year: str,
        term: str,
        method: str,
        basis: dict[str, Any],
        state_course_code: str | None = None,
        course_id: str | None = None,
        framework_id: UUID | None = None,
        rule_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        args = dict(
            student_id=student_id,
            area=area,
            amount=amount,
            title=title,
            school_year=school_year,
            term=term,
            method=method,
            basis=basis,
            state_course_code=state_course_code,
            course_id=course_id,
            framework_id=framework_id,
            rule_id=rule_id,
        )
        if method == "course":
            raise InvalidCommand("classes are recorded by a registrar (record_class)")

        def decide(ctx: CommandContext) -> _Outcome:
            s = self._active_student(student_id)
            access.require_advisor_of(actor, s)
            check_basis_present(method, basis)
            cid = uuid4()
            normal, judgments = self._check_basis(ctx, s, cid, method, basis, framework_id, rule_id)
            c = Credit.propose(
                ctx,
                credit_id=cid,
                student_id=s.id,
                area=area,
                amount=amount,
                title=title,
                school_year=school_year,
                term=term,
                method=method,
                basis=normal,
                state_course_code=state_course_code,
                course_id=course_id,
                rule_id=rule_id,
            )
            return _Outcome(
                [c, *judgments],
                {"id": str(cid), "kind": "credit", "student_id": str(s.id), "status": c.status},
            )

        return self._run(
            "propose_credit",
            actor,
            args,
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def record_class(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        course_id: str,
        title: str,
        area: str,
        credits_earned: Decimal,
        credits_attempted: Decimal | None,
        mark: str,
        school_year: str,
        term: str,
        state_course_code: str | None = None,
        completed_on: date | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        """A passed class: a credit that the registrar records and approves in one act."""
        access.require_role(actor, Role.REGISTRAR, Role.SYSTEM)
        args = dict(
            student_id=student_id,
            course_id=course_id,
            title=title,
            area=area,
            credits_earned=credits_earned,
            credits_attempted=credits_attempted,
            mark=mark,
            school_year=school_year,
            term=term,
            state_course_code=state_course_code,
            completed_on=completed_on,
        )
        if not course_id.strip() or not mark.strip():
            raise InvalidCommand("a class needs its course id and mark")

        if credits_attempted is not None:
            # Exports report it beside the credit earned: the same bounds as any credit amount.
            check_amount(credits_attempted, "credits attempted")

        def decide(ctx: CommandContext) -> _Outcome:
            s = self.student(student_id)
            cid = uuid4()
            attempted = credits_attempted if credits_attempted is not None else credits_earned
            c = Credit.propose(
                ctx,
                credit_id=cid,
                student_id=s.id,
                area=area,
                amount=credits_earned,
                title=title,
                school_year=school_year,
                term=term,
                method="course",
                basis={
                    "judgments": [],
                    "experiences": [],
                    "courses": [
                        {"course_id": course_id, "mark": mark, "credits_attempted": str(attempted)}
                    ],
                },
                state_course_code=state_course_code,
                course_id=course_id,
                mark=mark,
            )
            c.approve(ctx, completed_on)
            return _Outcome(
                [c], {"id": str(cid), "kind": "credit", "student_id": str(s.id), "status": c.status}
            )

        return self._run(
            "record_class",
            actor,
            args,
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def _registrar_on_credit(
        self,
        command: str,
        actor: Actor,
        credit_id: UUID,
        args: dict[str, Any],
        act: Callable[[Credit, CommandContext], list[LedgerAggregate]],
        idempotency_key: str | None,
        correlation_id: str | None,
    ) -> CommandResult:
        access.require_role(actor, Role.REGISTRAR)

        def decide(ctx: CommandContext) -> _Outcome:
            c = self.credit(credit_id)
            more = act(c, ctx)
            return _Outcome(
                [c, *more],
                {
                    "id": str(c.id),
                    "kind": "credit",
                    "student_id": str(c.student_id),
                    "status": c.status,
                    "flagged": c.is_flagged,
                },
            )

        return self._run(
            command,
            actor,
            {"credit_id": credit_id, **args},
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def approve_credit(
        self,
        actor: Actor,
        credit_id: UUID,
        on: date | None = None,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        def act(c: Credit, ctx: CommandContext) -> list[LedgerAggregate]:
            c.approve(ctx, on)
            return []

        return self._registrar_on_credit(
            "approve_credit", actor, credit_id, {"on": on}, act, idempotency_key, correlation_id
        )

    def reject_credit(
        self,
        actor: Actor,
        credit_id: UUID,
        reason: str,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        def act(c: Credit, ctx: CommandContext) -> list[LedgerAggregate]:
            c.reject(ctx, reason)
            return []

        return self._registrar_on_credit(
            "reject_credit",
            actor,
            credit_id,
            {"reason": reason},
            act,
            idempotency_key,
            correlation_id,
        )

    def revoke_credit(
        self,
        actor: Actor,
        credit_id: UUID,
        reason: str,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        def act(c: Credit, ctx: CommandContext) -> list[LedgerAggregate]:
            c.revoke(ctx, reason)
            return []

        return self._registrar_on_credit(
            "revoke_credit",
            actor,
            credit_id,
            {"reason": reason},
            act,
            idempotency_key,
            correlation_id,
        )

    def reconfirm_credit(
        self,
        actor: Actor,
        credit_id: UUID,
        reason: str,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        def act(c: Credit, ctx: CommandContext) -> list[LedgerAggregate]:
            c.reconfirm(ctx, reason)
            return []

        return self._registrar_on_credit(
            "reconfirm_credit",
            actor,
            credit_id,
            {"reason": reason},
            act,
            idempotency_key,
            correlation_id,
        )

    def amend_credit(
        self,
        actor: Actor,
        credit_id: UUID,
        *,
        reason: str,
        changes: dict[str, Any] | None = None,
        basis: dict[str, Any] | None = None,
        framework_id: UUID | None = None,
        rule_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        changes = dict(changes or {})

        def act(c: Credit, ctx: CommandContext) -> list[LedgerAggregate]:
            cited: list[LedgerAggregate] = []
            normal = None
            if basis is not None:
                s = self.student(c.student_id)
                normal, judgments = self._check_basis(
                    ctx, s, c.id, c.method, basis, framework_id, rule_id
                )
                check_basis_present(c.method, normal)
                cited = list(judgments)
            c.amend(ctx, changes, normal, reason)
            return cited

        return self._registrar_on_credit(
            "amend_credit",
            actor,
            credit_id,
            {
                "reason": reason,
                "changes": changes,
                "basis": basis,
                "framework_id": framework_id,
                "rule_id": rule_id,
            },
            act,
            idempotency_key,
            correlation_id,
        )

    # ------------------------------------------------------------------ exports
    def record_export(
        self,
        actor: Actor,
        *,
        kind: str,
        profile: str,
        profile_version: str,
        as_of: datetime | None,
        position: int,
        file_name: str,
        row_count: int,
        sha256: str,
        student_id: UUID | None = None,
        parameters: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        """Records that an export was handed out. State reports are for reporters and
        registrars; a one-student export for whoever may read that student."""
        if student_id is None:
            access.require_role(actor, Role.REPORTER, Role.REGISTRAR, Role.SYSTEM)
        args = dict(
            kind=kind,
            profile=profile,
            profile_version=profile_version,
            as_of=as_of,
            position=position,
            file_name=file_name,
            row_count=row_count,
            sha256=sha256,
            student_id=student_id,
            parameters=parameters or {},
        )

        def decide(ctx: CommandContext) -> _Outcome:
            sid = None
            if student_id is not None:
                s = self.student(student_id)
                if not access.can_see_student(actor, s):
                    raise NotPermitted("no role of yours allows reading this student's record")
                sid = s.id
            eid = uuid4()
            e = Export.record(ctx, export_id=eid, **{**args, "student_id": sid})
            return _Outcome([e], {"id": str(eid), "kind": "export", "sha256": sha256})

        return self._run(
            "record_export",
            actor,
            args,
            decide,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    # ------------------------------------------------------------------ plain reads
    def position(self) -> int:
        return self.recorder.max_notification_id() or 0


def _require_reason(reason: str) -> None:
    # Taking access away is answered for later: who did it is on the event, and so is why.
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidCommand("a reason is required")


def system_actor() -> Actor:
    return Actor("system", Role.SYSTEM)


__all__ = [
    "CommandResult",
    "LedgerApplication",
    "LedgerError",
    "NotPermitted",
    "system_actor",
]
