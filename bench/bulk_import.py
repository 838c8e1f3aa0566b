"""Bench 3: a generated district through the import path against raw COPY of the same rows.

The ledger side is the district's build (`bench/district.py`): every act a command through
`LedgerApplication` (access check, decision, events) with saves collected by
`LedgerApplication.bulk()` and written in chunks of 2,000 events. It is one build, timed once
(a second build would be a second district, not a repetition). The baseline is the stored rows
of that build read back from the events table (binary COPY to a spool file, outside the
timing) and COPY'd into a fresh table of the same shape (same columns, primary key and
notification-id index), committed: the same bytes, median of 5 (3 for --quick).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

from bench import district
from bench.common import POSTGRES_URL, median_of, show, write_result

TARGET = 0.25
COLUMNS = SQL("originator_id, originator_version, topic, state, notification_id")
BLOCK = 1 << 20


def _count(conn: psycopg.Connection, table: Identifier) -> int:
    return conn.execute(SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]  # type: ignore[index]


def _spool(conn: psycopg.Connection, table: Identifier, out: Any) -> int:
    query = SQL("COPY (SELECT {} FROM {} ORDER BY notification_id) TO STDOUT (FORMAT BINARY)")
    with conn.cursor().copy(query.format(COLUMNS, table)) as copy:
        for block in copy:
            out.write(block)
    out.flush()
    return out.tell()


def _raw_copy(conn: psycopg.Connection, d: district.District, spool: Any) -> tuple[float, int]:
    """Seconds to COPY the spooled rows into a fresh table like the events table, committed."""
    fresh = Identifier(d.schema, f"raw_copy_{uuid.uuid4().hex[:8]}")
    conn.execute(SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(fresh, d.events_table()))
    conn.commit()
    try:
        spool.seek(0)
        began = time.perf_counter()
        query = SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(fresh, COLUMNS)
        with conn.cursor().copy(query) as copy:
            while block := spool.read(BLOCK):
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - began
        return seconds, _count(conn, fresh)
    finally:
        conn.rollback()
        conn.execute(SQL("DROP TABLE IF EXISTS {}").format(fresh))
        conn.commit()


def run(quick: bool) -> dict[str, Any]:
    d = district.district(quick)
    repetitions = 3 if quick else 5
    with psycopg.connect(POSTGRES_URL) as conn, tempfile.TemporaryFile() as spool:
        spool_bytes = _spool(conn, d.events_table(), spool)
        conn.commit()
        stored = _count(conn, d.events_table())
        snapshots = _count(conn, d.snapshots_table())
        conn.commit()
        counts: list[int] = []

        def measure() -> float:
            seconds, rows = _raw_copy(conn, d, spool)
            counts.append(rows)
            return seconds

        raw_s, raw_samples = median_of(repetitions, measure)
    if any(c != stored for c in counts):
        raise RuntimeError(f"raw COPY wrote {counts} rows, the store holds {stored}")
    ledger_per_s = stored / d.build_seconds
    raw_per_s = stored / raw_s
    ratio = ledger_per_s / raw_per_s
    show(
        f"bench 3: bulk import, {stored:,} events",
        ["path", "seconds", "events/s", "runs"],
        [
            ["ledger: generated district, bulk()", d.build_seconds, ledger_per_s, "1 (one-off)"],
            ["raw COPY of the same rows", raw_s, raw_per_s, f"median of {repetitions}"],
            ["ratio (ledger/raw)", "", ratio, f"target >= {TARGET}"],
        ],
    )
    payload = {
        "district": d.describe(),
        "stored_events": stored,
        "snapshots_written_by_ledger": snapshots,
        "spool_bytes": spool_bytes,
        "ledger": {
            "seconds": d.build_seconds,
            "events_per_s": ledger_per_s,
            "note": "one build, timed once: a second build would be another district",
        },
        "raw_copy": {
            "seconds_median": raw_s,
            "seconds_samples": raw_samples,
            "events_per_s": raw_per_s,
            "repetitions": repetitions,
        },
        "ratio": ratio,
        "target": TARGET,
        "target_met": ratio >= TARGET,
    }
    write_result(district.result_name("bulk_import", quick), payload)
    return payload
