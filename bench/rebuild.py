"""Bench 4: `ReadModels.rebuild()` over the district's store against a raw ordered scan of the
events table, and the rebuild's memory at two points of the log.

The baseline reads every stored row into Python in notification-id order, in keyset pages of
the projections' batch size (``SELECT … WHERE notification_id > %s ORDER BY notification_id
LIMIT 1000``): what any consumer of the log must at least do. Baseline and rebuild alternate
within each repetition; medians of 5 (3 for --quick).

Memory: one more rebuild, untimed, under tracemalloc (it slows Python down). The peak of
traced Python memory after a quarter of the log and after all of it, with the process's RSS at
the same points: flat means the two peaks are about equal while the events read quadruple.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

import psycopg
from psycopg.sql import SQL

from bench import district
from bench.common import POSTGRES_URL, show, write_result
from projections import ReadModels

TARGET = 0.3
PAGE = 1000


def rss_kb(pid: int | str = "self", field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


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


def _memory(rm: ReadModels, events: int) -> dict[str, Any]:
    marks = {"quarter": events // 4, "all": events}
    seen: dict[str, Any] = {}
    done = 0

    def progress(n: int, _position: int) -> None:
        nonlocal done
        done += n
        for name, at in marks.items():
            if name not in seen and done >= at:
                seen[name] = {
                    "events": done,
                    "traced_peak_mb": tracemalloc.get_traced_memory()[1] / 1e6,
                    "rss_mb": rss_kb() / 1e3,
                }

    tracemalloc.start()
    try:
        rm.rebuild(progress=progress)
    finally:
        tracemalloc.stop()
    return seen


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
        memory = _memory(rm, counts[-1][1])
    finally:
        rm.close()
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
        "bench 4: rebuild memory (tracemalloc, untimed run)",
        ["after", "events", "traced peak MB", "RSS MB"],
        [
            [k, v["events"], f"{v['traced_peak_mb']:.1f}", f"{v['rss_mb']:.0f}"]
            for k, v in memory.items()
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
        "memory_note": "traced peak: Python allocations since the rebuild began (cumulative);"
        " RSS: the whole bench process, which also holds the district's build",
    }
    write_result("rebuild-quick" if quick else "rebuild", payload)
    return payload
