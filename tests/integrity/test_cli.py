"""`ledger keys`, `ledger checkpoint`, `ledger verify`, `ledger proof` and `ledger verify-proof`."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from cli.main import app as cli
from ledger.application import LedgerApplication
from ledger.domain import EvidenceRef
from tests.builders import School
from tests.integrity.conftest import Tamper

runner = CliRunner()


@pytest.fixture(autouse=True)
def _structlog_as_found():
    yield
    structlog.reset_defaults()


def ledger(*args: str):
    return runner.invoke(cli, list(args))


def test_the_commands_from_key_to_offline_proof(
    app: LedgerApplication, store_url: str, key_path: Path, tmp_path: Path, tamper: Tamper
) -> None:
    school = School.build(app)
    sid, student = school.enroll("C1")
    rid = school.reflection(student, sid)
    cid = school.mastery_credit(sid, [school.judge(sid, [EvidenceRef("reflection", rid)])])
    db = ["--database-url", store_url]

    done = ledger("checkpoint", *db)
    assert done.exit_code == 1 and "ledger keys init" in done.output
    done = ledger("keys", "init")
    assert done.exit_code == 0 and key_path.exists(), done.output
    assert ledger("keys", "init").exit_code == 1  # never replaces the school's key
    pub = tmp_path / "school.pub.pem"
    assert ledger("keys", "public", "--out", str(pub)).exit_code == 0
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")

    done = ledger("checkpoint", *db)
    assert done.exit_code == 0 and done.stdout.startswith("signed checkpoint 1 (size ")
    assert "no new events since checkpoint 1" in ledger("checkpoint", *db).output
    done = ledger("verify", *db, "--public-key", str(pub))
    assert done.exit_code == 0
    assert done.output.strip() == f"ok: verified {app.position()} events up to checkpoint 1"

    bundle = tmp_path / "proof.json"
    done = ledger("proof", str(cid), "--out", str(bundle), *db)
    assert done.exit_code == 0, done.output
    done = ledger("verify-proof", str(bundle), "--public-key", str(pub))
    assert done.exit_code == 0 and done.output.startswith("ok: "), done.output
    result = json.loads(ledger("verify-proof", str(bundle), "--json").stdout)
    assert result["ok"] and result["key_source"].startswith("bundle")

    forged = json.loads(bundle.read_text())
    forged["events"][0]["inclusion_proof"][0] = "00" * 32
    bad = tmp_path / "forged.json"
    bad.write_text(json.dumps(forged))
    done = ledger("verify-proof", str(bad), "--public-key", str(pub))
    assert done.exit_code == 1 and done.output.startswith("error: invalid-proof: ")

    victim = tamper.positions()[3]
    tamper.flip_byte(victim)
    done = ledger("verify", *db)
    assert done.exit_code == 1
    assert done.output.startswith(f"FAILED: the event at log position {victim} (leaf 3)")
    report = json.loads(ledger("verify", *db, "--json").stdout)
    assert report["problem"]["position"] == victim and report["problem"]["kind"] == "altered"


def test_bad_input_is_one_line(tmp_path: Path, key_path: Path) -> None:
    missing = tmp_path / "nope.json"
    done = ledger("verify-proof", str(missing))
    assert done.exit_code == 1 and done.output.startswith("error: cannot read")
    notjson = tmp_path / "x.json"
    notjson.write_text("{")
    assert ledger("verify-proof", str(notjson)).output.startswith("error: ")
    notjson.write_text("[]")
    assert ledger("verify-proof", str(notjson)).output.startswith("error: invalid-proof: ")
    assert ledger("keys", "public").output.startswith("error: no signing key")
    assert date.today()  # the runner leaves the clock alone
