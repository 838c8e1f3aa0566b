"""`ledger project` and `ledger rebuild`, and the follow loop behind `--follow`."""

from __future__ import annotations

import threading

from typer.testing import CliRunner

from cli.main import app as cli
from projections import ReadModels
from tests.builders import School


def test_project_then_rebuild(app, store_url):
    s = School.build(app)
    s.enroll("CLI")
    head = app.recorder.max_notification_id()
    runner = CliRunner()
    done = runner.invoke(cli, ["project", "--database-url", store_url])
    assert done.exit_code == 0, done.output
    assert f"projected to position {head}" in done.output
    rebuilt = runner.invoke(cli, ["rebuild", "records", "--database-url", store_url])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"rebuilt records: {head} events to position {head}" in rebuilt.output
    wrong = runner.invoke(cli, ["rebuild", "nope", "--database-url", store_url])
    assert wrong.exit_code == 1
    assert wrong.output.strip().splitlines() == [
        "error: unknown projection 'nope'; one of audit, records"
    ]
    rm = ReadModels(app)
    try:
        assert rm.position() == head and rm.student(s.enroll("CLI2")[0]) is None
    finally:
        rm.close()


def test_follow_keeps_up_until_stopped(app):
    s = School.build(app)
    follower = ReadModels(app, batch_size=5)
    stop = threading.Event()
    worker = threading.Thread(target=follower.follow, args=(stop, 0.02))
    worker.start()
    try:
        sid, _ = s.enroll("FOLLOW")
        reader = ReadModels(app)
        try:
            # The reader never projects: it only waits for the follower to get there.
            head = app.recorder.max_notification_id()
            for _ in range(500):
                if reader.position() >= head:
                    break
                stop.wait(0.02)
            assert reader.position() >= head
            assert reader.student(sid)["local_id"] == "FOLLOW"
        finally:
            reader.close()
    finally:
        stop.set()
        worker.join(timeout=30)
        follower.close()
    assert not worker.is_alive()
