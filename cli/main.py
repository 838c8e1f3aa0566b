"""The `ledger` command. Each area adds its commands from its own module."""

from __future__ import annotations

import typer

from cli.demo import demo
from cli.exports import exports
from cli.imports import imports
from cli.integrity import integrity
from cli.projections import projections
from cli.serve import serve
from cli.users import users

app = typer.Typer(
    name="ledger",
    help="The competency ledger: work-based learning turned into credits a registrar can defend.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(users, name="users")
app.add_typer(imports, name="import")
app.add_typer(exports, name="export")
app.command("serve")(serve)
app.command("demo")(demo)
app.add_typer(projections)
app.add_typer(integrity)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
