"""Direct SQL on the application's own database: the events table as stored, and the integrity
tables beside it (``integrity_checkpoints``, ``integrity_leaves``).

We read the events table with SQL rather than through the library so that the leaves are the
bytes really on disk, in notification-id order, in pages (keyset pagination), so memory stays
flat however long the log is.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql as pgsql

from ledger.integrity.leaves import Leaf, canonical_originator_id
from ledger.integrity.merkle import Frontier

PAGE = 2000
TILE = 256  # leaves per stored tile hash (integrity_tiles)
# Queries below interpolate only these fixed column lists and "?" marks, never values.
_EVENT_COLUMNS = "{id}, originator_id, originator_version, topic, state"
_CP_COLUMNS = "seq, tree_size, last_position, body, signature, frontier, consistency"

_DDL = {
    "sqlite": [
        "CREATE TABLE IF NOT EXISTS integrity_checkpoints ("
        " seq INTEGER PRIMARY KEY, tree_size INTEGER NOT NULL, last_position INTEGER NOT NULL,"
        " root_hash TEXT NOT NULL, created_at TEXT NOT NULL, key_id TEXT NOT NULL,"
        " body TEXT NOT NULL, signature BLOB NOT NULL, frontier TEXT NOT NULL,"
        " consistency TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS integrity_leaves ("
        " leaf_index INTEGER PRIMARY KEY, position INTEGER NOT NULL, leaf_hash BLOB NOT NULL)",
        "CREATE INDEX IF NOT EXISTS integrity_leaves_position ON integrity_leaves (position)",
        "CREATE TABLE IF NOT EXISTS integrity_tiles ("
        " tile_index INTEGER PRIMARY KEY, tile_hash BLOB NOT NULL)",
    ],
    "postgres": [
        "CREATE TABLE IF NOT EXISTS {s}integrity_checkpoints ("
        " seq bigint PRIMARY KEY, tree_size bigint NOT NULL, last_position bigint NOT NULL,"
        " root_hash text NOT NULL, created_at text NOT NULL, key_id text NOT NULL,"
        " body text NOT NULL, signature bytea NOT NULL, frontier text NOT NULL,"
        " consistency text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {s}integrity_leaves ("
        " leaf_index bigint PRIMARY KEY, position bigint NOT NULL, leaf_hash bytea NOT NULL)",
        "CREATE INDEX IF NOT EXISTS integrity_leaves_position ON {s}integrity_leaves (position)",
        "CREATE TABLE IF NOT EXISTS {s}integrity_tiles ("
        " tile_index bigint PRIMARY KEY, tile_hash bytea NOT NULL)",
    ],
}


@dataclass(frozen=True)
class CheckpointRow:
    seq: int
    tree_size: int
    last_position: int
    body: str
    signature: bytes
    frontier: list[bytes]
    consistency: list[bytes]

    def seeded_frontier(self) -> Frontier:
        return Frontier(self.tree_size, self.frontier)


class IntegrityDB:
    """One connection to the store behind ``app``; use as a context manager."""

    def __init__(self, app: Any) -> None:
        store = app.store
        if store is None:
            raise ValueError("tamper evidence needs an application opened with a database_url")
        self.kind = store.kind
        self.events_table = app.recorder.events_table_name
        if self.kind == "sqlite":
            self.conn: Any = sqlite3.connect(store.sqlite_path, timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self._prefix = ""
            self._id = "rowid"
        else:
            self.conn = psycopg.connect(store.postgres_conninfo, autocommit=True)
            schema = store.postgres_schema
            self._prefix = pgsql.Identifier(schema).as_string(self.conn) + "." if schema else ""
            self._id = "notification_id"
        self._events = self._prefix + self.events_table
        for statement in _DDL[self.kind]:
            self._exec(statement.replace("{s}", self._prefix))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> IntegrityDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing
    def _sql(self, text: str) -> str:
        text = text.replace("{events}", self._events).replace("{id}", self._id)
        text = text.replace("{cp}", self._prefix + "integrity_checkpoints")
        text = text.replace("{leaves}", self._prefix + "integrity_leaves")
        text = text.replace("{tiles}", self._prefix + "integrity_tiles")
        return text if self.kind == "sqlite" else text.replace("?", "%s")

    def _exec(self, text: str, params: tuple | list = ()) -> Any:
        return self.conn.execute(self._sql(text), params)

    def rows(self, text: str, params: tuple | list = ()) -> list[tuple]:
        return list(self._exec(text, params).fetchall())

    @contextmanager
    def write(self) -> Iterator[None]:
        """One transaction that excludes other checkpoint writers."""
        if self.kind == "sqlite":
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        else:
            with self.conn.transaction():
                # The snapshot is taken after the lock: we see the last committed checkpoint.
                self._exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                self._exec("LOCK TABLE {cp} IN SHARE ROW EXCLUSIVE MODE")
                yield

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One consistent read of events and integrity tables (verify)."""
        if self.kind == "sqlite":
            self.conn.execute("BEGIN")
            try:
                yield
            finally:
                self.conn.execute("COMMIT")
        else:
            with self.conn.transaction():
                self._exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield

    # ------------------------------------------------------------------ events
    def max_position(self) -> int:
        return self.rows("SELECT MAX({id}) FROM {events}")[0][0] or 0

    def position_after(self, position: int, count: int) -> int:
        """The position ``count`` events after ``position`` (or the last one, if fewer)."""
        rows = self.rows(
            "SELECT {id} FROM {events} WHERE {id} > ? ORDER BY {id} LIMIT 1 OFFSET ?",
            (position, count - 1),
        )
        return int(rows[0][0]) if rows else self.max_position()

    def count_between(self, after: int, upto: int) -> int:
        return self.rows(
            "SELECT COUNT(*) FROM {events} WHERE {id} > ? AND {id} <= ?", (after, upto)
        )[0][0]

    def count_after(self, position: int) -> int:
        return self.rows("SELECT COUNT(*) FROM {events} WHERE {id} > ?", (position,))[0][0]

    def leaves(self, after: int = 0, upto: int | None = None) -> Iterator[Leaf]:
        """Stored events with after < position <= upto, in log order, a page at a time."""
        upto = self.max_position() if upto is None else upto
        last = after
        while True:
            page = self.rows(
                "SELECT {id}, originator_id, originator_version, topic, state FROM {events}"
                " WHERE {id} > ? AND {id} <= ? ORDER BY {id} LIMIT ?",
                (last, upto, PAGE),
            )
            for pos, oid, version, topic, state in page:
                yield Leaf(
                    int(pos), canonical_originator_id(oid), int(version), topic, bytes(state)
                )
            if len(page) < PAGE:
                return
            last = page[-1][0]

    def leaves_at(self, positions: list[int]) -> dict[int, Leaf]:
        out: dict[int, Leaf] = {}
        for i in range(0, len(positions), 500):
            chunk = positions[i : i + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {_EVENT_COLUMNS} FROM {{events}} WHERE {{id}} IN ({marks})"  # noqa: S608
            for pos, oid, version, topic, state in self.rows(query, chunk):
                out[int(pos)] = Leaf(
                    int(pos), canonical_originator_id(oid), int(version), topic, bytes(state)
                )
        return out

    # ------------------------------------------------------------------ leaf index
    def add_index(self, rows: list[tuple[int, int, bytes]]) -> None:
        if not rows:
            return
        verb = "INSERT OR REPLACE INTO" if self.kind == "sqlite" else "INSERT INTO"
        tail = (
            ""
            if self.kind == "sqlite"
            else " ON CONFLICT (leaf_index) DO UPDATE SET position = EXCLUDED.position,"
            " leaf_hash = EXCLUDED.leaf_hash"
        )
        statement = self._sql(f"{verb} {{leaves}} (leaf_index, position, leaf_hash) VALUES (?,?,?)")
        if self.kind == "sqlite":
            self.conn.executemany(statement, rows)
        else:
            with self.conn.cursor() as cur:
                cur.executemany(statement + tail, rows)

    def index(self, upto: int) -> Iterator[tuple[int, int, bytes]]:
        """(leaf index, position, leaf hash) for leaf index < upto, in order."""
        last = -1
        while True:
            page = self.rows(
                "SELECT leaf_index, position, leaf_hash FROM {leaves}"
                " WHERE leaf_index > ? AND leaf_index < ? ORDER BY leaf_index LIMIT ?",
                (last, upto, PAGE),
            )
            for i, pos, h in page:
                yield int(i), int(pos), bytes(h)
            if len(page) < PAGE:
                return
            last = page[-1][0]

    def index_range(self, lo: int, hi: int) -> list[bytes]:
        """Leaf hashes for leaf indices lo <= i < hi (at most a tile's worth), in order."""
        return [
            bytes(h)
            for (h,) in self.rows(
                "SELECT leaf_hash FROM {leaves} WHERE leaf_index >= ? AND leaf_index < ?"
                " ORDER BY leaf_index",
                (lo, hi),
            )
        ]

    def add_tiles(self, rows: list[tuple[int, bytes]]) -> None:
        if not rows:
            return
        if self.kind == "sqlite":
            self.conn.executemany(
                self._sql("INSERT OR REPLACE INTO {tiles} (tile_index, tile_hash) VALUES (?,?)"),
                rows,
            )
        else:
            with self.conn.cursor() as cur:
                cur.executemany(
                    self._sql(
                        "INSERT INTO {tiles} (tile_index, tile_hash) VALUES (?,?)"
                        " ON CONFLICT (tile_index) DO UPDATE SET tile_hash = EXCLUDED.tile_hash"
                    ),
                    rows,
                )

    def tiles(self, below: int) -> dict[int, bytes]:
        """Tile hashes for tile index < below: n/256 rows of 32 bytes, loaded whole."""
        return {
            int(i): bytes(h)
            for i, h in self.rows(
                "SELECT tile_index, tile_hash FROM {tiles} WHERE tile_index < ?", (below,)
            )
        }

    def leaf_indices(self, positions: list[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for i in range(0, len(positions), 500):
            chunk = positions[i : i + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT leaf_index, position FROM {{leaves}} WHERE position IN ({marks})"  # noqa: S608
            for idx, pos in self.rows(query, chunk):
                out[int(pos)] = int(idx)
        return out

    # ------------------------------------------------------------------ checkpoints
    def add_checkpoint(
        self, cp: Any, frontier: Frontier, consistency: list[bytes], created_at: str
    ) -> None:
        self._exec(
            "INSERT INTO {cp} (seq, tree_size, last_position, root_hash, created_at, key_id,"
            " body, signature, frontier, consistency) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                cp.seq,
                cp.tree_size,
                cp.last_position,
                cp.root.hex(),
                created_at,
                cp.key_id,
                cp.body,
                cp.signature,
                json.dumps([h.hex() for h in frontier.hashes]),
                json.dumps([h.hex() for h in consistency]),
            ),
        )

    def _row(self, r: tuple) -> CheckpointRow:
        return CheckpointRow(
            seq=int(r[0]),
            tree_size=int(r[1]),
            last_position=int(r[2]),
            body=r[3],
            signature=bytes(r[4]),
            frontier=[bytes.fromhex(h) for h in json.loads(r[5])],
            consistency=[bytes.fromhex(h) for h in json.loads(r[6])],
        )

    def latest_checkpoint(self) -> CheckpointRow | None:
        query = f"SELECT {_CP_COLUMNS} FROM {{cp}} ORDER BY seq DESC LIMIT 1"  # noqa: S608
        rows = self.rows(query)
        return self._row(rows[0]) if rows else None

    def checkpoints(self) -> Iterator[CheckpointRow]:
        last = 0
        while True:
            query = f"SELECT {_CP_COLUMNS} FROM {{cp}} WHERE seq > ? ORDER BY seq LIMIT ?"  # noqa: S608
            page = self.rows(query, (last, PAGE))
            for r in page:
                yield self._row(r)
            if len(page) < PAGE:
                return
            last = page[-1][0]
