"""`ledger checkpoint`, `ledger verify`, `ledger proof`, `ledger verify-proof FILE` and
`ledger keys init|public`: tamper evidence from the command line (docs/integrity.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import structlog
import typer

from cli.common import fail, ledger_app
from ledger.errors import LedgerError
from ledger.integrity import keys as keyfile
from ledger.integrity.bundle import verify_bundle
from ledger.settings import get_settings

integrity = typer.Typer()
keys = typer.Typer(help="The school's Ed25519 checkpoint signing key.", no_args_is_help=True)
integrity.add_typer(keys, name="keys")

DB = typer.Option(None, "--database-url", envvar="LEDGER_DATABASE_URL")
AS_JSON = typer.Option(False, "--json", help="Print the result as JSON.")


class _Stderr:
    """Whatever sys.stderr is at each write (the test runner swaps it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _logs_to_stderr() -> None:
    """Keep stdout for results (``--json``): unconfigured structlog would print there."""
    if not structlog.is_configured():
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=_Stderr()))


def _key_path(path: Path | None) -> Path:
    return path or get_settings().signing_key_path


def _public_key(path: Path | None):
    if path is None:
        return None
    try:
        return keyfile.load_public_key(path.read_bytes())
    except OSError as e:
        fail(f"cannot read the public key {path}: {e.strerror}")


@integrity.command("checkpoint")
def checkpoint_cmd(database_url: str | None = DB, as_json: bool = AS_JSON) -> None:
    """Sign a checkpoint (tree size and root) over every event stored now."""
    from ledger.integrity.checkpoints import checkpoint

    _logs_to_stderr()
    with ledger_app(database_url, must_exist=True) as app:
        cp, made = checkpoint(app)
    if as_json:
        typer.echo(json.dumps({"made": made, "checkpoint": cp.to_dict() if cp else None}))
    elif cp is None:
        typer.echo("the log is empty: nothing to checkpoint")
    else:
        typer.echo(("signed " if made else "no new events since ") + cp.label())


@integrity.command("verify")
def verify_cmd(
    public_key: Path | None = typer.Option(
        None, "--public-key", help="PEM public key to check against (default: the signing key's)."
    ),
    database_url: str | None = DB,
    as_json: bool = AS_JSON,
) -> None:
    """Recompute the Merkle tree from the stored events and check it against every checkpoint.
    Exits 1 and names the first event that differs when the log was changed."""
    from ledger.integrity.verify import verify_ledger

    pub = _public_key(public_key)
    with ledger_app(database_url, must_exist=True) as app:
        report = verify_ledger(app, public_key=pub)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), default=str))
    else:
        typer.echo(("ok: " if report.ok else "FAILED: ") + report.message)
        for warning in report.warnings:
            typer.echo(f"warning: {warning}", err=True)
    if not report.ok:
        raise typer.Exit(1)


@integrity.command("proof")
def proof_cmd(
    credit_id: str = typer.Argument(..., help="The credit whose lineage to prove."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the bundle here."),
    database_url: str | None = DB,
) -> None:
    """Write the proof bundle for a credit: its lineage's events with inclusion proofs against
    the latest checkpoint (taking one first when needed)."""
    from ledger.integrity.proofs import credit_proof
    from projections import ReadModels

    _logs_to_stderr()
    with ledger_app(database_url, must_exist=True) as app:
        rm = ReadModels(app)
        try:
            rm.catch_up()
            lineage = rm.lineage(credit_id)
        finally:
            rm.close()
        if lineage is None:
            fail(f"credit {credit_id} does not exist")
        bundle = credit_proof(app, lineage, credit_id=credit_id)
    text = json.dumps(bundle, indent=2, default=str)
    if out is None:
        typer.echo(text)
    else:
        _write(out, text + "\n")
        typer.echo(f"wrote {out}: {len(bundle['events'])} events", err=True)


@integrity.command("verify-proof")
def verify_proof_cmd(
    file: Path = typer.Argument(..., help="A proof bundle (JSON)."),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="The school's public key (PEM), from a source you trust."
    ),
    as_json: bool = AS_JSON,
) -> None:
    """Check a proof bundle offline: no database, only the bundle and the public key."""
    try:
        bundle = json.loads(file.read_text())
    except OSError as e:
        fail(f"cannot read {file}: {e.strerror}")
    except ValueError as e:
        fail(f"{file} is not JSON: {e}")
    pem = None
    if public_key is not None:
        try:
            pem = public_key.read_bytes()
        except OSError as e:
            fail(f"cannot read the public key {public_key}: {e.strerror}")
    try:
        result = verify_bundle(bundle, pem)
    except LedgerError as e:
        fail(f"{e.code}: {e.detail}")
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"ok: {result['message']}")
    if pem is None:
        typer.echo(
            "warning: checked with the key inside the bundle; pass --public-key to check it "
            "against the school's key",
            err=True,
        )


@keys.command("init")
def keys_init(
    path: Path | None = typer.Option(None, "--path", help="Default: LEDGER_SIGNING_KEY_PATH."),
) -> None:
    """Create the school's signing key (refuses to replace an existing one)."""
    target = _key_path(path)
    if target.exists():
        fail(f"{target} already exists; a new key would orphan every checkpoint it signed")
    try:
        key = keyfile.create_key(target)
    except OSError as e:
        fail(f"cannot write {target}: {e.strerror}")
    typer.echo(f"created {target} (key id {keyfile.key_id(key)})")


@keys.command("public")
def keys_public(
    path: Path | None = typer.Option(None, "--path", help="Default: LEDGER_SIGNING_KEY_PATH."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the PEM here."),
) -> None:
    """Print the public key (PEM) that auditors use to check checkpoints and proofs."""
    try:
        key = keyfile.load_private_key(_key_path(path))
    except LedgerError as e:
        fail(e.detail)
    pem = keyfile.public_key_pem(key)
    if out is None:
        typer.echo(pem, nl=False)
    else:
        _write(out, pem)
        typer.echo(f"wrote {out} (key id {keyfile.key_id(key)})", err=True)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as e:
        fail(f"cannot write {path}: {e.strerror}")
