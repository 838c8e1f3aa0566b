"""`ledger users add`: a user and their first token, printed once; `ledger users deactivate`:
every token of a user stops working."""

from __future__ import annotations

from uuid import UUID

import typer

from cli.common import fail, ledger_app
from ledger.application import system_actor
from ledger.domain import Role

users = typer.Typer(help="Users and their bearer tokens.", no_args_is_help=True)

ROLES = [str(r) for r in Role if r is not Role.SYSTEM]


@users.command("add")
def add(
    role: str = typer.Option(..., help=f"One of: {', '.join(ROLES)}"),
    name: str = typer.Option(..., help="Display name (never logged)."),
    student: str | None = typer.Option(
        None, help="Required for, and only for, --role student: the student record they are."
    ),
    database_url: str | None = typer.Option(None, envvar="LEDGER_DATABASE_URL"),
) -> None:
    """Create a user and print their bearer token. The token is shown only this once."""
    if role not in ROLES:
        fail(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    student_id = None
    if student is not None:
        try:
            student_id = UUID(student)
        except ValueError:
            fail(f"--student must be a student id (UUID), not {student!r}")
    with ledger_app(database_url) as app:
        result, token = app.add_user(
            system_actor(), role=Role(role), name=name, student_id=student_id
        )
    typer.echo(f"user {result.id} ({role})")
    typer.echo(f"token {token}")


@users.command("deactivate")
def deactivate(
    user_id: str = typer.Argument(..., help="The user's id (UUID)."),
    reason: str = typer.Option(..., help="Why (recorded on the event; required)."),
    database_url: str | None = typer.Option(None, envvar="LEDGER_DATABASE_URL"),
) -> None:
    """Deactivate a user: every token they hold answers 401 from now on."""
    try:
        uid = UUID(user_id)
    except ValueError:
        fail(f"USER_ID must be a user id (UUID), not {user_id!r}", code=2)  # a usage error
    if not reason.strip():
        fail("--reason must not be empty", code=2)
    with ledger_app(database_url, must_exist=True) as app:
        result = app.deactivate_user(system_actor(), uid, reason)
    typer.echo(f"user {result.id} deactivated")
