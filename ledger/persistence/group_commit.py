"""Group commit for the PostgreSQL application recorder.

The library's recorder takes ``LOCK TABLE ... IN EXCLUSIVE MODE`` in every insert so that
notification ids become visible in id order (a projection tailing the log never passes a gap that
a slower transaction fills later). That lock makes writers of one application take turns, one
commit each. Here concurrent ``insert_events`` calls of one process share the turn:

* callers queue their stored events and wait; when nobody is committing, the caller at the head of
  the queue becomes the leader, takes everything queued (up to a limit) and commits it as one
  transaction: lock the table once, NOTIFY once, one multi-row ``INSERT ... ON CONFLICT DO NOTHING
  RETURNING``, one COMMIT. It never waits for a batch to fill: with one client, a batch is one
  command and the path is as short as the library's. After committing it hands the lead to the
  next queued caller, so no caller works on others' commands for longer than one batch.
* optimistic concurrency stays per command: a command whose rows hit an existing
  ``(originator_id, originator_version)`` (or an earlier command of the same batch) gets the
  library's ``IntegrityError``; its other rows are deleted before the commit, so they never become
  visible; its batch-mates commit.
* the table lock is held from before the first id is drawn until the commit, exactly as in the
  library, so ids still become visible in id order across batches and across processes (other
  processes' recorders, ours or the library's, take the same lock).
* nothing is acknowledged before COMMIT returns; a failure of the transaction (lost connection,
  lock timeout, a value the database refuses) fails every command of the batch and commits none.
  Nothing is retried here: the caller sees the error and decides (the application retries only
  version conflicts).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL, Identifier

# Bounds on one transaction: PITFALLS 1 (a very large INSERT stalls) and a short hold of the lock.
MAX_BATCH_COMMANDS = 200
MAX_BATCH_ROWS = 5000


@dataclass(eq=False)
class _Pending:
    events: list[StoredEvent]
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    ids: list[int] | None = None
    error: BaseException | None = None

    def stream_keys(self) -> list[tuple[str, int]]:
        return [(str(e.originator_id), e.originator_version) for e in self.events]


class GroupCommitRecorder(PostgresApplicationRecorder):
    """An application recorder whose concurrent inserts share transactions and commits."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self._mutex = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False
        self.batch_insert_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
            " SELECT originator_id, originator_version, topic, state"
            " FROM unnest(%s::{schema}.{stored_event_type}[])"
            " ON CONFLICT DO NOTHING"
            " RETURNING originator_id, originator_version, notification_id"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            stored_event_type=Identifier(self.stored_event_type_name),
        )
        self.delete_rows_statement = SQL(
            "DELETE FROM {schema}.{table} WHERE notification_id = ANY(%s)"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
        )

    @property
    def queued(self) -> int:
        """Commands waiting for a commit (an observable for tests and benchmarks)."""
        with self._mutex:
            return len(self._queue)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        if not stored_events:
            return []
        mine = _Pending(list(stored_events))
        with self._mutex:
            self._queue.append(mine)
            lead = not self._leading
            self._leading = True
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
            batch = self._take_batch()
        try:
            self._commit(batch)
        except BaseException as e:  # every command of a failed transaction fails with it
            for p in batch:
                p.ids, p.error = None, e
        finally:
            with self._mutex:
                successor = self._queue[0] if self._queue else None
                self._leading = successor is not None
            for p in batch:
                p.done = True
                p.wake.set()
            if successor is not None:
                successor.wake.set()

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
        return batch

    def _commit(self, batch: list[_Pending]) -> None:
        # A command proposing a row an earlier batch-mate proposes would conflict with it anyway:
        # fail it now, so every row sent has one owner.
        proposed: set[tuple[str, int]] = set()
        sending: list[_Pending] = []
        for p in batch:
            keys = p.stream_keys()
            if proposed.isdisjoint(keys) and len(set(keys)) == len(keys):
                proposed.update(keys)
                sending.append(p)
            else:
                p.error = IntegrityError("a command of the same batch writes the same version")
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for p in sending
            for e in p.events
        ]
        if not rows:
            return
        exc: BaseException | None = None
        outcome: dict[int, list[int]] = {}
        with self.datastore.get_connection() as conn:
            with conn.pipeline() as pipeline, conn.transaction():
                try:
                    with conn.cursor() as curs:
                        self._lock_table(curs)
                        self._notify_channel(curs)
                        curs.execute(self.batch_insert_statement, (rows,), prepare=True)
                        pipeline.sync()
                        got = {
                            (str(r["originator_id"]), r["originator_version"]): r["notification_id"]
                            for r in curs.fetchall()
                        }
                        orphans: list[int] = []
                        for i, p in enumerate(sending):
                            ids = [got.get(k) for k in p.stream_keys()]
                            if None in ids:
                                orphans.extend(n for n in ids if n is not None)
                            else:
                                outcome[i] = ids  # type: ignore[assignment]
                        if orphans:
                            curs.execute(self.delete_rows_statement, (orphans,))
                except BaseException as e:
                    # Roll back here, re-raise once the pipeline has closed (the library's way of
                    # keeping psycopg's pipeline state clean).
                    exc = e
                    raise psycopg.Rollback() from None
            if exc is not None:
                raise exc
        # The transaction has committed: only now may anyone be told.
        for i, p in enumerate(sending):
            if i in outcome:
                p.ids = outcome[i]
            else:
                p.error = IntegrityError("version conflict: the stream moved on")
