"""What every benchmark shares: a throwaway PostgreSQL schema, the machine's description, medians,
a table on the terminal and a JSON file under bench/results/."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

POSTGRES_URL = os.environ.get(
    "LEDGER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
RESULTS = Path(os.environ.get("LEDGER_BENCH_RESULTS", Path(__file__).resolve().parent / "results"))
console = Console(width=max(120, Console().width))


def with_schema(url: str, schema: str) -> str:
    return url + ("&" if "?" in url else "?") + f"schema={schema}"


@contextmanager
def pg_schema(prefix: str = "bench") -> Iterator[str]:
    """A schema that lives for one run: its name, created now and dropped at the end."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        pg = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
        }
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "postgresql": pg,
        "eventsourcing": metadata.version("eventsourcing"),
        "psycopg": metadata.version("psycopg"),
        # Shared machines: how busy it was, to read the figures by.
        "load_average_1_5_15": os.getloadavg(),
    }


def median_of(repetitions: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    samples = [measure() for _ in range(repetitions)]
    return statistics.median(samples), samples


def show(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for c in columns:
        table.add_column(c, justify="right" if c != columns[0] else "left")
    for r in rows:
        table.add_row(*(_cell(v) for v in r))
    console.print(table)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
    return str(v)


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    body = {
        "benchmark": name,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **payload,
    }
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")
    console.print(f"[dim]wrote {path}[/dim]")
    return path
