"""A projector process killed (SIGKILL) in the middle of a batch: the next one resumes from the
last committed batch and applies no event twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from projections import ReadModels
from tests.builders import School
from tests.projections.history import SEED, RandomSchool

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ledger.application import LedgerApplication
    from projections import ReadModels

    url, marker = sys.argv[1], Path(sys.argv[2])
    rm = ReadModels(LedgerApplication(database_url=url), batch_size=15)
    seen = []

    def stall(row):
        seen.append(row)
        if len(seen) == 22:  # a later batch, part-applied
            marker.write_text("stalled")
            time.sleep(120)

    rm.fault_hook = stall
    rm.catch_up()
    """
)


def test_killed_mid_batch_resumes_exactly_once(app, store_url, tmp_path):
    rm = ReadModels(app, batch_size=15)
    try:
        school = RandomSchool(School.build(app), rm)
        for op in SEED:
            school.run(*op)
        marker = tmp_path / "stalled"
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", CHILD, store_url, str(marker)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            for _ in range(600):
                if marker.exists() or child.poll() is not None:
                    break
                time.sleep(0.05)
            assert marker.exists(), "the child never reached the middle of a batch"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        # The first batch committed; the second died with the child, tracking row and all.
        first_batch = rm.position()
        assert 0 < first_batch < app.recorder.max_notification_id()
        committed = sorted(r[0] for r in rm.dump()["view_audit"])
        up_to = app.recorder.select_notifications(None, 10_000, stop=first_batch)
        assert committed == [n.id for n in up_to]
        rm.catch_up()
        resumed = rm.dump()
        positions = [r[0] for r in resumed["view_audit"]]
        assert len(positions) == len(set(positions))
        assert rm.position() == app.recorder.max_notification_id() > first_batch
        rm.rebuild()
        assert rm.dump() == resumed
    finally:
        rm.close()
