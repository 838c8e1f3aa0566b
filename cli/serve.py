"""`ledger serve`: the HTTP API under uvicorn; one ledger per process, one or more processes."""

from __future__ import annotations

import importlib
import importlib.util
import os

import typer

from cli.common import fail, ledger_app
from ledger.settings import get_settings

# Our subclass of uvicorn's protocol, httptools' where it is installed (h11 is pure Python: up
# to 1.7 ms more server CPU per GET in alternating runs). It answers a request its parser refuses
# in problem+json like every other refusal (api/http_protocol.py). A string, imported in each
# worker: with --workers the supervisor never imports the app (it held 90 MB of it).
HTTP = (
    "api.http_protocol:ProblemHttpToolsProtocol"
    if importlib.util.find_spec("httptools") is not None
    else "api.http_protocol:ProblemH11Protocol"
)

# On SIGTERM uvicorn waits for requests in flight to finish, without limit: a client trickling a
# request body (or holding one open half sent) kept a server running, one or two workers, for as
# long as it liked. Requests still running this long after the signal are cancelled.
SHUTDOWN_GRACE_SECONDS = 10


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    database_url: str | None = typer.Option(None, envvar="LEDGER_DATABASE_URL"),
    workers: int = typer.Option(
        1,
        min=1,
        max=32,
        help="Server processes sharing the port. Each has its own ledger; the store keeps them"
        " consistent (group commit, projection and checkpoint locks).",
    ),
    demo_if_empty: bool = typer.Option(
        False,
        "--demo-if-empty",
        help="On an empty store, build the demo school first (`ledger demo`).",
    ),
) -> None:
    """Serve the API (docs at http://HOST:PORT/docs)."""
    import uvicorn

    # Every setting is checked now, before a worker starts: a bad one is one line and exit 2
    # (cli/main.py), not a traceback from each worker's app.
    settings = get_settings()
    url = database_url or settings.database_url
    if demo_if_empty:
        # The demo lives in cli/demo.py; its `build_if_empty(database_url)` builds the school
        # when the store has no events and prints one token per role.
        try:
            demo = importlib.import_module("cli.demo")
            build_if_empty = demo.build_if_empty
        except (ImportError, AttributeError):
            fail("--demo-if-empty needs cli.demo.build_if_empty(database_url)")
        build_if_empty(url)
    else:
        # The store opens, or one line says why (as from every other command), before anything
        # says it serves: a URL that does not parse or a server that does not answer was
        # "serving the ledger at ...", a traceback from each worker, and exit 3 (0 with
        # --workers 2).
        with ledger_app(url):
            pass
    typer.echo(f"serving the ledger at http://{host}:{port} (docs: http://{host}:{port}/docs)")
    if workers == 1:
        from api import create_app

        api = create_app(url, checkpoint_seconds=10.0)
        uvicorn.run(
            api,
            host=host,
            port=port,
            log_level="warning",
            http=HTTP,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )
        return
    # Worker processes build their app from the environment (uvicorn imports the factory).
    os.environ["LEDGER_DATABASE_URL"] = url
    uvicorn.run(
        "api.app:served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        http=HTTP,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
