"""A LEDGER_DATABASE_URL with bytes that are not UTF-8 (the environment is bytes; Python hands
them on as surrogates) is one line from a command that checks for a ledger first, like any
other URL that does not open. `ledger verify` was a 57-line UnicodeEncodeError traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from cli.main import app as cli


def test_a_postgres_url_that_is_not_utf8_is_one_line() -> None:
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:5432/test\udcff"
    for args in (
        ["verify"],
        ["rebuild"],
        ["users", "deactivate", "00000000-0000-0000-0000-000000000001", "--reason", "r"],
    ):
        result = CliRunner().invoke(cli, args, env={"LEDGER_DATABASE_URL": url})
        assert isinstance(result.exception, SystemExit), (args, result.exception)
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: cannot reach the ledger at"), (
            args,
            result.output,
        )
        assert "s3cret-pw" not in result.output
