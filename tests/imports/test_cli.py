"""`ledger import case|oneroster|associations` through typer: summaries, one-line errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cli.main import app as cli
from ledger.application import LedgerApplication
from ledger.imports.case import framework_id_for
from tests.imports.conftest import DOC, _uuid, case_package

runner = CliRunner()


def invoke(store_url, *args):
    return runner.invoke(cli, ["import", *args], env={"LEDGER_DATABASE_URL": store_url})


def test_case_import_then_reimport_then_associations(store_url, tmp_path):
    pkg = tmp_path / "fw.json"
    pkg.write_text(json.dumps(case_package()))
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"graduation_area": "CTE"}))
    first = invoke(store_url, "case", str(pkg), "--mapping", str(mapping), "--area", "A.1=MATH")
    assert first.exit_code == 0, first.output
    assert "published: revision 1" in first.stdout
    assert "competencies added 5" in first.stdout
    again = invoke(store_url, "case", str(pkg), "--mapping", str(mapping), "--area", "A.1=MATH")
    assert again.exit_code == 0 and "unchanged: revision 1, 0 event(s)" in again.stdout
    listed = invoke(store_url, "associations", str(framework_id_for(DOC)), _uuid(3))
    assert listed.exit_code == 0
    assert f"precedes -> {_uuid(2)}" in listed.stdout
    app = LedgerApplication(database_url=store_url)
    try:
        d = app.framework(framework_id_for(DOC)).definition
        assert d.graduation_area == "CTE" and d.area_of(_uuid(4)) == "MATH"
    finally:
        app.close()


def test_case_errors_are_one_line_and_nonzero(store_url, tmp_path):
    bad = tmp_path / "bad.json"
    pkg = case_package()
    pkg["CFAssociations"][3]["originNodeURI"]["identifier"] = _uuid(77)
    pkg["CFAssociations"][3]["originNodeURI"]["uri"] = "https://nowhere/x"
    bad.write_text(json.dumps(pkg))
    result = invoke(store_url, "case", str(bad))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: bad.json: CFAssociations[3] (identifier ")
    missing = invoke(store_url, "case", str(tmp_path / "nope.json"))
    assert missing.exit_code == 1 and missing.stderr.startswith("error: cannot read")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(case_package()))
    no_mastery = invoke(store_url, "case", str(good), "--scale", "1,2")
    assert no_mastery.exit_code == 1
    assert "at least one level must count as mastery" in no_mastery.stderr


def test_case_dry_run_writes_nothing(store_url, tmp_path):
    pkg = tmp_path / "fw.json"
    pkg.write_text(json.dumps(case_package()))
    result = invoke(store_url, "case", str(pkg), "--dry-run")
    assert result.exit_code == 0 and "dry run: nothing written" in result.stdout
    app = LedgerApplication(database_url=store_url)
    try:
        assert app.position() == 0
    finally:
        app.close()


def test_oneroster_import_and_reimport(store_url, roster):
    first = invoke(store_url, "oneroster", str(roster))
    assert first.exit_code == 0, first.output
    assert "students created 2, updated 0, unchanged 0" in first.stdout
    again = invoke(store_url, "oneroster", str(roster))
    assert again.exit_code == 0
    assert "students created 0, updated 0, unchanged 2" in again.stdout
    assert "0 event(s)" in again.stdout


def test_oneroster_error_names_file_and_line(store_url, roster):
    (roster / "enrollments.csv").write_text(
        "sourcedId,status,classSourcedId,schoolSourcedId,userSourcedId,role\n"
        "e1,active,cls-404,org-1,u-s1,student\n"
    )
    result = invoke(store_url, "oneroster", str(roster))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: roster: enrollments.csv:2: class cls-404 is not in classes.csv"
    )
