"""The served API signs a checkpoint by itself once checkpoint_interval events have arrived."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from api import create_app
from ledger.integrity.checkpoints import latest_checkpoint
from ledger.integrity.keys import ensure_key
from ledger.settings import get_settings
from tests.builders import School


def test_background_checkpoints(store_url, tmp_path, monkeypatch):
    key = tmp_path / "school.pem"
    monkeypatch.setenv("LEDGER_SIGNING_KEY_PATH", str(key))
    monkeypatch.setenv("LEDGER_CHECKPOINT_INTERVAL", "20")
    get_settings.cache_clear()
    try:
        ensure_key(key)
        with TestClient(create_app(store_url, checkpoint_seconds=0.05)) as client:
            app = client.app.state.ledger.app
            assert latest_checkpoint(app) is None
            school = School.build(app)
            for n in range(4):
                school.enroll(f"S{n}")  # 6 events each: past the interval of 20
            deadline = time.monotonic() + 20
            while (cp := latest_checkpoint(app)) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert cp is not None
            assert cp.tree_size >= 20
    finally:
        get_settings.cache_clear()
