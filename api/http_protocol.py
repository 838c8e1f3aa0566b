"""The HTTP/1.1 protocol `ledger serve` runs: uvicorn's httptools one, with its own refusals in
our shape.

A request the parser cannot take (a control character in a header, a bad request line) never
reaches the app: uvicorn answers it with a plain-text 400 itself. Every error the API answers is
problem+json (api/problems.py), so that one is too. The message stays generic: what the parser
saw is the client's junk, not ours to echo.

httptools, not h11: h11 is pure Python, and on a GET transcript it cost about a third of the
server's CPU per request (sending the response, mostly). The h11 subclass stays for a platform
without httptools (``cli/serve.py`` picks).
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

_BODY = json.dumps(
    {
        "type": PROBLEM_BASE + "bad-request",
        "title": "Bad request",
        "status": 400,
        "detail": "the request is not valid HTTP/1.1 (a control character in a header, say)",
        "instance": "",
    }
).encode()
_HEADERS = [
    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
    (b"content-length", str(len(_BODY)).encode()),
    (b"connection", b"close"),
]


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        self.transport.write(
            self.conn.send(h11.Response(status_code=400, headers=_HEADERS, reason=b"Bad Request"))
        )
        self.transport.write(self.conn.send(h11.Data(data=_BODY)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # no httptools on this platform
    HttpToolsProtocol = None  # type: ignore[assignment, misc]
else:

    class ProblemHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            head = [b"HTTP/1.1 400 Bad Request\r\n"]
            for name, value in [*self.server_state.default_headers, *_HEADERS]:
                head += [name, b": ", value, b"\r\n"]
            self.transport.write(b"".join([*head, b"\r\n", _BODY]))
            self.transport.close()
