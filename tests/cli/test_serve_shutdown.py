"""`ledger serve` stops on SIGTERM even while a client trickles a request body. Idle connections
and trickled heads never held it (a shutdown closes a connection with no request in flight), but
a request whose body was still arriving was waited for without limit: with one or two workers,
still serving a minute after SIGTERM, for as long as the client kept the body coming or simply
kept the connection open."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.cli.test_serve_workers import ROOT, _free_port

# How long the test waits for the server to stop: far beyond its grace period, so that only a
# server that never stops (not a slow machine) fails.
PATIENCE = 60.0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_stops_a_server_whose_client_trickles_a_body(
    sqlite_url: str, tmp_path: Path, workers: str
) -> None:
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
        [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", workers],
        env={**os.environ, "LEDGER_DATABASE_URL": sqlite_url},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + PATIENCE
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "ledger serve did not start"
            time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as sock:
            sock.sendall(
                b"POST /v1/students HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            # The server asks for the body once the app reads it: the request is in flight.
            assert sock.recv(1024).startswith(b"HTTP/1.1 100 "), "the app never read the body"
            sock.sendall(b"{")
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=PATIENCE)
            except subprocess.TimeoutExpired:
                pytest.fail("ledger serve was still running a minute after SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
        log.close()
