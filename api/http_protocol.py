"""The HTTP/1.1 protocol `ledger serve` runs: uvicorn's h11 one, with its own refusals in our shape.

A request h11 cannot parse (a NUL, vertical tab, form feed or bare CR in a header value, a control
character in a header name, a bad request line) never reaches the app: uvicorn answers it with a
plain-text 400 itself. Every error the API answers is problem+json (api/problems.py), so that one
is too. The message stays generic: what the parser saw is the client's junk, not ours to echo.
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


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(_BODY)).encode()),
            (b"connection", b"close"),
        ]
        self.transport.write(
            self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request"))
        )
        self.transport.write(self.conn.send(h11.Data(data=_BODY)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()
