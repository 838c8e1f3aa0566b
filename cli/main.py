"""The `ledger` command. Each area adds its commands from its own module."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

try:  # typer >= 0.20 carries its own copy of click; older releases use click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_errors

from cli.demo import demo
from cli.exports import exports
from cli.imports import imports
from cli.integrity import integrity
from cli.projections import projections
from cli.serve import serve
from cli.users import users
from ledger.settings import get_settings

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


@app.callback()
def _settings_first() -> None:
    # Every setting is read before any command runs (a bad one: ValidationError, one line and
    # exit 2 in main()). Commands read them lazily, and with LEDGER_DATABASE_URL set most never
    # did before writing: `users add` wrote and exited 0, `demo` built a school and then failed.
    # Help is no use of the settings, so it is answered whatever they hold.
    # (click has handed the subcommand its arguments by now; the command line still has them.)
    if "--help" not in sys.argv[1:]:
        get_settings()


def settings_problem(e: ValidationError) -> str:
    problems = []
    for err in e.errors():
        name = "LEDGER_" + "_".join(str(part) for part in err["loc"]).upper()
        problems.append(f"{name}: {err['msg']} (got {str(err.get('input'))[:40]!r})")
    return "; ".join(problems)


def main() -> None:
    # Usage errors too are one line on stderr (click's default is a boxed, multi-line report).
    try:
        code = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError as e:
        typer.echo(e.ctx.get_help())
        sys.exit(0)
    except click_errors.UsageError as e:
        where = e.ctx.command_path if e.ctx else "ledger"
        message = " ".join(e.format_message().split())
        typer.echo(f"error: {message} (see `{where} --help`)", err=True)
        sys.exit(e.exit_code)
    except ValidationError as e:
        # A LEDGER_* setting the environment got wrong (ledger/settings.py reads them all at
        # the first use): the setting and what is wrong with it, not pydantic's report.
        typer.echo(f"error: {settings_problem(e)}", err=True)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        typer.echo("error: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
