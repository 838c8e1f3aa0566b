"""Keys, and tampering by raw SQL: the attacker has the database but not the signing key."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import LedgerApplication
from ledger.integrity.keys import create_key
from ledger.settings import get_settings


@pytest.fixture
def key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "keys" / "school-ed25519.pem"
    monkeypatch.setenv("LEDGER_SIGNING_KEY_PATH", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


@pytest.fixture
def key(key_path: Path) -> Ed25519PrivateKey:
    return create_key(key_path)


class Tamper:
    """Direct SQL on the application's events table, the way someone with database access would."""

    def __init__(self, app: LedgerApplication) -> None:
        self.store = app.store
        self.table = app.recorder.events_table_name
        if self.store.kind == "sqlite":
            self.id = "rowid"
            self.events = self.table
            self.prefix = ""
        else:
            self.id = "notification_id"
            self.prefix = f'"{self.store.postgres_schema}".'
            self.events = self.prefix + self.table

    @contextmanager
    def conn(self) -> Iterator[Any]:
        if self.store.kind == "sqlite":
            c = sqlite3.connect(self.store.sqlite_path, timeout=30)
            try:
                yield c
                c.commit()
            finally:
                c.close()
        else:
            with psycopg.connect(self.store.postgres_conninfo) as c:
                yield c

    def q(self, sql: str) -> str:
        sql = sql.replace("{events}", self.events).replace("{id}", self.id)
        sql = sql.replace("{p}", self.prefix)
        return sql if self.store.kind == "sqlite" else sql.replace("?", "%s")

    def run(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.conn() as c:
            cur = c.execute(self.q(sql), params)
            return list(cur.fetchall()) if cur.description else []

    def positions(self) -> list[int]:
        return [r[0] for r in self.run("SELECT {id} FROM {events} ORDER BY {id}")]

    def state(self, position: int) -> bytes:
        return bytes(self.run("SELECT state FROM {events} WHERE {id} = ?", (position,))[0][0])

    def set_state(self, position: int, state: bytes) -> None:
        self.run("UPDATE {events} SET state = ? WHERE {id} = ?", (state, position))

    def flip_byte(self, position: int, offset: int = 10) -> None:
        s = bytearray(self.state(position))
        s[offset] ^= 0x01
        self.set_state(position, bytes(s))

    def delete(self, position: int) -> None:
        self.run("DELETE FROM {events} WHERE {id} = ?", (position,))

    def synthesize(self, count: int, start: int = 0) -> None:
        """``count`` stored events of about 300 bytes each, in chunks (PITFALLS 1): leaves are
        the stored bytes, whatever the domain, so integrity tests need no aggregates."""
        pg = self.store.kind == "postgres"
        sql = self.q(
            "INSERT INTO {events} (originator_id, originator_version, topic, state)"
            " VALUES (?,?,?,?)"
        )
        with self.conn() as c:
            for lo in range(start, start + count, 5000):
                rows = []
                for n in range(lo, min(lo + 5000, start + count)):
                    oid = uuid.uuid4()
                    state = json.dumps({"n": n, "note": "x" * 240, "id": str(oid)}).encode()
                    rows.append((oid if pg else oid.hex, 1, "synthetic/Event.Recorded", state))
                if pg:
                    with c.cursor() as cur:
                        cur.executemany(sql, rows)
                else:
                    c.executemany(sql, rows)
                c.commit()

    def swap_states(self, a: int, b: int) -> None:
        sa, sb = self.state(a), self.state(b)
        self.set_state(a, sb)
        self.set_state(b, sa)


@pytest.fixture
def tamper(app: LedgerApplication) -> Tamper:
    return Tamper(app)
