"""The HTTP protocol `ledger serve` runs, over a real socket: uvicorn with our httptools protocol
and the app on a SQLite store, in a thread. What a client that never finishes its request head
gets: a connection that sent nothing is closed, one that trickles a head gets a 408 in
problem+json, and a head that arrives in time is answered as usual."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ledger.settings import get_settings
from tests.reliability.load import read_until_closed
from tests.reliability.pg_instance import free_port

HEAD_TIMEOUT = 1.0


@contextmanager
def _serving(sqlite_url: str, protocol: type) -> Iterator[int]:
    """uvicorn with ``protocol`` and the app on ``sqlite_url``, in a thread; its port."""
    import uvicorn

    from api.app import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(sqlite_url),
        host="127.0.0.1",
        port=port,
        http=protocol,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline, "the server did not start"
        assert thread.is_alive(), "the server stopped while starting"
        time.sleep(0.05)
    try:
        yield port
    finally:
        uv.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def server(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    pytest.importorskip("httptools")
    from api.http_protocol import ProblemHttpToolsProtocol

    monkeypatch.setenv("LEDGER_HEAD_TIMEOUT_SECONDS", str(HEAD_TIMEOUT))
    get_settings.cache_clear()
    try:
        with _serving(sqlite_url, ProblemHttpToolsProtocol) as port:
            yield port
    finally:
        get_settings.cache_clear()


# How long a client here waits for the server before it gives up: far beyond the deadline, so
# that only a server that never closes (not a slow machine) makes a test fail.
PATIENCE = 60.0


def test_a_connection_that_sends_nothing_is_closed(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=PATIENCE) as sock:
        reply, closed = read_until_closed(sock)
    assert closed, "the server kept a silent connection open"
    assert reply == b""  # nothing was asked: nothing is answered


def test_a_head_trickled_past_the_deadline_gets_a_408(server: int) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 40
    with socket.create_connection(("127.0.0.1", server), timeout=PATIENCE) as sock:
        sent = 0
        try:
            # A byte every tenth of the deadline, so the whole head would take eight deadlines:
            # each read alone is prompt, the head as a whole is not.
            for byte in head:
                sock.sendall(bytes([byte]))
                sent += 1
                time.sleep(HEAD_TIMEOUT / 10)
        except OSError:  # refused and closed while we were still sending
            pass
        reply, closed = read_until_closed(sock)
    assert closed
    assert sent < len(head), "the server waited for the whole trickled head"
    top, _, body = reply.partition(b"\r\n\r\n")
    assert top.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert b"content-type: application/problem+json" in top.lower()
    assert json.loads(body)["status"] == 408


def test_a_slow_head_that_completes_in_time_is_answered(server: int) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server), timeout=PATIENCE) as sock:
        for at in range(0, len(head), 8):
            sock.sendall(head[at : at + 8])
            time.sleep(HEAD_TIMEOUT / 40)
        reply, closed = read_until_closed(sock)
    assert closed  # Connection: close
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]


def test_each_head_on_a_kept_alive_connection_has_its_own_deadline(server: int) -> None:
    """Requests answered one after another on one connection, for longer in all than one
    deadline: the clock runs only while a head is arriving, not for the connection's life."""
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server), timeout=PATIENCE) as sock:
        answered = 0
        while answered < 8:  # 8 pauses of a quarter deadline: twice the deadline in all
            sock.sendall(request)
            reply = b""
            while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
                chunk = sock.recv(65536)
                assert chunk, "the server closed a connection whose heads came in time"
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]
            answered += 1
            time.sleep(HEAD_TIMEOUT / 4)


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_a_request_the_parser_refuses_is_a_problem_json_400(sqlite_url: str, parser: str) -> None:
    """Both protocols `ledger serve` may run (h11 where httptools is not installed) answer a
    head their parser cannot take in our shape, not uvicorn's plain text."""
    from api import http_protocol

    if parser == "httptools":
        pytest.importorskip("httptools")
        protocol = http_protocol.ProblemHttpToolsProtocol
    else:
        protocol = http_protocol.ProblemH11Protocol
    bad = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad\x01Name: y\r\n\r\n"
    with (
        _serving(sqlite_url, protocol) as port,
        socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as sock,
    ):
        sock.sendall(bad)
        reply, closed = read_until_closed(sock)
    assert closed
    top, _, body = reply.partition(b"\r\n\r\n")
    assert top.startswith(b"HTTP/1.1 400 "), reply[:200]
    assert b"content-type: application/problem+json" in top.lower()
    assert json.loads(body)["status"] == 400
