"""Command lines found to break the CLI, kept as regressions."""

from __future__ import annotations

from typer.testing import CliRunner

from cli.main import app as cli


def test_a_store_that_does_not_open_is_named_without_its_password():
    # The one-line error quoted the whole URL, password included, onto stderr.
    url = "postgresql://someone:s3cret-pw@127.0.0.1:1/nope?connect_timeout=1"
    result = CliRunner().invoke(
        cli, ["users", "add", "--role", "advisor", "--name", "X", "--database-url", url]
    )
    assert result.exit_code == 1
    assert "s3cret-pw" not in result.output
    assert "cannot open the ledger at postgresql://someone:***@127.0.0.1:1/nope" in result.output
    assert "Traceback" not in result.output


def test_a_schema_that_is_not_an_identifier_is_one_line_and_exit_1():
    url = "postgresql://postgres@127.0.0.1:5432/test?schema=a;drop"
    result = CliRunner().invoke(
        cli, ["users", "add", "--role", "advisor", "--name", "X", "--database-url", url]
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: the schema in a PostgreSQL URL is a plain identifier")
    assert len(result.output.strip().splitlines()) == 1
