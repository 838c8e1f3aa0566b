"""The state grade-history file (CEDARS "File H"): rows from transcripts, checked, then written.

Everything here is pure: it takes transcript dicts shaped like ``ReadModels.transcript()`` and
returns bytes, so the same ledger state always gives the same file. Nothing in a row comes from a
generated id, so two ledgers scripted alike give identical files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ledger.domain.areas import SCHOOL_YEAR, TERMS
from ledger.errors import ExportRefused, InvalidCommand
from projections.exports.profiles import CEDARS_GRADE_HISTORY, ExportProfile
from projections.exports.tabular import delimited, has_control, one_line

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Row:
    # What a registrar needs to find the record behind a refused row.
    key: Mapping[str, str]
    cells: Mapping[str, str]


@dataclass(frozen=True)
class ExportFile:
    name: str
    content: bytes
    media_type: str
    row_count: int
    profile: str
    profile_version: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def ending_year(school_year: str) -> int:
    m = SCHOOL_YEAR.match(school_year or "")
    if not m or (int(m.group(1)) + 1) % 100 != int(m.group(2)):
        raise InvalidCommand(f"school year {school_year!r} must look like 2025-26")
    return int(m.group(1)) + 1


def file_name(
    profile: ExportProfile, district_code: str, school_code: str, extracted: date, school_year: str
) -> str:
    """``CCDDD_SSSS_FileName_YYYYMMDD_YYYYYYYY.txt``; the school code is 0000 for a district
    file, and the last part is the school year's two calendar years (20252026)."""
    end = ending_year(school_year)
    return (
        f"{district_code}_{school_code}_{profile.file_label}_{extracted:%Y%m%d}_{end - 1}{end}.txt"
    )


def _credits(value: Any) -> str:
    """Two places when the value has at most two; otherwise as it is, for the check to refuse
    (never round a credit silently)."""
    if value is None:
        return ""
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not d.is_finite():
        return str(value)
    q = d.quantize(CENT)
    return f"{q:f}" if q == d else f"{d:f}"


def _grade_level(cohort: Any, end: int) -> str:
    try:
        return f"{12 - (int(cohort) - end):02d}"
    except (TypeError, ValueError):
        return ""


def _flag(value: Any) -> str:
    return "Y" if value else "N"


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def credit_rows(
    transcript: Mapping[str, Any],
    *,
    school_year: str,
    district_code: str,
    profile: ExportProfile = CEDARS_GRADE_HISTORY,
) -> list[Row]:
    """One row per approved credit of the school year in one student's transcript."""
    student = transcript.get("student") or {}
    end = ending_year(school_year)
    rows = []
    for term in transcript.get("terms", ()):
        if term.get("school_year") != school_year:
            continue
        for credit in term.get("credits", ()):
            if credit.get("status") != "approved":
                continue
            method = credit.get("method") or ""
            attempted = credit.get("credits_attempted")
            designations = set(credit.get("designation_codes") or ())
            if credit.get("mastery_based") and profile.competency_based_designation:
                designations.add(profile.competency_based_designation)
            term_code = credit.get("term") or term.get("term")
            cells = {
                "SchoolYear": f"{end:04d}",
                "ServingCountyDistrictCode": _text(district_code),
                "SchoolCode": _text(student.get("school_code")),
                "DistrictStudentId": _text(student.get("local_id")),
                "SSID": _text(student.get("state_student_id")),
                "Term": profile.term_codes.get(term_code, _text(term_code)),
                "CourseId": _text(credit.get("course_id"))
                or profile.default_course_ids.get(method, ""),
                "CourseTitle": one_line(_text(credit.get("title"))),
                "GradeLevel": _grade_level(student.get("cohort"), end),
                "LetterGrade": _text(credit.get("mark")) or profile.mark_without_grade,
                "CreditsAttempted": _credits(
                    attempted if attempted is not None else credit.get("amount")
                ),
                "CreditsEarned": _credits(credit.get("amount")),
                "CourseDesignationCode": profile.code_separator.join(sorted(designations)),
                "ContentAreaCode": profile.content_area_codes.get(
                    credit.get("area"), _text(credit.get("area"))
                ),
                "StateCourseCode": _text(credit.get("state_course_code")),
                "WorkBasedLearning": _flag(credit.get("work_based")),
                "MasteryBased": _flag(credit.get("mastery_based")),
            }
            key = {
                "credit_id": _text(credit.get("id")),
                "student_id": _text(student.get("id")),
                "district_student_id": cells["DistrictStudentId"],
                "school_year": school_year,
                "term": _text(term_code),
                "title": cells["CourseTitle"],
            }
            rows.append(Row(key, {c.name: cells.get(c.name, "") for c in profile.columns}))
    return rows


def problems_of(row: Row, profile: ExportProfile = CEDARS_GRADE_HISTORY) -> dict[str, str]:
    """Column -> what is wrong with it, for one row; empty when the row is valid."""
    found: dict[str, str] = {}
    for col in profile.columns:
        value = row.cells.get(col.name, "")
        if has_control(value):
            found[col.name] = "contains a tab, line break or other control character"
        elif value == "":
            if col.required:
                found[col.name] = "is required"
        elif col.check is not None and (msg := col.check(value)):
            found[col.name] = msg
    earned, attempted = row.cells.get("CreditsEarned"), row.cells.get("CreditsAttempted")
    checked = not ({"CreditsEarned", "CreditsAttempted"} & set(found)) and earned and attempted
    if checked and Decimal(earned) > Decimal(attempted):
        found["CreditsEarned"] = f"{earned} is more than the {attempted} attempted"
    return found


_TERM_ORDER = {t: i for i, t in enumerate(TERMS)}


def _order(row: Row, profile: ExportProfile) -> tuple:
    c = row.cells
    return (
        c.get("SchoolCode", ""),
        c.get("DistrictStudentId", ""),
        c.get("SSID", ""),
        _TERM_ORDER.get(row.key.get("term", ""), len(_TERM_ORDER)),
        c.get("CourseId", ""),
        tuple(c.get(name, "") for name in profile.header),
    )


def grade_history_file(
    transcripts: Iterable[Mapping[str, Any]],
    *,
    school_year: str,
    district_code: str,
    school_code: str,
    extracted: date,
    profile: ExportProfile = CEDARS_GRADE_HISTORY,
) -> ExportFile:
    """The whole file, or ExportRefused listing every invalid row (nothing is written then).

    ``school_code`` names the file; when rows come from more than one school the file is a
    district file and says 0000.
    """
    rows: list[Row] = []
    for t in transcripts:
        rows.extend(
            credit_rows(t, school_year=school_year, district_code=district_code, profile=profile)
        )
    invalid = []
    for row in rows:
        found = problems_of(row, profile)
        if found:
            invalid.append({"key": dict(row.key), "problems": found})
    if invalid:
        invalid.sort(
            key=lambda p: tuple(
                p["key"][k]
                for k in ("district_student_id", "school_year", "term", "title", "credit_id")
            )
        )
        raise ExportRefused(
            f"{len(invalid)} of {len(rows)} rows break {profile.name} {profile.version}; "
            "correct the records and export again",
            invalid,
        )
    rows.sort(key=lambda r: _order(r, profile))
    schools = {r.cells.get("SchoolCode") for r in rows}
    named_school = school_code if schools <= {school_code} else "0000"
    content = delimited(
        profile.header,
        ([r.cells[name] for name in profile.header] for r in rows),
        delimiter=profile.delimiter,
        line_ending=profile.line_ending,
        encoding=profile.encoding,
    )
    return ExportFile(
        name=file_name(profile, district_code, named_school, extracted, school_year),
        content=content,
        media_type="text/tab-separated-values; charset=utf-8",
        row_count=len(rows),
        profile=profile.name,
        profile_version=profile.version,
    )
