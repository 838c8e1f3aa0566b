"""Bench 5: API reads under load: a real `ledger serve` process over the district's store, 8 client
processes over loopback, latency of GET transcript, GET mastery and GET transcript as of a past
instant for random students, against GET /healthz on the same server in the same run.

Each repetition runs a /healthz phase, then a reads phase (each thread cycling transcript, mastery,
as-of transcript for students drawn at random), 8 client processes each with its own keep-alive
connection (processes, not threads: clients queueing behind one interpreter lock measured the
client, not the server). p50 and p99 per repetition; the figures are medians over 5 repetitions (3
for --quick), the pooled percentiles are in the JSON too. The server's peak RSS is its VmHWM, read
from /proc before it is stopped. The projections are caught up before the server starts, so its
start is not a catch-up. Everything is bounded: a fixed number of requests, client timeouts, a
start deadline, and the server is terminated (then killed) at the end.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.sql import SQL, Identifier

from bench import district
from bench.common import POSTGRES_URL, show, write_result
from cli.demo_school import FIRST_DAY, YEAR_END
from ledger.domain import Role
from projections import ReadModels

CLIENTS = 8
TARGET_P99_MS = 20.0
TARGET_AS_OF_P99_MS = 100.0
TARGET_RSS_MB = 300.0
START_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 30.0
KINDS = ("transcript", "mastery", "transcript_as_of")
# Server processes measured, one after the other (the figures are for one process; two
# show what the machine's second core buys).
WORKERS = (1, 2)


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _ledger_command() -> list[str]:
    script = Path(sys.executable).parent / "ledger"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cli.main import main; main()"]


def _tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's workers are children of its supervisor)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            children = (task / "children").read_text().split() if task.exists() else []
            todo.extend(int(c) for c in children)
    return out


class Server:
    def __init__(self, url: str, log: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "LEDGER_DATABASE_URL": url}
        self.log = log.open("wb")
        # Our own console script with fixed arguments; nothing here comes from outside.
        self.proc = subprocess.Popen(  # noqa: S603
            [
                *_ledger_command(),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
        )

    def wait_ready(self) -> float:
        began = time.monotonic()
        while time.monotonic() - began < START_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ledger serve exited with {self.proc.returncode}")
            try:
                if httpx.get(self.base + "/healthz", timeout=1.0).status_code == 200:
                    return time.monotonic() - began
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"ledger serve did not answer /healthz within {START_TIMEOUT_S} s")

    def memory_mb(self) -> dict[str, float]:
        pids = _tree(self.proc.pid)
        return {
            "peak_rss_mb": sum(rss_kb(p, "VmHWM") for p in pids) / 1e3,
            "rss_mb": sum(rss_kb(p, "VmRSS") for p in pids) / 1e3,
            "processes": len(pids),
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.log.close()


def _as_of(rng: random.Random) -> str:
    start = datetime.combine(FIRST_DAY, datetime.min.time(), UTC)
    span = (datetime.combine(YEAR_END, datetime.min.time(), UTC) - start).total_seconds()
    return (start + timedelta(seconds=rng.uniform(0, span))).isoformat()


def _client(
    port: int,
    token: str,
    students: list[str],
    plan: list[tuple[int, bool, int]],
    start: Any,
    results: Any,
) -> None:
    """One client: its own process (so clients never queue behind each other's interpreter
    lock) and one keep-alive connection, stdlib http.client (a fraction of httpx's CPU per
    request, so the client side adds little to what is measured). It runs every phase of the
    plan, (rounds, healthz?, seed) each, all clients starting each phase together."""
    headers = {"Authorization": f"Bearer {token}"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    for index, (rounds, healthz, seed) in enumerate(plan):
        rng = random.Random(seed)
        mine: dict[str, list[float]] = {}
        errors: list[str] = []
        try:
            start.wait(timeout=REQUEST_TIMEOUT_S)
            _warm(conn)
            for _ in range(rounds):
                if healthz:
                    requests = [("healthz", "/healthz")]
                else:
                    sid = rng.choice(students)
                    as_of = urllib.parse.urlencode({"as_of": _as_of(rng)})
                    requests = [
                        ("transcript", f"/v1/students/{sid}/transcript"),
                        ("mastery", f"/v1/students/{sid}/mastery"),
                        ("transcript_as_of", f"/v1/students/{sid}/transcript?{as_of}"),
                    ]
                for kind, path in requests:
                    began = time.perf_counter()
                    conn.request("GET", path, headers=headers)
                    r = conn.getresponse()
                    body = r.read()
                    ms = (time.perf_counter() - began) * 1e3
                    if r.status != 200 or not body:
                        errors.append(f"{kind} {r.status}")
                        continue
                    mine.setdefault(kind, []).append(ms)
        except Exception as e:  # reported to the parent, which fails the benchmark
            errors.append(f"{type(e).__name__}: {e}")
        results.put((index, mine, errors))
        if errors:
            break  # the parent fails the run; the other clients time out at the barrier
    conn.close()


def _warm(conn: http.client.HTTPConnection) -> None:
    """One untimed request before each phase: it opens the keep-alive connection, or opens it
    again if the server closed it while the client waited at the barrier (uvicorn closes an
    idle keep-alive connection after 5 s)."""
    for attempt in (1, 2):
        try:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except (http.client.RemoteDisconnected, ConnectionError):
            conn.close()
            if attempt == 2:
                raise


def _phases(
    port: int, token: str, students: list[str], plan: list[tuple[int, bool, int]]
) -> list[dict[str, list[float]]]:
    """CLIENTS client processes, started once, run the plan; per phase and kind, every
    request's latency in ms."""
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(CLIENTS), ctx.Queue()
    procs = [
        ctx.Process(
            target=_client,
            args=(port, token, students, [(r, h, s * 100 + n) for r, h, s in plan], start, results),
            daemon=True,
        )
        for n in range(CLIENTS)
    ]
    for p in procs:
        p.start()
    out: list[dict[str, list[float]]] = [{} for _ in plan]
    errors: list[str] = []
    try:
        for _ in range(CLIENTS * len(plan)):
            index, mine, errs = results.get(timeout=600)
            errors += errs
            if errors:
                break
            for kind, samples in mine.items():
                out[index].setdefault(kind, []).extend(samples)
    finally:
        for p in procs:
            p.join(timeout=5 if errors else 30)
            if p.is_alive():
                p.kill()
    if errors:
        raise RuntimeError(f"API reads failed: {errors[:5]} ({len(errors)} errors)")
    return out


def _measure(
    d: Any,
    token: str,
    students: list[str],
    workers: int,
    repetitions: int,
    health_rounds: int,
    read_rounds: int,
) -> dict[str, Any]:
    """The phases, ``repetitions`` times, against one `ledger serve --workers N`."""
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(d.url, Path(tmp) / "serve.log", workers)
        try:
            start_s = server.wait_ready()
            plan = []
            for n in range(repetitions):
                plan += [(health_rounds, True, n), (read_rounds, False, n)]
            try:
                phases = _phases(server.port, token, students, plan)
            except RuntimeError:
                # The server's own account of a failed run (its log is in a temporary folder).
                server.log.flush()
                tail = (Path(tmp) / "serve.log").read_text(errors="replace").splitlines()[-30:]
                print("\n".join(["ledger serve's log, last lines:", *tail]), file=sys.stderr)
                raise
            reps = [{**phases[2 * n], **phases[2 * n + 1]} for n in range(repetitions)]
            memory = server.memory_mb()
        finally:
            server.stop()
    kinds = ("healthz", *KINDS)
    per_rep = {
        k: {
            "p50_ms": [percentile(r[k], 50) for r in reps],
            "p99_ms": [percentile(r[k], 99) for r in reps],
            "requests": [len(r[k]) for r in reps],
        }
        for k in kinds
    }
    return {
        "workers": workers,
        "median_of_repetitions": {
            k: {q: sorted(v[q])[len(v[q]) // 2] for q in ("p50_ms", "p99_ms")}
            for k, v in per_rep.items()
        },
        "pooled": {
            k: {
                "p50_ms": percentile([x for r in reps for x in r[k]], 50),
                "p99_ms": percentile([x for r in reps for x in r[k]], 99),
            }
            for k in kinds
        },
        "per_repetition": per_rep,
        "server": {
            **memory,
            "start_seconds": start_s,
            "command": f"ledger serve --host 127.0.0.1 --port <free port> --workers {workers}",
        },
    }


def vacuum_analyze(schema: str) -> float:
    """VACUUM (ANALYZE) the district's tables, the usual step after a bulk load: it gives the
    planner statistics and marks pages all-visible, and it keeps autovacuum from doing the same
    work over a million fresh rows while the server is being measured."""
    began = time.perf_counter()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
        for (table,) in tables:
            conn.execute(SQL("VACUUM (ANALYZE) {}").format(Identifier(schema, table)))
    return time.perf_counter() - began


def run(quick: bool) -> dict[str, Any]:
    d = district.district(quick)
    repetitions = 3 if quick else 5
    health_rounds, read_rounds = (10, 4) if quick else (150, 50)
    rm = ReadModels(d.app)
    try:
        began, before = time.perf_counter(), rm.position()
        # A freshly bulk-loaded store is rebuilt, as docs/performance.md advises after a bulk load
        # (a catch-up from nothing takes several times longer); otherwise bench 4 left the
        # views current and this is a catch-up of nothing.
        if before == 0:
            catch_up = {"from_position": 0, "to_position": rm.rebuild()["position"]}
        else:
            catch_up = {"from_position": before, "to_position": rm.catch_up()}
        catch_up["seconds"] = time.perf_counter() - began
    finally:
        rm.close()
    catch_up["vacuum_analyze_seconds"] = vacuum_analyze(d.schema)
    token = d.summary.logins[Role.REGISTRAR].token
    students = [str(s) for s in d.student_ids]
    runs = {
        workers: _measure(d, token, students, workers, repetitions, health_rounds, read_rounds)
        for workers in WORKERS
    }
    one = runs[1]
    med, memory = one["median_of_repetitions"], one["server"]
    base = med["healthz"]
    targets = {"transcript": TARGET_P99_MS, "mastery": TARGET_P99_MS}
    targets["transcript_as_of"] = TARGET_AS_OF_P99_MS
    kinds = ("healthz", *KINDS)
    for workers, r in runs.items():
        m, b = r["median_of_repetitions"], r["median_of_repetitions"]["healthz"]
        show(
            f"bench 5: API reads, {CLIENTS} clients over loopback, {d.events:,} events,"
            f" ledger serve --workers {workers}, median of {repetitions}",
            ["GET", "p50 ms", "p99 ms", "p99 / healthz p99", "target p99", "met"],
            [
                [
                    k,
                    f"{m[k]['p50_ms']:.2f}",
                    f"{m[k]['p99_ms']:.2f}",
                    f"{m[k]['p99_ms'] / b['p99_ms']:.1f}",
                    f"<= {targets[k]:.0f} ms" if k in targets else "baseline",
                    ("yes" if m[k]["p99_ms"] <= targets[k] else "no") if k in targets else "",
                ]
                for k in kinds
            ],
        )
    show(
        "bench 5: server memory (all of its processes)",
        ["workers", "peak RSS MB (sum of VmHWM)", "RSS at end MB", "target", "start s"],
        [
            [
                str(workers),
                f"{r['server']['peak_rss_mb']:.0f}",
                f"{r['server']['rss_mb']:.0f}",
                f"<= {TARGET_RSS_MB:.0f}",
                f"{r['server']['start_seconds']:.1f}",
            ]
            for workers, r in runs.items()
        ],
    )
    payload = {
        "district": d.describe(),
        "events": d.events,
        "clients": CLIENTS,
        "repetitions": repetitions,
        "requests_per_client_per_repetition": {"healthz": health_rounds, "reads": read_rounds},
        "median_of_repetitions": med,
        "pooled": one["pooled"],
        "per_repetition": one["per_repetition"],
        "p99_over_healthz_p99": {k: med[k]["p99_ms"] / base["p99_ms"] for k in KINDS},
        "targets_p99_ms": targets,
        "targets_met": {k: med[k]["p99_ms"] <= t for k, t in targets.items()},
        "server": {
            **memory,
            "target_peak_rss_mb": TARGET_RSS_MB,
            "target_met": memory["peak_rss_mb"] <= TARGET_RSS_MB,
            "projections_caught_up_before_start": catch_up,
        },
        # The same phases against `ledger serve --workers N` (N > 1): the figures above are N = 1.
        "by_workers": {str(w): r for w, r in runs.items()},
    }
    write_result(district.result_name("api_reads", quick), payload)
    return payload
