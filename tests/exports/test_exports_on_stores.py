"""Exports through ReadModels on both stores: golden bytes, as-of reproduction, refusals that
write nothing, and each export recorded as an event."""

from __future__ import annotations

import hashlib
import io
import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from pypdf import PdfReader

from ledger import errors
from ledger.domain import Export, Role
from ledger.settings import Settings
from projections import ReadModels
from projections.exports.service import (
    current_checkpoint,
    export_clr,
    export_grade_history,
    export_transcript_pdf,
)
from tests.builders import School
from tests.exports.clrcheck import assert_valid_clr
from tests.exports.school import script_school

GOLDEN = Path(__file__).with_name("golden")
SETTINGS = Settings(school_name="Demo High School", district_code="17001", school_code="1234")


@pytest.fixture
def rm(app):
    models = ReadModels(app)
    try:
        yield models
    finally:
        models.close()


@pytest.fixture
def scripted(app, clock):
    return script_school(app, clock)


def golden(name: str, content: bytes) -> bytes:
    """The stored golden bytes. LEDGER_UPDATE_GOLDEN=1 rewrites them (then review the diff)."""
    path = GOLDEN / name
    if os.environ.get("LEDGER_UPDATE_GOLDEN") == "1":
        path.write_bytes(content)
    return path.read_bytes()


def test_grade_history_matches_the_golden_file(app, rm, scripted, clock):
    clock.set(datetime(2026, 6, 15, 17, 0, tzinfo=UTC))
    made = export_grade_history(
        app, rm, scripted.school.registrar, school_year="2025-26", settings=SETTINGS
    )
    assert made.file.name == "17001_1234_StudentGradeHistory_20260615_20252026.txt"
    assert made.file.content == golden("grade_history_2025-26.txt", made.file.content)
    assert made.file.row_count == 6
    # Recorded: who, when, as of what, profile, rows, digest.
    e = app.load(Export, made.export_id)
    assert (e.kind, e.profile, e.profile_version) == (
        "grade-history",
        "cedars-grade-history",
        "2026.1",
    )
    assert e.row_count == 6 and e.sha256 == hashlib.sha256(made.file.content).hexdigest()
    assert e.position == made.position > 0 and e.as_of is None
    assert e.parameters == {"school_year": "2025-26"}
    (recorded,) = app.repository.event_store.get(UUID(made.export_id))
    assert recorded.actor_id == scripted.school.registrar.user_id
    assert recorded.timestamp.tzinfo is not None


def test_an_export_as_of_an_instant_equals_the_export_made_then(app, rm, scripted, clock):
    registrar = scripted.school.registrar
    students = scripted.students

    def english_12(app):
        app.record_class(
            registrar, students["W1003"], course_id="ENG12", title="English 12", area="ENG",
            credits_earned=Decimal(1), credits_attempted=None, mark="A", school_year="2025-26",
            term="FY", state_course_code="01004",
        )  # fmt: skip

    # The ledger moves on after each submission: a correction, a new class, a revocation, an
    # amendment. Each submission is kept with the instant its Export event was recorded.
    changes = [
        lambda app: app.correct_student_details(
            registrar, students["W1002"], {"state_student_id": "5300000099"}, "typo"
        ),
        english_12,
        lambda app: app.revoke_credit(registrar, scripted.credits["W1001/ALG2A"], "grade change"),
        lambda app: app.amend_credit(
            registrar, scripted.credits["W1002/CHEM1"], reason="late lab", changes={"mark": "C"}
        ),
    ]
    submitted = []
    for change in [None, *changes]:
        if change is not None:
            clock.advance(days=3)
            change(app)
        made = export_grade_history(app, rm, registrar, school_year="2025-26", settings=SETTINGS)
        submitted.append((app.load(Export, made.export_id).created_on, made))
    contents = [m.file.content for _, m in submitted]
    assert len(set(contents)) == len(contents), "each change shows in the next submission"
    assert b"5300000099" in contents[1] and b"English 12" in contents[2]
    assert b"Chemistry = Lab\t11\tD\t" in contents[3]
    assert b"Chemistry = Lab\t11\tC\t" in contents[4]
    for made_at, made in submitted:
        again = export_grade_history(
            app, rm, registrar, school_year="2025-26", as_of=made_at, settings=SETTINGS
        )
        assert again.file.content.decode() == made.file.content.decode()
        assert again.file.name == made.file.name
        e = app.load(Export, again.export_id)
        assert e.as_of == made_at and e.sha256 == app.load(Export, made.export_id).sha256
    # Before anything was reported, the same profile gives a header-only file.
    empty = export_grade_history(
        app, rm, registrar, school_year="2025-26", as_of=submitted[0][0] - timedelta(days=30),
        settings=SETTINGS,
    )  # fmt: skip
    assert empty.file.row_count == 0


def test_invalid_rows_refuse_the_export_and_record_nothing(app, rm, clock):
    school = School.build(app)
    sid, _ = school.enroll("NO-SSID")  # the builder enrols without a state id
    app.record_class(
        school.registrar, sid, course_id="ENG11", title="English 11", area="ENG",
        credits_earned=Decimal(1), credits_attempted=None, mark="A", school_year="2025-26",
        term="FY", state_course_code="01003",
    )  # fmt: skip
    rm.catch_up()
    before = app.position()
    with pytest.raises(errors.ExportRefused) as e:
        export_grade_history(app, rm, school.registrar, school_year="2025-26", settings=SETTINGS)
    assert app.position() == before
    (row,) = e.value.rows
    assert row["key"]["district_student_id"] == "NO-SSID"
    assert row["problems"] == {"SSID": "is required"}


def test_only_reporters_and_registrars_make_state_exports(app, rm, scripted):
    reporter = scripted.school.person(Role.REPORTER, "Reporter")
    made = export_grade_history(app, rm, reporter, school_year="2025-26", settings=SETTINGS)
    assert made.file.row_count == 6
    for actor in (scripted.school.advisor, scripted.actors["W1001"], scripted.school.guardian):
        before = app.position()
        with pytest.raises(errors.NotPermitted):
            export_grade_history(app, rm, actor, school_year="2025-26", settings=SETTINGS)
        assert app.position() == before


def test_clr_of_a_scripted_student_validates(app, rm, scripted, shared_data):
    sid = scripted.students["W1001"]
    made = export_clr(
        app, rm, scripted.actors["W1001"], sid, settings=SETTINGS, checkpoint=lambda a: None
    )
    clr = json.loads(made.file.content)
    assert_valid_clr(shared_data, clr)
    names = sorted(a["name"] for a in clr["credentialSubject"]["achievement"])
    assert names == [
        "Algebra II", "Biology", "CR.1: Communicates professionally", "Career Preparation",
        "English 11",
    ]  # fmt: skip
    credits = {
        vc["name"]: vc["credentialSubject"].get("creditsEarned")
        for vc in clr["credentialSubject"]["verifiableCredential"]
    }
    assert credits["Career Preparation"] == 0.5 and credits["English 11"] == 1
    prep = next(
        vc for vc in clr["credentialSubject"]["verifiableCredential"]
        if vc["name"] == "Career Preparation"
    )  # fmt: skip
    assert {e["genre"] for e in prep["evidence"]} == {"judgment", "reflection", "hours"}
    assert clr["issuer"]["name"] == "Demo High School"
    e = app.load(Export, made.export_id)
    assert (e.kind, e.student_id, e.row_count) == ("clr", sid, 5)
    assert e.sha256 == hashlib.sha256(made.file.content).hexdigest()
    # The student's own history shows who took their record.
    rm.catch_up()
    (taken,) = [r for r in rm.history(sid, limit=200).items if r["type"] == "Export.Recorded"]
    assert taken["actor_id"] == scripted.actors["W1001"].user_id
    with pytest.raises(errors.NotPermitted):
        export_clr(app, rm, scripted.actors["W1002"], sid, settings=SETTINGS)
    with pytest.raises(errors.NotPermitted):
        export_clr(app, rm, scripted.school.mentor, sid, settings=SETTINGS)


def test_transcript_pdf_holds_the_credits(app, rm, scripted):
    sid = scripted.students["W1001"]
    made = export_transcript_pdf(
        app, rm, scripted.school.registrar, sid, settings=SETTINGS, checkpoint=lambda a: None
    )
    reader = PdfReader(io.BytesIO(made.file.content))
    assert 1 <= len(reader.pages) <= 2
    text = "\n".join(p.extract_text() for p in reader.pages)
    for expected in ("Demo High School", "W1001", "5300000001", "English 11", "Algebra II",
                     "Career Preparation", "Biology", "2024-25 total", "2025-26 total", "2.00",
                     "Communicates professionally", "Registrar"):  # fmt: skip
        assert expected in text, expected
    assert "Ceramics" not in text
    e = app.load(Export, made.export_id)
    assert (e.kind, e.student_id, e.row_count) == ("transcript-pdf", sid, 4)


def test_exports_name_the_checkpoint_they_were_made_under(app, rm, scripted, tmp_path, monkeypatch):
    from ledger.integrity.checkpoints import checkpoint
    from ledger.integrity.keys import create_key
    from ledger.settings import get_settings

    sid = scripted.students["W1001"]
    registrar = scripted.school.registrar
    monkeypatch.setenv("LEDGER_SIGNING_KEY_PATH", str(tmp_path / "school.pem"))
    get_settings.cache_clear()
    try:
        # No key yet, then a key but no checkpoint: the exports say so, and still work.
        assert current_checkpoint(app) is None
        text = pdf_text(export_transcript_pdf(app, rm, registrar, sid).file.content)
        assert "No signed ledger checkpoint" in text
        create_key(tmp_path / "school.pem")
        assert current_checkpoint(app) is None
        cp, made = checkpoint(app)
        assert made
        clr = json.loads(export_clr(app, rm, registrar, sid).file.content)
        assert clr["ledgerCheckpoint"] == {"treeSize": cp.tree_size, "rootHash": cp.root.hex()}
        text = pdf_text(export_transcript_pdf(app, rm, registrar, sid).file.content)
        assert f"checkpoint size {cp.tree_size}, root {cp.root.hex()}" in text.replace("\n", "")
    finally:
        get_settings.cache_clear()


def pdf_text(content: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)


def test_transcript_pdf_shows_a_flagged_credit_apart_from_earned(app, rm):
    school = School.build(app)
    sid, student = school.enroll("F1")
    r = school.reflection(student, sid)
    from ledger.domain import EvidenceRef

    j = school.judge(sid, [EvidenceRef("reflection", r)])
    school.mastery_credit(sid, [j])
    app.retract_judgment(school.advisor, j, "rubric misread")
    rm.catch_up()
    made = export_transcript_pdf(
        app, rm, school.registrar, sid, settings=SETTINGS, checkpoint=lambda a: None
    )
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(made.file.content)).pages)
    assert "Flagged" in text and "(flagged)" in text
    assert "re-confirms or amends it" in text
    assert rm.transcript(sid)["totals"]["flagged"] == Decimal("0.5")
