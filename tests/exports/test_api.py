"""The export endpoints over HTTP on both stores."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from ledger.domain import Export
from tests.api.conftest import open_api
from tests.exports.clrcheck import assert_valid_clr
from tests.exports.school import script_school

GOLDEN = Path(__file__).with_name("golden") / "grade_history_2025-26.txt"
GH = "/v1/exports/state/grade-history"


@pytest.fixture
def api(store_url, clock):
    yield from open_api(store_url, clock)


def test_grade_history_over_http_is_the_golden_file(api, clock):
    app = api.app
    scripted = script_school(app, clock)
    clock.set(datetime(2026, 6, 15, 17, 0, tzinfo=UTC))
    r = api.get(GH, who="reporter", params={"school_year": "2025-26"})
    assert r.status_code == 200, r.text
    assert r.content == GOLDEN.read_bytes()
    assert r.headers["content-type"].startswith("text/tab-separated-values")
    assert (
        'filename="17001_1234_StudentGradeHistory_20260615_20252026.txt"'
        in (r.headers["content-disposition"])
    )
    e = app.load(Export, r.headers["x-export-id"])
    assert e.sha256 == r.headers["x-export-sha256"] == hashlib.sha256(r.content).hexdigest()
    made_at = e.created_on
    # The past submission again, after the ledger moved on.
    app.revoke_credit(scripted.school.registrar, scripted.credits["W1001/ENG11"], "wrong year")
    moved = api.get(GH, who="registrar", params={"school_year": "2025-26"})
    assert moved.status_code == 200 and moved.content != r.content
    again = api.get(
        GH, who="registrar", params={"school_year": "2025-26", "as_of": made_at.isoformat()}
    )
    assert again.status_code == 200 and again.content == r.content
    for bad in ({"school_year": "2025"}, {"school_year": "2025-26", "as_of": "2026-01-01T00:00"}):
        assert api.get(GH, who="registrar", params=bad).status_code == 422
    assert api.get(GH, who="advisor", params={"school_year": "2025-26"}).status_code == 403


def test_a_refused_export_lists_its_rows(api):
    app = api.app
    registrar = api.cast["registrar"].actor
    app.record_class(
        registrar, api.cast.own, course_id="ENG11", title="English 11", area="ENG",
        credits_earned=Decimal(1), credits_attempted=None, mark="A", school_year="2025-26",
        term="FY", state_course_code="01003",
    )  # fmt: skip
    before = app.position()
    r = api.get(GH, who="registrar", params={"school_year": "2025-26"})
    assert r.status_code == 422
    body = r.json()
    assert body["type"].endswith("/export-refused")
    assert r.headers["content-type"].startswith("application/problem+json")
    (row,) = body["rows"]
    assert row["key"]["district_student_id"] == "S-1" and row["problems"] == {"SSID": "is required"}
    assert app.position() == before


def test_clr_and_pdf_over_http(api, clock, shared_data):
    scripted = script_school(api.app, clock)
    sid = scripted.students["W1001"]
    r = api.get(f"/v1/students/{sid}/clr", who="registrar")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json")
    assert_valid_clr(shared_data, r.json())
    r = api.get(f"/v1/students/{sid}/transcript.pdf", who="registrar")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "Career Preparation" in text and "English 11" in text
    own = api.cast.own
    assert api.get(f"/v1/students/{own}/clr", who="student").status_code == 200
    assert api.get(f"/v1/students/{sid}/clr", who="student").status_code == 404
    assert api.get(f"/v1/students/{sid}/transcript.pdf", who="mentor").status_code == 404
