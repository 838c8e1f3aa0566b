"""The HTTP/1.1 protocol `ledger serve` runs: uvicorn's httptools one, with its own refusals in
our shape.

A request the parser cannot take (a control character in a header, a bad request line) never
reaches the app: uvicorn answers it with a plain-text 400 itself. Every error the API answers is
problem+json (api/problems.py), so that one is too. The message stays generic: what the parser
saw is the client's junk, not ours to echo.

httptools, not h11: h11 is pure Python; in a profile of GET transcript its parsing and sending
were about a fifth of the server's CPU. The h11 subclass stays for a platform without httptools
(``cli/serve.py`` picks).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE
from ledger.settings import get_settings

_BODY = json.dumps(
    {
        "type": PROBLEM_BASE + "bad-request",
        "title": "Bad request",
        "status": 400,
        "detail": "the request is not valid HTTP/1.1 (a control character in a header, say)",
        "instance": "",
    }
).encode()


def _problem_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """The headers of a refusal the protocol sends itself: problem+json, then the connection
    closes."""
    return [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]


_HEAD_TIMED_OUT = json.dumps(
    {
        "type": PROBLEM_BASE + "request-timeout",
        "title": "Request timeout",
        "status": 408,
        "detail": "the request's head (request line and headers) did not arrive in time",
        "instance": "",
    }
).encode()
_HEAD_TOO_LARGE = json.dumps(
    {
        "type": PROBLEM_BASE + "request-header-fields-too-large",
        "title": "Request header fields too large",
        "status": 431,
        "detail": "the request's head (request line and headers) is too large",
        "instance": "",
    }
).encode()


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        headers = _problem_headers(_BODY)
        response = h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
        self.transport.write(self.conn.send(response))
        self.transport.write(self.conn.send(h11.Data(data=_BODY)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # no httptools on this platform
    HttpToolsProtocol = None  # type: ignore[assignment, misc]
else:

    class ProblemHttpToolsProtocol(HttpToolsProtocol):
        """httptools buffers a request's head whatever its size (h11 stops at uvicorn's
        ``h11_max_incomplete_event_size``, 16 KiB): a 200 MB header was read whole into memory
        (500 MB peak) and answered. The bytes of a head still incomplete after a read are
        counted here, and past the same limit the request is refused with a 431.

        A read in which a head completes is not counted (the rest of it is body), nor one that
        begins a pipelined request's head after another's body: the count can fall short of a
        head by one read, never exceed it, so no head within the limit is refused.

        uvicorn also never times a head out: its keep-alive timer stops at a request's first
        byte and is not armed for a new connection, so a client sending a byte every few seconds
        (or nothing) held a connection and its buffers for as long as it liked. A head must now
        arrive whole within ``head_timeout_seconds`` of its first byte (of the connection's
        opening, for the first): a connection that sent nothing is closed, one that sent part of
        a head gets a problem+json 408 first."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = True  # the next bytes are a request line and headers
            self._heads_done = 0
            self._head_bytes = 0
            self._head_limit = self.config.h11_max_incomplete_event_size or 16 * 1024
            self._head_timeout = get_settings().head_timeout_seconds
            self._head_timer: asyncio.TimerHandle | None = None
            self._head_seen = False  # bytes of the awaited head have arrived

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            in_head, heads_done = self._in_head, self._heads_done
            if in_head:
                self._head_seen = True
                if self._head_timer is None:
                    self._arm_head_timer()
            super().data_received(data)
            if not (in_head and self._in_head and heads_done == self._heads_done):
                return
            self._head_bytes += len(data)
            if self._head_bytes > self._head_limit and not self.transport.is_closing():
                self._refuse(b"431 Request Header Fields Too Large", _HEAD_TOO_LARGE)

        def on_message_begin(self) -> None:
            # The parser met a head's first byte. data_received starts the clock for a read in
            # which a head is awaited; this one also covers a head that begins in the read that
            # finished the previous request (whose head had stopped the clock), which otherwise
            # waited for the next read, or got no 408 at all if none came.
            super().on_message_begin()
            self._head_seen = True
            if self._head_timer is None:
                self._arm_head_timer()

        def on_headers_complete(self) -> None:
            self._disarm_head_timer()
            self._head_seen = False
            self._in_head, self._head_bytes = False, 0
            self._heads_done += 1
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head = True

        def send_400_response(self, msg: str) -> None:
            self._refuse(b"400 Bad Request", _BODY)

        def _arm_head_timer(self) -> None:
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

        def _disarm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if not self._in_head or self.transport.is_closing():
                return
            if self.cycle is not None and not self.cycle.response_complete:
                # A pipelined head behind a request still being answered: that answer goes
                # out whole first, and this head's clock starts again.
                self._arm_head_timer()
                return
            if self._head_seen:
                self._refuse(b"408 Request Timeout", _HEAD_TIMED_OUT)
            else:
                self.transport.close()  # nothing was asked: nothing to answer

        def _refuse(self, status: bytes, body: bytes) -> None:
            head = [b"HTTP/1.1 ", status, b"\r\n"]
            for name, value in [*self.server_state.default_headers, *_problem_headers(body)]:
                head += [name, b": ", value, b"\r\n"]
            self.transport.write(b"".join([*head, b"\r\n", body]))
            self.transport.close()
