"""Fixtures of the fault-injection suite: a private PostgreSQL server and a ledger of figures.

Every test under this folder carries the ``reliability`` marker (added here too, so a module
that forgets it still stays out of ``make test``). The figures each test measures are printed
as they are taken and again in the terminal summary, and written to
``var/reliability-figures.json`` for docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.pg_instance import PrivatePostgres, postgres_bin

HERE = Path(__file__).resolve().parent
FIGURES_FILE = HERE.parents[1] / "var" / "reliability-figures.json"
_figures: dict[str, dict[str, Any]] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.reliability)


# Every loop here is bounded, and this is the last resort: a test that still runs after this
# many seconds is interrupted (its fixtures' clean-up still runs: servers stop, folders go).
TEST_TIMEOUT = int(os.environ.get("LEDGER_RELIABILITY_TEST_TIMEOUT", "900"))


class RanTooLong(Exception):
    pass


@pytest.fixture(autouse=True)
def _time_limit(request: pytest.FixtureRequest) -> Iterator[None]:
    def interrupt(signum: int, frame: Any) -> None:
        raise RanTooLong(f"{request.node.nodeid} ran past {TEST_TIMEOUT}s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class Figures:
    def __init__(self, test: str) -> None:
        self.test = test

    def record(self, **counts: Any) -> None:
        _figures.setdefault(self.test, {}).update(counts)
        shown = ", ".join(f"{k}={v}" for k, v in counts.items())
        print(f"\n[reliability] {self.test}: {shown}", flush=True)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    return Figures(request.node.name)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _figures:
        return
    terminalreporter.section("reliability figures")
    for test, counts in _figures.items():
        terminalreporter.write_line(test)
        for k, v in counts.items():
            terminalreporter.write_line(f"    {k}: {v}")
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] = {}
    if FIGURES_FILE.exists():
        try:
            previous = json.loads(FIGURES_FILE.read_text())
        except ValueError:
            previous = {}
    FIGURES_FILE.write_text(json.dumps({**previous, **_figures}, indent=2, default=str) + "\n")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this test's own, started; stopped and deleted afterwards."""
    bin_dir = postgres_bin()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        pytest.fail("no PostgreSQL server binaries found (set LEDGER_PG_BIN to their folder)")
    server = PrivatePostgres(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.close()
