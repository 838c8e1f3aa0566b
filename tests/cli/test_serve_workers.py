"""`ledger serve --workers 2`, on both stores: worker processes share the port and the store, and
a change made by another process is seen by whichever worker answers next."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import httpx

from ledger.application import LedgerApplication, system_actor
from tests.builders import School

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_serve_one_ledger(store_url: str, tmp_path: Path) -> None:
    with LedgerApplication(database_url=store_url) as app:
        school = School.build(app)
        _, token = app.issue_token(school.admin, UUID(school.advisor.user_id))
    port = _free_port()
    ledger = Path(sys.executable).parent / "ledger"
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
        [str(ledger), "serve", "--port", str(port), "--workers", "2"],
        env={**os.environ, "LEDGER_DATABASE_URL": store_url},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "ledger serve --workers 2 did not start"
            time.sleep(0.2)
        # New connections each time, so both workers answer some of them.
        for _ in range(10):
            r = httpx.get(base + "/v1/me", headers=headers, timeout=10)
            assert r.status_code == 200, r.text
            assert r.json()["role"] == "advisor"
        with LedgerApplication(database_url=store_url) as other:
            other.deactivate_user(system_actor(), UUID(school.advisor.user_id), "left")
        for _ in range(10):
            r = httpx.get(base + "/v1/me", headers=headers, timeout=10)
            assert r.status_code == 401, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()
