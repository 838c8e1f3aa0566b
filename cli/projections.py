"""`ledger project [--follow]` keeps the read models current; `ledger rebuild` replays them."""

from __future__ import annotations

import signal
import threading

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.common import fail, is_tty, ledger_app
from ledger.integrity.checkpoints import maybe_checkpoint
from projections import ReadModels
from projections.schema import PROJECTIONS

projections = typer.Typer()


@projections.command("project")
def project(
    follow: bool = typer.Option(
        False, "--follow", help="Keep projecting new events until stopped."
    ),
    poll_interval: float = typer.Option(
        0.5, "--poll-interval", min=0.01, help="Seconds between polls of the log when following."
    ),
    batch_size: int = typer.Option(1000, min=1, max=20000, help="Events per transaction."),
    database_url: str | None = typer.Option(None, envvar="LEDGER_DATABASE_URL"),
) -> None:
    """Apply every event not yet projected; with --follow, keep doing it (polling the log)."""
    with ledger_app(database_url, must_exist=True) as app:
        rm = ReadModels(app, batch_size=batch_size)
        try:
            start = rm.position()
            position = rm.catch_up()
            typer.echo(f"projected to position {position} ({position - start} ids advanced)")
            if follow:
                stop = threading.Event()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, lambda *_: stop.set())
                typer.echo(f"following the log every {poll_interval}s; Ctrl-C stops", err=True)
                rm.follow(stop, poll_interval, after_batch=lambda: maybe_checkpoint(app))
                typer.echo(f"stopped at position {rm.position()}")
        finally:
            rm.close()


@projections.command("rebuild")
def rebuild(
    name: str | None = typer.Argument(
        None, help=f"One of: {', '.join(PROJECTIONS)} (default all)."
    ),
    batch_size: int = typer.Option(2000, min=1, max=20000, help="Events per transaction."),
    database_url: str | None = typer.Option(None, envvar="LEDGER_DATABASE_URL"),
) -> None:
    """Drop a projection's view tables and replay the whole log into them."""
    if name is not None and name not in PROJECTIONS:
        fail(f"unknown projection {name!r}; one of {', '.join(PROJECTIONS)}")
    with ledger_app(database_url, must_exist=True) as app:
        rm = ReadModels(app, batch_size=batch_size)
        try:
            head = app.recorder.max_notification_id() or 0
            with Progress(
                TextColumn("rebuilding {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                disable=not is_tty(),
                transient=False,
            ) as bar:
                task = bar.add_task(name or "all", total=head)
                summary = rm.rebuild(name, lambda _n, pos: bar.update(task, completed=pos))
        finally:
            rm.close()
    rate = summary["events_per_second"]
    typer.echo(
        f"rebuilt {', '.join(summary['projections'])}: {summary['events']} events to position "
        f"{summary['position']} in {summary['seconds']}s" + (f" ({rate} events/s)" if rate else "")
    )
