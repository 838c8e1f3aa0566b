"""One small adapter so the projections run the same SQL on sqlite3 and psycopg.

SQL is written with ``?`` placeholders; on PostgreSQL they become ``%s`` and the connection's
search_path is the ledger's schema, so view tables sit beside the events.

Two kinds of connection: one for the projectors' write transactions (``transaction()``, under a
lock), and a small pool for the API's reads (``reading()``). Reads used to share the one locked
connection, so a slow read (an as-of fold over a student's whole year) held up every other read
of the process and the projector's next commit behind it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from ledger.store import StoreConfig

# Read connections per process. More than the cores: a reader spends most of a read waiting on
# the database, and the API's thread pool runs up to 40 requests at once.
READERS = 4
# Seconds a read connection may sit idle before it is pinged when taken: a database restart or
# an idle timeout ends it without psycopg knowing until the next statement fails on it.
IDLE_BEFORE_PING = 1.0
# Milliseconds a rebuild waits for the reads on the tables it drops before it lets go of every lock
# it took and tries again (see ``lock_to_drop``). Below PostgreSQL's deadlock_timeout (1 s), so
# the rebuild gives way before the server would end a read caught in a cycle with it.
DROP_LOCK_WAIT_MS = 100
# What ``lock_to_drop`` raises when the tables' readers did not let go in time.
LockBusy = psycopg.errors.LockNotAvailable
# A read of several statements on PostgreSQL: all of them see the same committed state.
ONE_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"


def _translate(kind: str, sql: str) -> str:
    if kind == "sqlite":
        return sql.replace(" FOR UPDATE", "")
    # A literal % (a LIKE pattern written into the SQL) would read as a placeholder.
    return sql.replace("%", "%%").replace("?", "%s")


class Statements:
    """What runs SQL on one connection: the projectors' (``Database``) or a borrowed read
    connection (``Reader``)."""

    kind: str
    conn: Any

    def _ready(self) -> None:
        """Called before each statement."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._ready()
        return self.conn.execute(_translate(self.kind, sql), tuple(params))

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return list(self.execute(sql, params).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.execute(sql, params).fetchone()

    def among(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column`` is one of ``values``, as SQL and its parameters. On PostgreSQL one array
        parameter: the same statement text whatever the number of values, which psycopg
        parses once instead of once per list length. Run it with ``lookup``."""
        if self.kind == "postgres":
            return f"{column} = ANY(?)", [list(values)]
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def lookup(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """``all`` for the projectors' key lookups, planned afresh each time on PostgreSQL:
        psycopg prepares a statement run five times, and a plan made while a rebuild's tables
        were nearly empty (a sequential scan) was then kept as they grew, within the
        transaction that fills them (109k events: lookups 0.26 s -> 1.55 s)."""
        self._ready()
        if self.kind == "sqlite":
            cur = self.conn.execute(_translate(self.kind, sql), tuple(params))
        else:
            cur = self.conn.execute(_translate(self.kind, sql), tuple(params), prepare=False)
        return list(cur.fetchall()) if cur.description is not None else []


class Reader(Statements):
    """Statements on one borrowed read connection (see ``Database.reading``)."""

    def __init__(self, kind: str, conn: Any) -> None:
        self.kind, self.conn = kind, conn


class Database(Statements):
    def __init__(self, store: StoreConfig, readers: int = READERS) -> None:
        self.kind = store.kind
        self.store = store
        self.lock = threading.RLock()
        self.conn: Any = self._connect()
        if store.kind == "sqlite":
            # Only this connection's commits: views and their tracking are lost together on a
            # power cut (WAL keeps the file sound) and are projected again; events keep FULL.
            self.conn.execute("PRAGMA synchronous = NORMAL")
        self.in_tx = False
        # Read connections not in use, with when each was given back (most recent last).
        self._idle: deque[tuple[Any, float]] = deque()
        self._idle_lock = threading.Lock()
        self._reader_slots = threading.BoundedSemaphore(readers)
        self._closed = False

    def _connect(self) -> Any:
        if self.kind == "sqlite":
            # Autocommit mode: transactions are begun explicitly (BEGIN IMMEDIATE takes the
            # write lock at once, which is what serialises projectors across processes).
            conn = sqlite3.connect(
                self.store.sqlite_path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute("PRAGMA busy_timeout = 30000")
            return conn
        return self._connect_postgres()

    def _connect_postgres(self) -> Any:
        conn = psycopg.connect(self.store.postgres_conninfo, autocommit=True)
        if self.store.postgres_schema:
            conn.execute(
                f'SET search_path TO "{self.store.postgres_schema}"'  # noqa: S608 - our config
            )
        return conn

    def _alive(self) -> None:
        # A database restart breaks this connection for good: reopen it (outside a transaction)
        # so the process recovers by itself instead of failing every later read.
        if self.kind == "postgres" and not self.in_tx and (self.conn.broken or self.conn.closed):
            with self.lock:
                if self.conn.broken or self.conn.closed:
                    self.conn = self._connect_postgres()

    def _ready(self) -> None:
        self._alive()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.kind == "sqlite":
            self.conn.executemany(_translate(self.kind, sql), rows)
        else:
            with self.conn.cursor() as cur:
                cur.executemany(_translate(self.kind, sql), rows)

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Plain inserts of many rows (no conflict clause). On PostgreSQL one COPY: an
        executemany pipelines one INSERT per row, which spent more time in psycopg's pipeline
        than the rest of a rebuild together."""
        if not rows:
            return
        names = ", ".join(columns)
        if self.kind == "sqlite":
            marks = ", ".join("?" * len(columns))
            sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - our names
            self.conn.executemany(sql, rows)
            return
        with (
            self.conn.cursor() as cur,
            cur.copy(
                f"COPY {table} ({names}) FROM STDIN"  # noqa: S608 - our names
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One write transaction; on SQLite it holds the database's write lock from the start."""
        self._alive()
        with self.lock:
            if self.kind == "sqlite":
                self.conn.execute("BEGIN IMMEDIATE")
                self.in_tx = True
                try:
                    yield self
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                else:
                    self.conn.execute("COMMIT")
                finally:
                    self.in_tx = False
            else:
                with self.conn.transaction():
                    self.in_tx = True
                    try:
                        yield self
                    finally:
                        self.in_tx = False

    @contextmanager
    def reading(self, snapshot: bool = False) -> Iterator[Reader]:
        """Reads on a pooled connection of their own, never the projectors' one. Each statement
        sees what was committed when it began (a projection's batch commits whole, so never half
        of one); with ``snapshot``, every statement sees the same snapshot."""
        self._reader_slots.acquire()
        try:
            conn = self._take()
            try:
                reader = Reader(self.kind, conn)
                if not snapshot:
                    yield reader
                elif self.kind == "sqlite":
                    conn.execute("BEGIN")
                    try:
                        yield reader
                    finally:
                        conn.execute("COMMIT")
                else:
                    with conn.transaction():
                        conn.execute(ONE_SNAPSHOT)
                        yield reader
            finally:
                self._give_back(conn)
        finally:
            self._reader_slots.release()

    def read_together(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple]]:
        """Several statements in one snapshot, each one's rows. On PostgreSQL they go in one
        round trip (a pipeline: BEGIN, the isolation level, each statement, COMMIT, one sync):
        an as-of fold's four statements in their transaction had been seven round trips."""
        if self.kind == "sqlite":  # in-process: no round trips to save
            with self.reading(snapshot=True) as reader:
                return [reader.all(sql, params) for sql, params in statements]
        with self.reading() as reader:
            conn = reader.conn
            with conn.pipeline(), conn.transaction():
                conn.execute(ONE_SNAPSHOT)
                cursors = [reader.execute(sql, params) for sql, params in statements]
            return [cur.fetchall() for cur in cursors]

    def _take(self) -> Any:
        while True:
            with self._idle_lock:
                if not self._idle:
                    break
                conn, since = self._idle.pop()
            if self.kind == "sqlite" or self._usable(conn, since):
                return conn
        conn = self._connect()
        if self.kind == "sqlite":
            conn.execute("PRAGMA query_only = ON")
        return conn

    @staticmethod
    def _usable(conn: Any, since: float) -> bool:
        if conn.broken or conn.closed:
            return False
        if time.monotonic() - since < IDLE_BEFORE_PING:
            return True
        try:
            conn.execute("SELECT 1")
        except psycopg.Error:
            with contextlib.suppress(Exception):
                conn.close()
            return False
        return True

    def _give_back(self, conn: Any) -> None:
        """Keep a connection for the next read if it is sound and outside any transaction
        (a failure can leave it broken or mid-transaction); close it otherwise."""
        if self.kind == "sqlite":
            sound = not conn.in_transaction
        else:
            sound = (
                not (conn.broken or conn.closed)
                and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            )
        with self._idle_lock:
            if sound and not self._closed:
                self._idle.append((conn, time.monotonic()))
                return
        with contextlib.suppress(Exception):  # closing a connection that already failed
            conn.close()

    def lock_to_drop(self, tables: Sequence[str]) -> None:
        """Takes the tables that exist for dropping them, all before dropping any (inside a
        transaction); raises ``LockBusy`` if their readers hold on past DROP_LOCK_WAIT_MS.

        Dropped one by one, each drop waited for that table's reads while holding the tables
        dropped before it, and a snapshot read holding a later table and waiting for an earlier
        one was a deadlock that PostgreSQL ended by failing the read or the rebuild. SQLite's
        readers hold no table locks."""
        if self.kind != "postgres":
            return
        existing = [
            t
            for (t,) in self.all(
                "SELECT t FROM unnest(CAST(? AS text[])) AS t WHERE to_regclass(t) IS NOT NULL",
                (list(tables),),
            )
        ]
        if not existing:
            return
        self.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_WAIT_MS}ms'")
        self.execute(f"LOCK TABLE {', '.join(existing)} IN ACCESS EXCLUSIVE MODE")
        self.execute("SET LOCAL lock_timeout = 0")

    def advisory_lock(self, key: int) -> None:
        """Serialise schema set-up between processes (inside a transaction)."""
        if self.kind == "postgres":
            self.execute("SELECT pg_advisory_xact_lock(?)", (key,))

    def close(self) -> None:
        with self._idle_lock:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
        for conn, _ in idle:
            conn.close()
        with self.lock:
            self.conn.close()
