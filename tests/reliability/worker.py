"""`ledger project --follow` as a child process that a test can SIGKILL and start again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEDGER = Path(sys.executable).parent / "ledger"


class ProjectionWorker:
    def __init__(self, database_url: str, batch_size: int = 25, poll_interval: float = 0.05):
        self.args = [
            str(LEDGER),
            "project",
            "--follow",
            "--batch-size",
            str(batch_size),
            "--poll-interval",
            str(poll_interval),
            "--database-url",
            database_url,
        ]
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LEDGER_LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler, no flush, no rollback but the database's own."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def died_on_its_own(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            return f"exit {self.proc.returncode}: {err[-2000:]}"
        return None
