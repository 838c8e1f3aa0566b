"""Bench 1: one-event commands (log hours) per second through LedgerApplication on PostgreSQL,
against raw psycopg INSERT + commit of a row of the same shape and size, at 1 and 8 clients.

Every client works on its own student; every repetition gets fresh students, so the history a
command loads is the same in every repetition. Clients are threads of one process, as in the API
server; the raw clients are threads too, each with its own connection, autocommit, one prepared
single-row INSERT per transaction (the fastest honest commit of one row).
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg._connection_base import BaseConnection
from psycopg.sql import SQL, Identifier

from bench.common import POSTGRES_URL, median_of, pg_schema, show, with_schema, write_result
from bench.school import Cast
from ledger.application import LedgerApplication
from ledger.persistence import GroupCommitRecorder

LIBRARY_RECORDER = "eventsourcing.postgres:PostgresApplicationRecorder"
TARGETS = {1: 0.5, 8: 1.0}
# Client-process CPU seconds of each timed run (all threads), in order: the ledger's commands are
# bound by it when the raw baseline is bound by the server's commits.
CPU_SECONDS: list[float] = []
HOURS_TOPIC = "competency-ledger/Experience.HoursLogged"


def _timed(clients: int, work: Callable[[int], None]) -> float:
    """Seconds from the moment all clients are ready until the last one finishes."""
    start = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def run(c: int) -> None:
        start.wait()
        try:
            work(c)
        except BaseException as e:  # a failed client must fail the benchmark, not shrink it
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    CPU_SECONDS.append(time.process_time() - c0)
    if errors:
        raise errors[0]
    return elapsed


@contextmanager
def counting_round_trips() -> Iterator[list[int]]:
    """Counts the queries sent to PostgreSQL while the block runs (each one round trip): psycopg's
    cursor executes (the library's reads and writes), the commands psycopg sends itself (BEGIN
    and COMMIT of a ``conn.transaction()``) and the group-commit recorder's batches, which go to
    libpq directly. Wraps them for the block only; used in untimed runs."""
    count = [0]
    patched: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, static: bool = False) -> None:
        original = owner.__dict__[name]
        inner = original.__func__ if static else original

        def counted(*args: Any, **kwargs: Any) -> Any:
            count[0] += 1
            return inner(*args, **kwargs)

        patched.append((owner, name, original))
        setattr(owner, name, staticmethod(counted) if static else counted)

    wrap(psycopg.Cursor, "execute")
    wrap(psycopg.Cursor, "executemany")
    wrap(BaseConnection, "_exec_command")
    wrap(GroupCommitRecorder, "_run", static=True)
    try:
        yield count
    finally:
        for owner, name, original in reversed(patched):
            setattr(owner, name, original)


class Raw:
    """The baseline: the library's events table layout, written row by row."""

    def __init__(self, schema: str, state: bytes) -> None:
        self.schema = schema
        self.state = state
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(
                f'CREATE TABLE "{schema}".raw_events ('
                "originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
                "topic text, state bytea, notification_id bigserial, "
                "PRIMARY KEY (originator_id, originator_version))"
            )
            conn.execute(f'CREATE UNIQUE INDEX ON "{schema}".raw_events (notification_id ASC)')

    def rate(self, clients: int, per_client: int) -> float:
        conns = [psycopg.connect(POSTGRES_URL, autocommit=True) for _ in range(clients)]
        insert = SQL(
            "INSERT INTO {}.raw_events (originator_id, originator_version, topic, state)"
            " VALUES (%s, %s, %s, %s)"
        ).format(Identifier(self.schema))
        try:

            def work(c: int) -> None:
                oid = uuid.uuid4()
                cur = conns[c].cursor()
                for v in range(per_client):
                    cur.execute(insert, (oid, v, HOURS_TOPIC, self.state), prepare=True)

            return clients * per_client / _timed(clients, work)
        finally:
            for conn in conns:
                conn.close()


class Ledger:
    def __init__(self, schema: str, recorder_topic: str | None) -> None:
        # The library's recorder as the ledger was configured before group commit (pre-ping on).
        env = (
            {"APPLICATION_RECORDER_TOPIC": recorder_topic, "POSTGRES_PRE_PING": "y"}
            if recorder_topic
            else None
        )
        self.app = LedgerApplication(env, database_url=with_schema(POSTGRES_URL, schema))
        self.cast = Cast.make(self.app)
        self.recorder = type(self.app.recorder).__name__
        self.students = 0
        self.commands_per_commit: list[float] = []

    def rate(self, clients: int, per_client: int) -> float:
        work = self.work(self.new_cast(clients), per_client)
        before = self.batch_counts()
        rate = clients * per_client / _timed(clients, work)
        after = self.batch_counts()
        if after[0] > before[0]:
            self.commands_per_commit.append((after[1] - before[1]) / (after[0] - before[0]))
        return rate

    def new_cast(self, clients: int) -> list[tuple[Any, uuid.UUID]]:
        cast = []
        for _ in range(clients):
            self.students += 1
            login, _sid, xid = self.cast.student(f"S{self.students:05d}")
            self.cast.log(login, xid, 0)  # warm the aggregate cache, as a running server has
            cast.append((login, xid))
        return cast

    def work(self, cast: list[tuple[Any, uuid.UUID]], per_client: int) -> Callable[[int], None]:
        def work(c: int) -> None:
            login, xid = cast[c]
            for i in range(1, per_client + 1):
                self.cast.log(login, xid, i)

        return work

    def round_trips(self, clients: int, per_client: int) -> float:
        """Queries sent per command, counted in an untimed run of the same shape."""
        work = self.work(self.new_cast(clients), per_client)
        with counting_round_trips() as count:
            _timed(clients, work)
        CPU_SECONDS.pop()
        return count[0] / (clients * per_client)

    def batch_counts(self) -> tuple[int, int]:
        return getattr(self.app.recorder, "batches", (0, 0))

    def stored_state(self) -> bytes:
        rows = self.app.recorder.select_notifications(None, 100, topics=[HOURS_TOPIC])
        return rows[-1].state

    def close(self) -> None:
        self.app.close()


def run(quick: bool = False) -> dict[str, Any]:
    reps = 1 if quick else 5
    per_client = {1: 40, 8: 15} if quick else {1: 400, 8: 150}
    rows, results = [], []
    with pg_schema() as s_group, pg_schema() as s_lib, pg_schema() as s_raw:
        group = Ledger(s_group, None)
        library = Ledger(s_lib, LIBRARY_RECORDER)
        try:
            group.rate(1, 2)
            state = group.stored_state()
            raw = Raw(s_raw, state)
            for clients in (1, 8):
                n = per_client[clients]
                samples: dict[str, list[float]] = {"raw": [], "group": [], "library": []}
                cpu: dict[str, list[float]] = {"raw": [], "group": [], "library": []}
                # Interleaved, so drift of the machine touches all three alike.
                for _ in range(reps):
                    for name, side in (("raw", raw), ("group", group), ("library", library)):
                        samples[name].append(side.rate(clients, n))
                        cpu[name].append(1e6 * CPU_SECONDS[-1] / (clients * n))
                med = {k: median_of(len(v), iter(v).__next__)[0] for k, v in samples.items()}
                trips = {
                    "ledger": group.round_trips(clients, n),
                    "library": library.round_trips(clients, n),
                }
                entry = {
                    "clients": clients,
                    "commands_per_client": n,
                    "repetitions": reps,
                    "raw_per_s": med["raw"],
                    "ledger_per_s": med["group"],
                    "library_recorder_per_s": med["library"],
                    "ratio": med["group"] / med["raw"],
                    "library_ratio": med["library"] / med["raw"],
                    "target_ratio": TARGETS[clients],
                    "met": med["group"] / med["raw"] >= TARGETS[clients],
                    # Each repetition's ledger run against the raw run just before it.
                    "ratio_per_repetition": [
                        g / r for g, r in zip(samples["group"], samples["raw"], strict=True)
                    ],
                    "ledger_commands_per_commit": group.commands_per_commit[-reps:],
                    "client_cpu_us_per_command": {k: statistics.median(v) for k, v in cpu.items()},
                    # Queries sent to PostgreSQL per command (raw: one), in an untimed run.
                    "round_trips_per_command": trips,
                    "samples": samples,
                }
                results.append(entry)
                rows.append(
                    [
                        str(clients),
                        med["raw"],
                        med["group"],
                        entry["ratio"],
                        med["library"],
                        entry["library_ratio"],
                        entry["client_cpu_us_per_command"]["raw"],
                        entry["client_cpu_us_per_command"]["group"],
                        f">= {TARGETS[clients]}",
                        "yes" if entry["met"] else "NO",
                    ]
                )
        finally:
            group.close()
            library.close()
    show(
        f"Bench 1: log hours per second on PostgreSQL, median of {reps}"
        " (raw: INSERT + commit of the same row; library: eventsourcing's recorder, pre-ping on)",
        [
            "clients",
            "raw/s",
            "ledger/s",
            "ratio",
            "library/s",
            "library",
            "raw cpu µs",
            "ledger cpu µs",
            "target",
            "met",
        ],
        rows,
    )
    payload = {
        "quick": quick,
        "command": "log_hours (one HoursLogged event)",
        "state_bytes": len(state),
        "recorder": group.recorder,
        "results": results,
    }
    write_result("throughput-quick" if quick else "throughput", payload)
    return payload
