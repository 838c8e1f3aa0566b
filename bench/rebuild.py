"""Bench 4: `ReadModels.rebuild()` over the district's store against a raw ordered scan of the
events table, and the rebuild's memory at two points of the log.

The baseline reads every stored row into Python in notification-id order, in keyset pages of
the projections' batch size (``SELECT … WHERE notification_id > %s ORDER BY notification_id
LIMIT 1000``): what any consumer of the log must at least do. Baseline and rebuild alternate
within each repetition; medians of 5 (3 for --quick).

Memory: untimed rebuilds under tracemalloc (it slows Python down), the peak of Python
allocations during each: a district of half the run's students; the same store after a second
district of that size is appended to it (twice the log, and the students being touched are
still those of one district); the run's district (twice the students). Flat in the number of
events means the first two peaks are equal. A rebuild keeps the folded states of the students
it is touching in memory (bounded: at most 4,096 students, each let go once untouched for 50
positions per student held), and those states grow through the school year, so the peak rises
with the students active at once and their histories, not with the log's length. A rebuild commits
every 250,000 events, so ``progress`` (and the quarter mark below) comes per commit.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import psycopg
from psycopg.sql import SQL

from bench import district
from bench.common import POSTGRES_URL, show, write_result
from cli.demo_school import build_demo_school
from projections import ReadModels

TARGET = 0.3
PAGE = 1000


def _raw_scan(d: district.District) -> tuple[float, int]:
    sql = SQL(
        "SELECT originator_id, originator_version, topic, state, notification_id "
        "FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
    ).format(d.events_table())
    rows, last = 0, 0
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        began = time.perf_counter()
        while page := conn.execute(sql, (last, PAGE), prepare=True).fetchall():
            rows += len(page)
            last = page[-1][4]
        return time.perf_counter() - began, rows


def _memory(app: Any, events: int, what: str) -> dict[str, Any]:
    """One untimed rebuild under tracemalloc: the peak of Python allocations made during it, at
    a quarter of the log and at its end, and what it still holds afterwards."""
    marks = {"quarter": events // 4, "all": events}
    seen: dict[str, float] = {}
    done = 0

    def progress(n: int, _position: int) -> None:
        nonlocal done
        done += n
        for name, at in marks.items():
            if name not in seen and done >= at:
                seen[name] = tracemalloc.get_traced_memory()[1] / 1e6

    rm = ReadModels(app, batch_size=PAGE)
    tracemalloc.start()
    try:
        result = rm.rebuild(progress=progress)
        held = tracemalloc.get_traced_memory()[0] / 1e6
    finally:
        tracemalloc.stop()
        rm.close()
    return {
        "store": what,
        "events": result["events"],
        "traced_peak_mb": seen["all"],
        "traced_peak_mb_at_quarter": seen["quarter"],
        "held_after_mb": held,
    }


def _memory_at_two_lengths(quick: bool, d: district.District) -> list[dict[str, Any]]:
    half = district.district(quick, max(2, d.size.students // 2))
    n = half.size.students
    rows = [_memory(half.app, half.events, f"{n} students")]
    # The same store with a second district of the same size appended after it: twice the
    # log, and a batch still touches the students of one district only.
    build_demo_school(
        half.app, size=half.size, seed=district.SEED + 1, chunk_events=district.CHUNK_EVENTS
    )
    rows.append(_memory(half.app, half.app.position(), f"{n} + {n} students, one after the other"))
    rows.append(_memory(d.app, d.events, f"{d.size.students} students"))
    return rows


def run(quick: bool) -> dict[str, Any]:
    d = district.district(quick)
    repetitions = 3 if quick else 5
    rm = ReadModels(d.app, batch_size=PAGE)
    try:
        raw, ledger, counts = [], [], []
        for _ in range(repetitions):
            seconds, rows = _raw_scan(d)
            raw.append(seconds)
            result = rm.rebuild()
            ledger.append(result["seconds"])
            counts.append((rows, result["events"]))
    finally:
        rm.close()
    memory = _memory_at_two_lengths(quick, d)
    if any(r != e for r, e in counts):
        raise RuntimeError(f"scan and rebuild saw different event counts: {counts}")
    events = counts[-1][0]
    raw_s, ledger_s = sorted(raw)[len(raw) // 2], sorted(ledger)[len(ledger) // 2]
    ratio = raw_s / ledger_s
    show(
        f"bench 4: projection rebuild, {events:,} events, median of {repetitions}",
        ["path", "seconds", "events/s"],
        [
            ["raw ordered scan (pages of 1,000)", raw_s, events / raw_s],
            ["ReadModels.rebuild() (all projections)", ledger_s, events / ledger_s],
            ["ratio (rebuild/scan)", "", f"{ratio:.3f} (target >= {TARGET})"],
        ],
    )
    show(
        "bench 4: rebuild memory (tracemalloc, untimed rebuilds)",
        ["store", "events", "peak MB", "peak MB at 1/4 of the log", "held after MB"],
        [
            [
                m["store"],
                m["events"],
                f"{m['traced_peak_mb']:.1f}",
                f"{m['traced_peak_mb_at_quarter']:.1f}",
                f"{m['held_after_mb']:.1f}",
            ]
            for m in memory
        ],
    )
    payload = {
        "district": d.describe(),
        "events": events,
        "repetitions": repetitions,
        "raw_scan": {"seconds_median": raw_s, "seconds_samples": raw, "page": PAGE},
        "rebuild": {"seconds_median": ledger_s, "seconds_samples": ledger},
        "ratio": ratio,
        "ratio_per_repetition": [r / s for r, s in zip(raw, ledger, strict=True)],
        "target": TARGET,
        "target_met": ratio >= TARGET,
        "memory": memory,
        "memory_peak_ratio_at_twice_the_log": memory[1]["traced_peak_mb"]
        / memory[0]["traced_peak_mb"],
        "memory_note": "tracemalloc peak of Python allocations during one rebuild: a district,"
        " the same store with a second district appended (twice the log, same students per"
        " batch), and the run's district (twice the students per batch)",
    }
    write_result(district.result_name("rebuild", quick), payload)
    return payload
