"""The HTTP API as a real uvicorn server in a child process on a free loopback port.

A separate process is what a database restart must be survived by: the server keeps its
LedgerApplication (and its connection pool) across the outage, exactly as in production.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.reliability.pg_instance import free_port

ROOT = Path(__file__).resolve().parents[2]

RUNNER = """
import sys, uvicorn
from api.app import create_app
from cli.serve import HTTP  # the HTTP parser `ledger serve` uses
uvicorn.run(create_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), http=HTTP,
            log_level="warning", access_log=False, timeout_graceful_shutdown=5)
"""


class ApiServer:
    def __init__(self, database_url: str, start_timeout: float = 60) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix="ledger-reliability-api-", suffix=".log", delete=False
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LEDGER_LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, database_url, str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_up(start_timeout)

    def _wait_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the API server exited ({self.proc.returncode}):\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.close()
        raise RuntimeError(f"the API server did not answer /healthz in {timeout}s:\n{self.log()}")

    def log(self, lines: int = 40) -> str:
        try:
            return "\n".join(Path(self._log.name).read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)
