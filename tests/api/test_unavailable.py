"""When the database stops answering, the API says 503 (problem+json, Retry-After), and
recovers when it answers again; an unexpected failure is a 500 that leaks nothing.

The outage is real: PostgreSQL is reached through a TCP relay the test cuts. (SQLite is a file
the process holds open; it has no outage of this kind, so the outage test is PostgreSQL's.)
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient

from api import create_app
from tests.api.conftest import Api


class Relay:
    """Forwards 127.0.0.1:<port> to the database until cut."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        self.up = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        for s in self.open:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.open.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def relayed_url(postgres_url: str) -> Iterator[tuple[str, Relay]]:
    parsed = urlparse(postgres_url)
    relay = Relay(parsed.hostname or "127.0.0.1", parsed.port or 5432)
    netloc = f"{parsed.username or 'postgres'}@127.0.0.1:{relay.port}"
    url = parsed._replace(netloc=netloc).geturl() + "&connect_timeout=2"
    try:
        yield url, relay
    finally:
        relay.close()


def test_database_outage_is_503_then_recovers(relayed_url: tuple[str, Relay]) -> None:
    url, relay = relayed_url
    with TestClient(create_app(url)) as client:
        assert client.get("/readyz").status_code == 200
        relay.cut()
        r = client.get("/readyz")
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["Retry-After"].isdigit()
        assert r.json()["type"].endswith("/database-unavailable")
        assert client.get("/healthz").status_code == 200  # the process itself is up
        relay.restore()
        # A connection broken by the outage may fail one more query before it is replaced.
        statuses = [client.get("/readyz").status_code for _ in range(3)]
        assert statuses[-1] == 200, statuses
        assert set(statuses) <= {200, 503}


def test_an_unexpected_failure_is_a_bare_500(api: Api, capsys) -> None:
    def boom() -> None:
        raise RuntimeError("Zelda Quixote's record")

    api.client.app.add_api_route("/boom", boom)
    capsys.readouterr()
    r = TestClient(api.client.app).get("/boom")  # raise_server_exceptions on: nothing escapes
    assert r.status_code == 500
    assert r.json()["type"].endswith("/internal-error")
    assert "Zelda" not in r.text
    err = capsys.readouterr().err
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line.get("error_type") == "RuntimeError" for line in logged)
    assert "Zelda" not in err
