"""Group commit for the PostgreSQL application recorder.

The library's recorder takes ``LOCK TABLE ... IN EXCLUSIVE MODE`` in every insert so that
notification ids become visible in id order (a projection tailing the log never passes a gap that
a slower transaction fills later). That lock makes writers of one application take turns, one
commit each. Here concurrent ``insert_events`` calls of one process share the turn:

* callers queue their stored events and wait; when nobody is committing, the caller at the head of
  the queue becomes the leader, takes everything queued (up to a limit) and commits it as one
  transaction, sent as one query in one round trip: BEGIN, lock the table, NOTIFY, one
  prepared INSERT ... RETURNING of every row that inserts nothing if what the commands read
  (``ledger/persistence/reads.py``) has moved on, COMMIT.
  It never waits for a batch to fill: with one client, a batch is one command. After committing
  it hands the lead to the next queued caller, so no caller works on others' commands for longer
  than one batch.
* optimistic concurrency stays per command: if a command's row exists already (a version
  conflict) or something it read has moved on, that transaction rolled back whole and the batch
  goes again with ``INSERT ... ON CONFLICT DO NOTHING``; the losing commands' other rows are
  deleted before the commit (never visible) and they get the library's ``IntegrityError``; their
  batch-mates commit.
* the table lock is held from before the first id is drawn until the commit, exactly as in the
  library, so ids still become visible in id order across batches and across processes (other
  processes' recorders, ours or the library's, take the same lock).
* the leader writes on a connection the recorder keeps from the pool (only one batch is sent at
  a time, so one is enough): the pool hands its connections out in turn, and a commit on a
  backend that sat idle while eight others ran cost the server about 150 us more CPU and the
  command 300 us more time than one on a backend kept busy. A failure hands it back to the
  pool, which drops a broken one; the next batch takes another. With a pool of one connection
  it is not kept (the commands' reads need it).
* nothing is acknowledged before COMMIT returns; a failure of the transaction (lost connection,
  lock timeout, a value the database refuses) fails every command of the batch and commits none.
  Nothing is retried here: the caller sees the error and decides (the application retries only
  version conflicts).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import generators
from psycopg.sql import SQL, Identifier, Literal

# Bounds on one transaction: PITFALLS 1 (a very large INSERT stalls) and a short hold of the lock.
MAX_BATCH_COMMANDS = 200
MAX_BATCH_ROWS = 5000
# Seconds a write connection may sit unused before it is pinged (the pool does not ping).
IDLE_BEFORE_PING = 1.0
# Gathering (like PostgreSQL's commit_delay with commit_siblings): a leader that knows other
# threads wrote moments ago waits for them to queue, at most this fraction of the last commit's
# duration and never more than GATHER_MAX_S. Without it the writers split into two groups that
# take turns (each group decides while the other commits), and every commit carries half of them.
GATHER_FRACTION = 0.5
GATHER_MAX_S = 0.002
# A thread counts as an active writer this long after its last commit.
ACTIVE_WINDOW_S = 0.05


def _literal(conn: psycopg.Connection[Any], value: Any) -> bytes:
    """A value as an SQL literal. The common types by hand (their text cannot hold a quote: hex
    digits, dashes, decimal digits), strings by libpq's escaping, anything else by psycopg."""
    if isinstance(value, UUID):
        return b"'%s'::uuid" % str(value).encode()
    if type(value) is int:
        return b"%d" % value
    if (
        isinstance(value, bytes)
        and conn.pgconn.parameter_status(b"standard_conforming_strings") == b"on"
    ):
        return b"'\\x%s'::bytea" % value.hex().encode()
    if isinstance(value, str):
        return bytes(psycopg.pq.Escaping(conn.pgconn).escape_literal(value.encode()))
    return Literal(value).as_bytes(conn)


_TUPLES_OK = psycopg.pq.ExecStatus.TUPLES_OK
_FATAL_ERROR = psycopg.pq.ExecStatus.FATAL_ERROR

# psycopg's errors as the library's, in the order (subclasses first) of
# PostgresDatastore.get_connection, which does this for connections it lends.
_LIBRARY_ERRORS: tuple[tuple[type[Exception], type[Exception]], ...] = (
    (psycopg.InterfaceError, InterfaceError),
    (psycopg.OperationalError, OperationalError),
    (psycopg.DataError, DataError),
    (psycopg.IntegrityError, IntegrityError),
    (psycopg.InternalError, InternalError),
    (psycopg.ProgrammingError, ProgrammingError),
    (psycopg.NotSupportedError, NotSupportedError),
    (psycopg.DatabaseError, DatabaseError),
    (psycopg.Error, PersistenceError),
)


def _as_library_error(e: psycopg.Error) -> Exception:
    return next(ours(str(e)) for theirs, ours in _LIBRARY_ERRORS if isinstance(e, theirs))


class _ReadsMoved(Exception):
    """The fast path inserted nothing: something a command of the batch read has moved on."""


@dataclass(eq=False)
class _Pending:
    events: list[StoredEvent]
    # Set when its outcome is known or it is to lead; only a command that waits needs one.
    wake: threading.Event | None = None
    done: bool = False
    ids: list[int] | None = None
    error: BaseException | None = None
    # (aggregate id, version) whose existence means something this command read has moved on.
    moved_if: list[tuple[Any, int]] = field(default_factory=list)
    thread: int = field(default_factory=threading.get_ident)
    # (stream, version) of each event: asked for by the conflict check and again by the insert.
    stream_keys: list[tuple[str, int]] = field(init=False)

    def __post_init__(self) -> None:
        self.stream_keys = [(str(e.originator_id), e.originator_version) for e in self.events]

    def read_keys(self) -> list[tuple[str, int]]:
        return [(str(i), v) for i, v in self.moved_if]


class GroupCommitRecorder(PostgresApplicationRecorder):
    """An application recorder whose concurrent inserts share transactions and commits."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self._mutex = threading.Lock()
        self._queued = threading.Condition(self._mutex)
        self._writers: dict[int, float] = {}  # thread id -> when its last commit ended
        self._commit_seconds = 0.0  # the last batch's commit, for the gathering delay
        self._queue: list[_Pending] = []
        self._leading = False
        self._batch_count = self._command_count = 0
        self._rendered: dict[str, bytes] | None = None
        self._topic_literals: dict[str, bytes] = {}
        self._last_used: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._ready: weakref.WeakSet[Any] = weakref.WeakSet()  # connections set up (_alive)
        pool = self.datastore.pool
        # The connection the leaders write on, while kept: (it, its checkout, when taken).
        self._keeps = (pool.max_size or 0) > 1
        self._kept: tuple[psycopg.Connection[Any], contextlib.ExitStack, float] | None = None
        self._checkouts = pool.max_size + 1
        self._names = names = {
            "schema": Identifier(self.datastore.schema),
            "table": Identifier(self.events_table_name),
            "channel": Identifier(self.channel_name),
        }
        # Sent as one simple-protocol query (values inlined by _literal), so the common case costs
        # one round trip: BEGIN, lock, NOTIFY, insert, COMMIT. lock_timeout is set once per
        # connection (see _alive), not in every batch.
        set_lock_timeout = SQL("SET lock_timeout = {}").format(
            Literal(f"{int(self.datastore.lock_timeout)}s")
        )
        self._begin = SQL(
            "BEGIN; LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; NOTIFY {channel}; "
        ).format(**names)
        self._insert = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) VALUES "
        ).format(**names)
        self._returning = SQL(" RETURNING originator_id, originator_version, notification_id")
        self._delete = SQL("DELETE FROM {schema}.{table} WHERE notification_id = ANY({ids}); ")
        self._moved = SQL(
            "SELECT t.originator_id, t.originator_version FROM {schema}.{table} AS t"
            " JOIN (VALUES {reads}) AS r (i, v)"
            " ON t.originator_id = r.i AND t.originator_version = r.v"
        )
        # The common case as a statement prepared once per connection, of one shape for any
        # batch (rows and reads as arrays): parsing and planning the inlined INSERT ... SELECT
        # with its read check cost the server more than the rest of the transaction (about
        # 150 us of a 390 us batch, measured by the backend's CPU time). The read check is a
        # subquery per read, so the plan stays an index probe per read whatever the table's size
        # when the plan was made. The name is this recorder's own, in case a connection meets
        # another recorder; a prepared statement lives as long as its connection.
        self._statement = f"ledger_batch_{secrets.token_hex(6)}"
        id_type = SQL(self.datastore.originator_id_type)
        self._prepare = SQL(
            "PREPARE {name} ({id_type}[], bigint[], text[], bytea[], {id_type}[], bigint[]) AS"
            " INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest($1, $2, $3, $4)"
            " WHERE NOT EXISTS (SELECT FROM unnest($5, $6) AS r (i, v) WHERE (SELECT true"
            " FROM {schema}.{table} AS m"
            " WHERE m.originator_id = r.i AND m.originator_version = r.v))"
            " RETURNING originator_id, originator_version, notification_id"
        ).format(name=Identifier(self._statement), id_type=id_type, **names)
        self._setup = set_lock_timeout + SQL("; ") + self._prepare
        self._execute = SQL(
            "EXECUTE {name}(ARRAY[%s]::{id_type}[], ARRAY[%s]::bigint[], ARRAY[%s]::text[],"
            " ARRAY[%s]::bytea[], ARRAY[%s]::{id_type}[], ARRAY[%s]::bigint[])"
        ).format(name=Identifier(self._statement), id_type=id_type)

    @property
    def batches(self) -> tuple[int, int]:
        """(transactions committed or failed, commands they carried) since start."""
        with self._mutex:
            return self._batch_count, self._command_count

    @property
    def queued(self) -> int:
        """Commands waiting for a commit (an observable for tests and benchmarks)."""
        with self._mutex:
            return len(self._queue)

    # The application hands over what a command read (ledger.persistence.reads).
    checks_reads = True

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        read_versions: dict[Any, int] | None = None,
        **kwargs: Any,
    ) -> Sequence[int]:
        if not stored_events:
            return []
        mine = _Pending(list(stored_events))
        if read_versions:
            mine.moved_if = [(i, v + 1) for i, v in read_versions.items()]
        with self._mutex:
            lead = not self._leading
            if not lead:
                mine.wake = threading.Event()
            self._queue.append(mine)
            self._leading = True
            self._queued.notify()
        if mine.wake is not None:
            # Woken either with our outcome, or as the next leader while still queued.
            mine.wake.wait()
        if not mine.done:
            self._lead()
        if mine.error is not None:
            raise mine.error
        assert mine.ids is not None
        return mine.ids

    def _lead(self) -> None:
        with self._mutex:
            self._gather()
            batch = self._take_batch()
        began = time.monotonic()
        try:
            self._commit(batch)
        except BaseException as e:  # every command of a failed transaction fails with it
            for p in batch:
                p.ids, p.error = None, e
        finally:
            ended = time.monotonic()
            with self._mutex:
                self._commit_seconds = ended - began
                for p in batch:
                    self._writers[p.thread] = ended
                successor = self._queue[0] if self._queue else None
                self._leading = successor is not None
            for p in batch:
                p.done = True
                if p.wake is not None:
                    p.wake.set()
            if successor is not None:
                assert successor.wake is not None  # it queued while a leader led
                successor.wake.set()

    def _gather(self) -> None:
        """Under the mutex: wait, briefly, for the other recently active writers to queue."""
        now = time.monotonic()
        for t, last in list(self._writers.items()):
            if now - last > ACTIVE_WINDOW_S:
                del self._writers[t]
        expected = len(self._writers.keys() | {p.thread for p in self._queue})
        if expected <= 1:
            return
        deadline = now + min(GATHER_MAX_S, GATHER_FRACTION * self._commit_seconds)
        while len(self._queue) < expected and len(self._queue) < MAX_BATCH_COMMANDS:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._queued.wait(remaining)

    def _take_batch(self) -> list[_Pending]:
        """The longest prefix of the queue within the limits (at least one command)."""
        rows = 0
        n = 0
        for p in self._queue:
            if n and (n >= MAX_BATCH_COMMANDS or rows + len(p.events) > MAX_BATCH_ROWS):
                break
            n += 1
            rows += len(p.events)
        batch, self._queue = self._queue[:n], self._queue[n:]
        self._batch_count += 1
        self._command_count += n
        return batch

    def _commit(self, batch: list[_Pending]) -> None:
        # A command that writes a row an earlier batch-mate writes, or reads what one writes,
        # would conflict with it anyway: fail it now, so every row sent has one owner.
        proposed: set[tuple[str, int]] = set()
        sending: list[_Pending] = []
        for p in batch:
            keys = p.stream_keys
            if (
                proposed.isdisjoint(keys)
                and proposed.isdisjoint(p.read_keys())
                and len(set(keys)) == len(keys)
            ):
                proposed.update(keys)
                sending.append(p)
            else:
                p.error = IntegrityError("a command of the same batch writes the same version")
        if not sending:
            return
        reads = [k for p in sending for k in p.moved_if]
        for _ in range(self._checkouts):
            with self._connection() as conn:
                if not self._alive(conn):
                    continue  # nothing was sent; the pool drops the dead connection
                try:
                    outcome = self._insert_all(conn, sending, reads)
                except psycopg.errors.InvalidSqlStatementName:
                    # Our prepared statement went (psycopg sends DEALLOCATE ALL where it has
                    # prepared statements of its own once it sees a ROLLBACK, DROP or ALTER on
                    # the connection): nothing was written; prepare it again and resend.
                    self._rollback(conn)
                    self._ready.discard(conn)
                    continue
                except (psycopg.errors.UniqueViolation, _ReadsMoved):
                    # A command conflicts (a row exists, or something it read moved): the
                    # transaction rolled back whole. Again, keeping what does not conflict.
                    self._rollback(conn)
                    outcome = self._insert_some(conn, sending, reads)
                except BaseException:
                    self._rollback(conn)
                    raise
                self._last_used[conn] = time.monotonic()
                break
        else:
            raise OperationalError("no live connection to PostgreSQL for the batch")
        # The transaction has committed: only now may anyone be told.
        for i, p in enumerate(sending):
            if i in outcome:
                p.ids = outcome[i]
            else:
                p.error = IntegrityError("version conflict: the record moved on")

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection for one batch: the kept one (taken from the pool if need be), or with
        a pool of one a connection of the pool for this batch alone."""
        if not self._keeps:
            with self.datastore.get_connection() as conn:
                yield conn
            return
        kept = self._kept
        if kept is not None and time.monotonic() - kept[2] > self.datastore.pool.max_lifetime:
            self.close()  # the pool renews its connections; so does this one
            kept = None
        if kept is None:
            checkout = contextlib.ExitStack()
            conn = checkout.enter_context(self.datastore.get_connection())
            self._kept = kept = (conn, checkout, time.monotonic())
        conn = kept[0]
        try:
            yield conn
        except BaseException as e:
            self.close()  # back to the pool, which drops it if it broke
            if isinstance(e, psycopg.Error):
                raise _as_library_error(e) from e
            raise
        if conn.broken or conn.closed:
            self.close()

    def close(self) -> None:
        """Hands the kept connection back to the pool (the application calls this before it
        closes the pool)."""
        kept, self._kept = self._kept, None
        if kept is not None:
            with contextlib.suppress(Exception):
                kept[1].close()

    def _insert_all(
        self,
        conn: psycopg.Connection[Any],
        sending: list[_Pending],
        reads: list[tuple[Any, int]],
    ) -> dict[int, list[int]]:
        sql = self._sql(conn)
        events = [e for p in sending for e in p.events]
        # Inserts nothing if anything read has moved on: then the (empty) transaction commits,
        # and the caller goes the slow way to find out which command it was.
        execute = sql["execute"] % (
            b",".join(_literal(conn, e.originator_id) for e in events),
            b",".join(b"%d" % e.originator_version for e in events),
            b",".join(self._topic_literal(conn, e.topic) for e in events),
            b",".join(_literal(conn, e.state) for e in events),
            b",".join(_literal(conn, i) for i, _v in reads),
            b",".join(b"%d" % v for _i, v in reads),
        )
        rows = self._run(conn, sql["begin"] + execute + b"; COMMIT")[-1]
        if reads and not rows:
            raise _ReadsMoved
        got = {(i.decode(), int(v)): int(n) for i, v, n in rows}
        return {i: [got[k] for k in p.stream_keys] for i, p in enumerate(sending)}

    def _topic_literal(self, conn: psycopg.Connection[Any], topic: str) -> bytes:
        # A few dozen topics, escaped by libpq once each rather than once per event.
        literal = self._topic_literals.get(topic)
        if literal is None:
            literal = _literal(conn, topic)
            if len(self._topic_literals) < 10_000:
                self._topic_literals[topic] = literal
        return literal

    def _insert_some(
        self,
        conn: psycopg.Connection[Any],
        sending: list[_Pending],
        reads: list[tuple[Any, int]],
    ) -> dict[int, list[int]]:
        sql = self._sql(conn)
        values = b", ".join(
            b"(%s, %s, %s, %s)"
            % (
                _literal(conn, e.originator_id),
                _literal(conn, e.originator_version),
                _literal(conn, e.topic),
                _literal(conn, e.state),
            )
            for p in sending
            for e in p.events
        )
        check = b""
        if reads:
            pairs = b", ".join(
                b"(%s, %s)" % (_literal(conn, i), _literal(conn, v)) for i, v in reads
            )
            check = sql["moved"] % pairs + b"; "
        query = (
            sql["begin"]
            + check
            + sql["insert"]
            + values
            + b" ON CONFLICT DO NOTHING"
            + sql["returning"]
        )
        results = self._run(conn, query)
        gone = {(i.decode(), int(v)) for i, v in results[0]} if reads else set()
        got = {(i.decode(), int(v)): int(n) for i, v, n in results[-1]}
        outcome: dict[int, list[int]] = {}
        orphans: list[int] = []
        for i, p in enumerate(sending):
            ids = [got.get(k) for k in p.stream_keys]
            if None in ids or not gone.isdisjoint(p.read_keys()):
                orphans.extend(n for n in ids if n is not None)
            else:
                outcome[i] = ids  # type: ignore[assignment]
        # The rows of a conflicting command go before anyone can see them.
        finish = sql["delete"] % _literal(conn, orphans) if orphans else b""
        self._run(conn, finish + b"COMMIT")
        return outcome

    def _sql(self, conn: psycopg.Connection[Any]) -> dict[str, bytes]:
        """The fixed parts of the batch's statements, rendered once."""
        if self._rendered is None:
            self._rendered = {
                "begin": self._begin.as_bytes(conn),
                "insert": self._insert.as_bytes(conn),
                "execute": self._execute.as_bytes(conn),
                "returning": self._returning.as_bytes(conn),
                "delete": self._delete.format(ids=SQL("%s"), **self._names).as_bytes(conn),
                "moved": self._moved.format(reads=SQL("%s"), **self._names).as_bytes(conn),
            }
        return self._rendered

    @staticmethod
    def _run(conn: psycopg.Connection[Any], query: bytes) -> list[list[tuple[bytes, ...]]]:
        """Runs a multi-statement query; returns the rows of each statement that returns rows,
        as the server's text. Straight through libpq: a cursor with its loaders and a pass per
        result cost about as much client CPU as the rest of the batch."""
        pgconn = conn.pgconn
        with conn.lock:
            if conn.closed:
                raise psycopg.OperationalError("the connection is closed")
            pgconn.send_query(query)
            results = conn.wait(generators.execute(pgconn))
        rows: list[list[tuple[bytes, ...]]] = []
        for res in results:
            if res.status == _TUPLES_OK:
                columns = range(res.nfields)
                rows.append(
                    [tuple(res.get_value(r, c) for c in columns) for r in range(res.ntuples)]
                )
            elif res.status == _FATAL_ERROR:
                raise psycopg.errors.error_from_result(res, encoding=conn.info.encoding)
        return rows

    def _alive(self, conn: psycopg.Connection[Any]) -> bool:
        """A connection used in the last second is taken as alive; an idle one is pinged. A
        connection new to this recorder, or one whose prepared statements may have gone, is set
        up first (lock timeout, the prepared batch statement)."""
        try:
            if conn not in self._ready:
                # A duplicate: still there after all (and the lock timeout set with it then).
                with contextlib.suppress(psycopg.errors.DuplicatePreparedStatement):
                    self._run(conn, self._setup.as_bytes(conn))
                self._ready.add(conn)
                return True
            last = self._last_used.get(conn)
            if last is not None and time.monotonic() - last < IDLE_BEFORE_PING:
                return True
            conn.execute("")
        except psycopg.OperationalError:
            if self._kept is not None and self._kept[0] is conn:
                self.close()
            return False
        return True

    def _rollback(self, conn: psycopg.Connection[Any]) -> None:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            # psycopg answers a ROLLBACK with DEALLOCATE ALL where it prepared statements of its
            # own on the connection: ours may go with them, so the next use prepares it again.
            self._ready.discard(conn)
            # On a broken connection there is nothing to roll back; the first error is the news.
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
