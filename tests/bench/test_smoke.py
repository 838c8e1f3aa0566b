"""`python -m bench --quick` end to end: every benchmark runs, measures its baseline, writes its
JSON. The figures themselves are not judged here (no timing assertions); docs/performance.md
quotes the full run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import require_postgres


def test_quick_bench_writes_every_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_postgres()
    monkeypatch.setattr("bench.common.RESULTS", tmp_path)
    from bench.__main__ import main

    assert main(["--quick"]) == 0
    throughput = json.loads((tmp_path / "throughput-quick.json").read_text())
    assert throughput["machine"]["cores"] >= 1
    assert throughput["recorder"] == "GroupCommitRecorder"
    assert [r["clients"] for r in throughput["results"]] == [1, 8]
    for r in throughput["results"]:
        assert r["raw_per_s"] > 0 and r["ledger_per_s"] > 0
        assert r["ratio"] == pytest.approx(r["ledger_per_s"] / r["raw_per_s"])
    history = json.loads((tmp_path / "history-quick.json").read_text())
    assert history["short_history_events"] == [10] * history["repetitions"]
    assert history["long_history_total"] == 1_000
    assert history["warm"]["ratio"] == pytest.approx(
        history["warm"]["long_ms"] / history["warm"]["short_ms"]
    )
    # Items 3-5 share one small district, built once in the run.
    bulk = json.loads((tmp_path / "bulk_import-quick.json").read_text())
    assert bulk["stored_events"] == bulk["district"]["events"] > 0
    assert bulk["ratio"] == pytest.approx(
        bulk["ledger"]["events_per_s"] / bulk["raw_copy"]["events_per_s"]
    )
    rebuild = json.loads((tmp_path / "rebuild-quick.json").read_text())
    assert rebuild["events"] == bulk["stored_events"]
    assert rebuild["memory"][-1]["events"] == rebuild["events"]
    reads = json.loads((tmp_path / "api_reads-quick.json").read_text())
    assert set(reads["median_of_repetitions"]) == {
        "healthz",
        "transcript",
        "mastery",
        "transcript_as_of",
    }
    assert reads["server"]["peak_rss_mb"] > 0
