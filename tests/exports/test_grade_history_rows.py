"""The grade-history profile on hand-made transcript dicts: rows, checks, bytes and file name."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import ExportRefused, InvalidCommand
from projections.exports.grade_history import (
    credit_rows,
    ending_year,
    file_name,
    grade_history_file,
    problems_of,
)
from projections.exports.profiles import CEDARS_GRADE_HISTORY
from projections.exports.tabular import neutralise


def student(**kw):
    s = {
        "id": "s-1",
        "local_id": "L100",
        "state_student_id": "1234567890",
        "cohort": 2027,
        "school_code": "1234",
        "grade_level": "11",
    }
    s.update(kw)
    return s


def credit(**kw):
    c = {
        "id": "c-1",
        "title": "Career Preparation",
        "area": "CTE",
        "amount": Decimal("0.5"),
        "method": "mastery",
        "status": "approved",
        "school_year": "2025-26",
        "term": "S1",
        "course_id": None,
        "state_course_code": "12345",
        "mark": None,
        "credits_attempted": None,
        "work_based": True,
        "mastery_based": True,
    }
    c.update(kw)
    return c


def transcript(credits, **student_kw):
    by_term = {}
    for c in credits:
        by_term.setdefault((c["school_year"], c["term"]), []).append(c)
    terms = [{"school_year": y, "term": t, "credits": cs} for (y, t), cs in by_term.items()]
    return {"student": student(**student_kw), "terms": terms}


def make(transcripts, **kw):
    args = dict(
        school_year="2025-26",
        district_code="17001",
        school_code="1234",
        extracted=date(2026, 6, 15),
    )
    args.update(kw)
    return grade_history_file(transcripts, **args)


def test_a_mastery_credit_row():
    (row,) = credit_rows(transcript([credit()]), school_year="2025-26", district_code="17001")
    assert row.cells == {
        "SchoolYear": "2026",
        "ServingCountyDistrictCode": "17001",
        "SchoolCode": "1234",
        "DistrictStudentId": "L100",
        "SSID": "1234567890",
        "Term": "S1",
        "CourseId": "CBE-CREDIT",
        "CourseTitle": "Career Preparation",
        "GradeLevel": "11",
        "LetterGrade": "P",
        "CreditsAttempted": "0.50",
        "CreditsEarned": "0.50",
        "CourseDesignationCode": "",
        "ContentAreaCode": "CTE",
        "StateCourseCode": "12345",
        "WorkBasedLearning": "Y",
        "MasteryBased": "Y",
    }
    assert problems_of(row) == {}
    assert list(row.cells) == list(CEDARS_GRADE_HISTORY.header)


def test_only_approved_credits_of_the_year_make_rows():
    credits = [
        credit(id="a"),
        credit(id="p", status="proposed"),
        credit(id="r", status="revoked"),
        credit(id="x", status="rejected"),
        credit(id="old", school_year="2024-25"),
    ]
    rows = credit_rows(transcript(credits), school_year="2025-26", district_code="17001")
    assert [r.key["credit_id"] for r in rows] == ["a"]


def test_file_bytes_are_tab_delimited_crlf_utf8_with_header_and_sorted():
    t1 = transcript(
        [
            credit(id="b", term="S2", course_id="ENG11", mark="B+", title="English 11", area="ENG",
                   credits_attempted=Decimal("1"), amount=Decimal("1"), work_based=False,
                   mastery_based=False, method="course", state_course_code="01003"),
            credit(id="a"),
        ],
        local_id="L200",
    )  # fmt: skip
    t2 = transcript([credit(id="c", title="Señales = =SUM(A1)")], local_id="L100",
                    state_student_id="9876543210")  # fmt: skip
    f = make([t1, t2])
    assert f.name == "17001_1234_StudentGradeHistory_20260615_20252026.txt"
    lines = f.content.split(b"\r\n")
    assert lines[-1] == b"" and b"\n" not in b"".join(lines)
    assert lines[0].decode() == "\t".join(CEDARS_GRADE_HISTORY.header)
    body = [line.decode("utf-8").split("\t") for line in lines[1:-1]]
    assert [(r[3], r[5]) for r in body] == [("L100", "S1"), ("L200", "S1"), ("L200", "S2")]
    assert body[0][7] == "Señales = =SUM(A1)"  # not a formula: it does not start with one
    assert body[2][6:12] == ["ENG11", "English 11", "11", "B+", "1.00", "1.00"]
    assert f.row_count == 3 and len(f.sha256) == 64
    # Same state, same bytes, whatever order the transcripts came in.
    assert make([t2, t1]).content == f.content


def test_formula_cells_are_neutralised():
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(cell) == "'" + cell
    for cell in ("1.00", "A", "", "Señales", "x=1"):
        assert neutralise(cell) == cell
    t = transcript([credit(title='=HYPERLINK("http://evil","x")')])
    line = make([t]).content.split(b"\r\n")[1].decode()
    assert "\t'=HYPERLINK(" in line


def test_titles_are_written_on_one_line():
    t = transcript([credit(title="Career\tPreparation\r\n  Lab")])
    line = make([t]).content.split(b"\r\n")[1].decode()
    assert "\tCareer Preparation Lab\t" in line


def test_invalid_rows_refuse_the_export_and_are_listed():
    bad = [
        transcript([credit(id="c-ssid")], local_id="L1", state_student_id=None),
        transcript([credit(id="c-zero")], local_id="L2", state_student_id="0123456789"),
        transcript([credit(id="c-code", state_course_code="ABC")], local_id="L3"),
        transcript([credit(id="c-amt", amount=Decimal("0.333"))], local_id="L4"),
        transcript(
            [credit(id="c-more", amount=Decimal(1), credits_attempted=Decimal("0.5"))],
            local_id="L5",
        ),  # fmt: skip
        transcript([credit(id="c-mark", mark="Z")], local_id="L6"),
        transcript([credit(id="c-area", area="XYZ")], local_id="L7"),
        transcript([credit(id="c-ctl", course_id="EN\tG")], local_id="L8"),
        transcript([credit(id="c-des", designation_codes=["A", "Q"])], local_id="L9"),
    ]
    good = transcript([credit(id="ok")], local_id="L0")
    with pytest.raises(ExportRefused) as e:
        make([good, *bad])
    err = e.value
    assert err.code == "export-refused" and "9 of 10 rows" in err.detail
    listed = {p["key"]["credit_id"]: p["problems"] for p in err.rows}
    assert [p["key"]["district_student_id"] for p in err.rows] == [f"L{i}" for i in range(1, 10)]
    assert set(listed) == {
        "c-ssid", "c-zero", "c-code", "c-amt", "c-more", "c-mark", "c-area", "c-ctl", "c-des"
    }  # fmt: skip
    assert listed["c-ssid"] == {"SSID": "is required"}
    assert listed["c-zero"] == {"SSID": "must not start with 0"}
    assert "5 digits" in listed["c-code"]["StateCourseCode"]
    assert "2 places" in listed["c-amt"]["CreditsEarned"]
    assert "more than" in listed["c-more"]["CreditsEarned"]
    assert set(listed["c-mark"]) == {"LetterGrade"}
    assert set(listed["c-area"]) == {"ContentAreaCode"}
    assert "control character" in listed["c-ctl"]["CourseId"]
    assert "Q" in listed["c-des"]["CourseDesignationCode"]
    assert all(p["key"]["district_student_id"] for p in err.rows)


def test_codes_and_years():
    assert ending_year("2025-26") == 2026 and ending_year("1999-00") == 2000
    for bad in ("2025-27", "2025", "25-26", ""):
        with pytest.raises(InvalidCommand):
            ending_year(bad)
    name = file_name(CEDARS_GRADE_HISTORY, "05121", "0000", date(2027, 1, 2), "2026-27")
    assert name == "05121_0000_StudentGradeHistory_20270102_20262027.txt"


def test_district_code_must_have_five_digits():
    with pytest.raises(ExportRefused) as e:
        make([transcript([credit()])], district_code="1700")
    assert set(e.value.rows[0]["problems"]) == {"ServingCountyDistrictCode"}


def test_students_of_two_schools_make_a_district_file():
    f = make([transcript([credit()]), transcript([credit()], local_id="L9", school_code="5678")])
    assert f.name.startswith("17001_0000_")


def test_an_empty_year_is_a_header_only_file():
    f = make([transcript([credit(school_year="2024-25")])])
    assert f.row_count == 0
    assert f.content == ("\t".join(CEDARS_GRADE_HISTORY.header) + "\r\n").encode()


cell_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(cell_text, st.sampled_from(["S1", "S2", "FY"])), max_size=6))
def test_any_titles_give_a_well_formed_file_or_a_listed_refusal(titles):
    credits = [credit(id=f"c{i}", title=t, term=term) for i, (t, term) in enumerate(titles)]
    try:
        f = make([transcript(credits)])
    except ExportRefused as e:
        assert e.rows and all(set(p["problems"]) <= {"CourseTitle"} for p in e.rows)
        return
    lines = f.content.decode("utf-8").split("\r\n")
    assert len(lines) == len(titles) + 2
    for line in lines[1:-1]:
        cells = line.split("\t")
        assert len(cells) == len(CEDARS_GRADE_HISTORY.columns)
        assert not cells[7].startswith(("=", "+", "-", "@"))


def test_credits_without_a_course_get_the_profiles_local_course_ids():
    rows = credit_rows(
        transcript([credit(id="h", method="hours", mastery_based=False), credit(id="m")]),
        school_year="2025-26",
        district_code="17001",
    )
    assert {r.key["credit_id"]: r.cells["CourseId"] for r in rows} == {
        "h": "WBL-CREDIT",
        "m": "CBE-CREDIT",
    }
    assert {r.cells["MasteryBased"] for r in rows} == {"Y", "N"}
