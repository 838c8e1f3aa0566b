"""Group commit for the PostgreSQL application recorder.

The library's recorder takes ``LOCK TABLE ... IN EXCLUSIVE MODE`` in every insert so that
notification ids become visible in id order (a projection tailing the log never passes a gap that
a slower transaction fills later). That lock makes writers of one application take turns, one
commit each. Here concurrent ``insert_events`` calls of one process share the turn:

* callers queue their stored events and wait; when nobody is committing, the caller at the head of
  the queue becomes the leader, takes everything queued (up to a limit) and commits it as one
  transaction, sent as one query in one round trip: BEGIN, lock the table, NOTIFY, check what the
  commands read (``ledger/persistence/reads.py``), one multi-row INSERT ... RETURNING, COMMIT.
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
* nothing is acknowledged before COMMIT returns; a failure of the transaction (lost connection,
  lock timeout, a value the database refuses) fails every command of the batch and commits none.
  Nothing is retried here: the caller sees the error and decides (the application retries only
  version conflicts).
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.rows import tuple_row
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


class _ReadsMoved(Exception):
    """The fast path inserted nothing: something a command of the batch read has moved on."""


@dataclass(eq=False)
class _Pending:
    events: list[StoredEvent]
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    ids: list[int] | None = None
    error: BaseException | None = None
    # (aggregate id, version) whose existence means something this command read has moved on.
    moved_if: list[tuple[Any, int]] = field(default_factory=list)
    thread: int = field(default_factory=threading.get_ident)

    def stream_keys(self) -> list[tuple[str, int]]:
        return [(str(e.originator_id), e.originator_version) for e in self.events]

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
        self._last_used: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        pool = self.datastore.pool
        self._checkouts = pool.max_size + 1
        self._names = names = {
            "schema": Identifier(self.datastore.schema),
            "table": Identifier(self.events_table_name),
            "channel": Identifier(self.channel_name),
        }
        # Sent as one simple-protocol query (values inlined by _literal), so the common case costs
        # one round trip: BEGIN, lock, NOTIFY, insert, COMMIT. lock_timeout is set once per
        # connection (see _alive), not in every batch.
        self._set_lock_timeout = SQL("SET lock_timeout = {}").format(
            Literal(f"{int(self.datastore.lock_timeout)}s")
        )
        self._begin = SQL(
            "BEGIN; LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; NOTIFY {channel}; "
        ).format(**names)
        self._insert_select = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
            " SELECT * FROM (VALUES "
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
            self._queue.append(mine)
            lead = not self._leading
            self._leading = True
            self._queued.notify()
        if not lead:
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
                p.wake.set()
            if successor is not None:
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
            keys = p.stream_keys()
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
            with self.datastore.get_connection() as conn:
                if not self._alive(conn):
                    continue  # nothing was sent; the pool drops the dead connection
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
                moved = sql["moved"] % b", ".join(
                    b"(%s, %s)" % (_literal(conn, i), _literal(conn, v)) for i, v in reads
                )
                try:
                    outcome = self._insert_all(conn, sending, values, moved if reads else None)
                except (psycopg.errors.UniqueViolation, _ReadsMoved):
                    # A command conflicts (a row exists, or something it read moved): the
                    # transaction rolled back whole. Again, keeping what does not conflict.
                    self._rollback(conn)
                    outcome = self._insert_some(conn, sending, values, moved if reads else None)
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

    def _insert_all(
        self,
        conn: psycopg.Connection[Any],
        sending: list[_Pending],
        values: bytes,
        moved: bytes | None,
    ) -> dict[int, list[int]]:
        sql = self._sql(conn)
        if moved:
            # Inserts nothing if anything read has moved on: then the (empty) transaction
            # commits, and the caller goes the slow way to find out which command it was.
            body = sql["insert_select"] + values + b") AS v WHERE NOT EXISTS (%s)" % moved
        else:
            body = sql["insert"] + values
        rows = self._run(conn, sql["begin"] + body + sql["returning"] + b"; COMMIT")[-1]
        if moved and not rows:
            raise _ReadsMoved
        got = {(str(i), v): n for i, v, n in rows}
        return {i: [got[k] for k in p.stream_keys()] for i, p in enumerate(sending)}

    def _insert_some(
        self,
        conn: psycopg.Connection[Any],
        sending: list[_Pending],
        values: bytes,
        moved: bytes | None,
    ) -> dict[int, list[int]]:
        sql = self._sql(conn)
        check = moved + b"; " if moved else b""
        query = (
            sql["begin"]
            + check
            + sql["insert"]
            + values
            + b" ON CONFLICT DO NOTHING"
            + sql["returning"]
        )
        results = self._run(conn, query)
        gone = {(str(i), v) for i, v in results[0]} if moved else set()
        got = {(str(i), v): n for i, v, n in results[-1]}
        outcome: dict[int, list[int]] = {}
        orphans: list[int] = []
        for i, p in enumerate(sending):
            ids = [got.get(k) for k in p.stream_keys()]
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
                "insert_select": self._insert_select.as_bytes(conn),
                "returning": self._returning.as_bytes(conn),
                "delete": self._delete.format(ids=SQL("%s"), **self._names).as_bytes(conn),
                "moved": self._moved.format(reads=SQL("%s"), **self._names).as_bytes(conn),
            }
        return self._rendered

    @staticmethod
    def _run(conn: psycopg.Connection[Any], query: bytes) -> list[list[tuple[Any, ...]]]:
        """Runs a multi-statement query; returns the rows of each statement that returns rows."""
        results: list[list[tuple[Any, ...]]] = []
        with psycopg.ClientCursor(conn, row_factory=tuple_row) as curs:
            curs.execute(query)
            while True:
                if curs.description is not None and curs.statusmessage.startswith(
                    ("SELECT", "INSERT")
                ):
                    results.append(curs.fetchall())
                if not curs.nextset():
                    break
        return results

    def _alive(self, conn: psycopg.Connection[Any]) -> bool:
        """A connection used in the last second is taken as alive; an idle one is pinged."""
        last = self._last_used.get(conn)
        if last is not None and time.monotonic() - last < IDLE_BEFORE_PING:
            return True
        try:
            conn.execute(self._set_lock_timeout if last is None else "")
        except psycopg.Error:
            return False
        return True

    @staticmethod
    def _rollback(conn: psycopg.Connection[Any]) -> None:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            # On a broken connection there is nothing to roll back; the first error is the news.
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
