"""``make bench`` = ``python -m bench [--quick] [--only NAME,...]``: runs the benchmarks of issue 8
against PostgreSQL (LEDGER_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test),
each in schemas of its own that it drops at the end, and writes bench/results/NAME.json."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from bench import api_reads, bulk_import, district, history, rebuild, throughput

# import, rebuild and api-reads share one generated district per run (bench/district.py).
BENCHMARKS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "throughput": throughput.run,
    "history": history.run,
    "import": bulk_import.run,
    "rebuild": rebuild.run,
    "api-reads": api_reads.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and fast")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {list(BENCHMARKS)}")
    parser.add_argument(
        "--students",
        type=int,
        default=None,
        help=f"size of the generated district for import, rebuild, api-reads (default"
        f" {district.FULL_STUDENTS:,}, about 550 events each; --quick: {district.QUICK_STUDENTS})",
    )
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    if args.students is not None and args.students < 2:
        parser.error("--students needs at least 2")
    district.configure(args.students)
    with district.session():
        for name in names:
            BENCHMARKS[name](args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
