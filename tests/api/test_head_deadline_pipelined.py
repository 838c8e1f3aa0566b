"""A request head that begins in the same read as the end of the request before it has a
deadline from that first byte, like any other head. Its clock was started only by the next read
(the read that finished the previous head had stopped it): a client that sent a request and the
first bytes of the next in one write, then nothing, got no 408, only uvicorn's keep-alive close
once the answer had gone; one that trickled the rest gained a read's worth of time."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from ledger.settings import get_settings
from tests.api.test_http_protocol import HEAD_TIMEOUT, PATIENCE, _serving
from tests.reliability.load import read_until_closed


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


def test_a_head_begun_in_the_read_that_ended_a_request_gets_its_408(server: int) -> None:
    first = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    begun = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a"
    with socket.create_connection(("127.0.0.1", server), timeout=PATIENCE) as sock:
        sock.sendall(first + begun)
        reply, closed = read_until_closed(sock)
    assert closed
    answered, _, rest = reply.partition(b'"ok"}')
    assert answered.startswith(b"HTTP/1.1 200 "), reply[:200]
    top, _, body = rest.partition(b"\r\n\r\n")
    assert top.startswith(b"HTTP/1.1 408 "), reply[-300:]
    assert b"content-type: application/problem+json" in top.lower()
    assert json.loads(body)["status"] == 408
