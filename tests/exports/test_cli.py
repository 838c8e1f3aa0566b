"""`ledger export ...` on both stores: the file written is the golden one, refusals list rows."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app as ledger_cli
from ledger.domain import Export
from tests.builders import School
from tests.exports.school import script_school

GOLDEN = Path(__file__).with_name("golden") / "grade_history_2025-26.txt"


def run(*args: str):
    return CliRunner().invoke(ledger_cli, ["export", *args], catch_exceptions=False)


def test_cli_writes_the_golden_grade_history(app, clock, store_url, tmp_path, shared_data):
    scripted = script_school(app, clock)
    out = tmp_path / "gh.txt"
    result = run("grade-history", "--school-year", "2025-26", "-o", str(out),
                 "--database-url", store_url)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == GOLDEN.read_bytes()
    assert "6 rows" in result.output and "export " in result.output
    sid = str(scripted.students["W1001"])
    pdf = tmp_path / "t.pdf"
    result = run("transcript", sid, "-o", str(pdf), "--database-url", store_url)
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF-")
    result = run("clr", sid, "-o", "-", "--database-url", store_url)
    assert result.exit_code == 0
    clr = json.loads(result.stdout)
    assert clr["type"] == ["VerifiableCredential", "ClrCredential"]
    notes = app.recorder.select_notifications(start=1, limit=10_000)
    exports = [n.originator_id for n in notes if n.topic == "competency-ledger/Export.Recorded"]
    assert sorted(app.load(Export, x).kind for x in exports) == [
        "clr", "grade-history", "transcript-pdf"
    ]  # fmt: skip


def test_cli_refusal_lists_the_rows_and_bad_input_is_one_line(app, store_url):
    school = School.build(app)
    sid, _ = school.enroll("NO-SSID")
    app.record_class(
        school.registrar, sid, course_id="ENG11", title="English 11", area="ENG",
        credits_earned=Decimal(1), credits_attempted=None, mark="A", school_year="2025-26",
        term="FY", state_course_code="01003",
    )  # fmt: skip
    result = run("grade-history", "--school-year", "2025-26", "--database-url", store_url)
    assert result.exit_code == 1
    assert "NO-SSID 2025-26 FY" in result.output and "SSID is required" in result.output
    assert "error: export-refused" in result.output
    for bad in (["--as-of", "yesterday"], ["--as-of", "2026-01-01T00:00:00"]):
        result = run("grade-history", "--school-year", "2025-26", *bad, "--database-url", store_url)
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    result = run("grade-history", "--school-year", "2025-27", "--database-url", store_url)
    assert result.exit_code == 1 and "2025-26" in result.output
    result = run("clr", "not-a-student", "--database-url", store_url)
    assert result.exit_code == 1 and "not-found" in result.output
