"""One small adapter so the projections run the same SQL on sqlite3 and psycopg.

SQL is written with ``?`` placeholders; on PostgreSQL they become ``%s`` and the connection's
search_path is the ledger's schema, so view tables sit beside the events.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from ledger.store import StoreConfig


class Database:
    def __init__(self, store: StoreConfig) -> None:
        self.kind = store.kind
        self.lock = threading.RLock()
        if store.kind == "sqlite":
            # Autocommit mode: transactions are begun explicitly (BEGIN IMMEDIATE takes the
            # write lock at once, which is what serialises projectors across processes).
            self.conn: Any = sqlite3.connect(
                store.sqlite_path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self.conn.execute("PRAGMA busy_timeout = 30000")
            # Only this connection's commits: views and their tracking are lost together on a
            # power cut (WAL keeps the file sound) and are projected again; events keep FULL.
            self.conn.execute("PRAGMA synchronous = NORMAL")
        else:
            self.store = store
            self.conn = self._connect_postgres()
        self.in_tx = False

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

    def _sql(self, sql: str) -> str:
        if self.kind == "sqlite":
            return sql.replace(" FOR UPDATE", "")
        return sql.replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._alive()
        return self.conn.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.kind == "sqlite":
            self.conn.executemany(self._sql(sql), rows)
        else:
            with self.conn.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

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
        self._alive()
        if self.kind == "sqlite":
            cur = self.conn.execute(self._sql(sql), tuple(params))
        else:
            cur = self.conn.execute(self._sql(sql), tuple(params), prepare=False)
        return list(cur.fetchall()) if cur.description is not None else []

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return list(self.execute(sql, params).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.execute(sql, params).fetchone()

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
    def reading(self) -> Iterator[Database]:
        """A consistent read of several statements (one snapshot)."""
        self._alive()
        with self.lock:
            if self.kind == "sqlite":
                self.conn.execute("BEGIN")
                try:
                    yield self
                finally:
                    self.conn.execute("COMMIT")
            else:
                with self.conn.transaction():
                    self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    yield self

    def advisory_lock(self, key: int) -> None:
        """Serialise schema set-up between processes (inside a transaction)."""
        if self.kind == "postgres":
            self.execute("SELECT pg_advisory_xact_lock(?)", (key,))

    def close(self) -> None:
        with self.lock:
            self.conn.close()
