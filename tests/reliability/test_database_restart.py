"""PostgreSQL stopped and started under a write load: 503 problem+json while it is down, the
same server process recovers by itself, and every acknowledged write is in the store."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest

from ledger.application import LedgerApplication
from tests.reliability.load import PROBLEM_JSON, events_since, head, run_load
from tests.reliability.pg_instance import PrivatePostgres
from tests.reliability.seed import (
    HOURS_LOGGED,
    REFLECTION_SUBMITTED,
    hours_command,
    mixed_plans,
    seed_school,
)
from tests.reliability.server import ApiServer

pytestmark = pytest.mark.reliability

WRITERS = 4
COMMANDS_PER_WRITER = 150
OUTAGE_SECONDS = 8.0


def test_api_survives_a_database_restart(private_postgres: PrivatePostgres, figures) -> None:
    # A short pool wait keeps each request's answer during the outage to seconds, not a minute.
    url = private_postgres.url + "?connect_timeout=1"
    app = LedgerApplication(database_url=url)
    seeded = seed_school(app, students=8)
    start = head(app)
    app.close()

    plans = mixed_plans(seeded.pupils, WRITERS, COMMANDS_PER_WRITER)
    server = ApiServer(url)
    try:
        pid = server.proc.pid
        done = [0]
        lock = threading.Lock()

        def progress() -> None:
            with lock:
                done[0] += 1

        box: dict = {}
        loader = threading.Thread(
            target=lambda: box.update(
                r=run_load(
                    server.base_url,
                    plans,
                    max_attempts=60,
                    request_timeout=60,
                    deadline_s=480,
                    on_progress=progress,
                )
            ),
            daemon=True,
        )
        loader.start()
        wait_until(lambda: done[0] >= 60, timeout=120)
        acked_before_outage = done[0]

        private_postgres.stop("fast")
        outage: Counter = Counter()
        outage_problem_json = 0
        stopped = time.monotonic()
        with httpx.Client(base_url=server.base_url, timeout=60) as probe:
            while time.monotonic() - stopped < OUTAGE_SECONDS:
                r = probe.get("/readyz")
                outage[f"readyz {r.status_code}"] += 1
                p = seeded.pupils[0]
                w = probe.post(
                    f"/v1/experiences/{p.experience_id}/hours",
                    json=hours_command(p, 0).body,
                    headers={"Authorization": f"Bearer {p.token}"},
                )
                outage[f"write {w.status_code}"] += 1
                for resp in (r, w):
                    if resp.status_code == 503:
                        assert resp.headers["content-type"].startswith(PROBLEM_JSON)
                        body = resp.json()
                        assert body["status"] == 503 and body["type"] and body["title"]
                        outage_problem_json += 1
                time.sleep(0.2)
        down_for = time.monotonic() - stopped
        private_postgres.start()

        loader.join(timeout=600)
        assert not loader.is_alive()
        result, problems = box["r"]
        assert server.proc.poll() is None and server.proc.pid == pid, "the server was restarted"
        with httpx.Client(base_url=server.base_url, timeout=30) as probe:
            wait_until(lambda: probe.get("/readyz").status_code == 200, timeout=60)
    finally:
        server.close()

    # While the database was down: only 503 problem+json, never another 5xx.
    assert set(outage) <= {"readyz 503", "write 503"}, outage
    assert outage_problem_json == sum(outage.values())
    assert result.attempt_5xx_other_than_503() == 0, result.attempts
    assert all(ct.startswith(PROBLEM_JSON) for s, ct in problems if s == 503)
    # The load saw the outage and came through it.
    assert (
        result.attempts["503"] + sum(n for k, n in result.attempts.items() if not k.isdigit()) > 0
    ), result.attempts
    assert result.not_sent == 0
    assert len(result.acknowledged) == WRITERS * COMMANDS_PER_WRITER, result.final_statuses()

    app = LedgerApplication(database_url=url)
    try:
        stored_hours = events_since(app, start, [HOURS_LOGGED])
        stored_reflections = events_since(app, start, [REFLECTION_SUBMITTED])
        acked_hours = [o for o in result.acknowledged if o.command.label == "log_hours"]
        acked_reflections = [
            o for o in result.acknowledged if o.command.label == "submit_reflection"
        ]
        # The outage probe's own writes were all refused; every stored event is an ack's.
        assert len(stored_hours) == len(acked_hours)
        assert len(stored_reflections) == len(acked_reflections)
        entries: set[str] = set()
        for p in seeded.pupils:
            entries |= set(app.experience(p.experience_id).entries)
        lost = [o for o in acked_hours if o.resource_id not in entries]
        assert not lost
        for o in acked_reflections:
            app.reflection(o.resource_id)
        assert len({o.resource_id for o in result.acknowledged}) == len(result.acknowledged)
    finally:
        app.close()

    figures.record(
        writers=WRITERS,
        commands=WRITERS * COMMANDS_PER_WRITER,
        acknowledged_before_outage=acked_before_outage,
        outage_seconds=round(down_for, 1),
        outage_answers=dict(outage),
        load_attempts=dict(result.attempts),
        commands_retried=result.retried(),
        acknowledged=len(result.acknowledged),
        stored_hours_events=len(stored_hours),
        stored_reflection_events=len(stored_reflections),
        lost=len(lost),
        duplicated=len(stored_hours) + len(stored_reflections) - len(result.acknowledged),
        other_5xx=result.attempt_5xx_other_than_503(),
        server_restarted=False,
        elapsed_s=round(result.elapsed, 1),
    )


def wait_until(cond, timeout: float, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)
