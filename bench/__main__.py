"""``make bench`` = ``python -m bench [--quick] [--only NAME,...]``: runs the benchmarks of issue 8
against PostgreSQL (LEDGER_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test),
each in schemas of its own that it drops at the end, and writes bench/results/NAME.json."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from bench import history, throughput
from bench.common import console

BENCHMARKS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "throughput": throughput.run,
    "history": history.run,
}

# Issue 8 items 3-5 measure other areas' work; each gets a module here (a run(quick) -> dict like
# the two above) once the code it measures exists. Nothing is simulated meanwhile.
PENDING = {
    "import": "a generated district (>= 1M events) through the import path vs raw COPY;"
    " waits for ledger/imports' bulk path",
    "rebuild": "projection rebuild vs a raw ordered scan, memory flat;"
    " waits for projections' rebuild entry point",
    "api-reads": "GET transcript / mastery p50 and p99 from 8 clients vs /healthz;"
    " waits for the API server and a 1M-event store (from 'import')",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and fast")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {list(BENCHMARKS)}")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    for name in names:
        BENCHMARKS[name](args.quick)
    for name, why in PENDING.items():
        console.print(f"[yellow]not yet measured[/yellow] {name}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
