"""Export profiles: the declared, versioned layout of each file the ledger hands to someone else.

A profile is data, not code paths: the columns in order, where each value comes from, how it is
written and how it is checked. When OSPI's published layout differs from what we could read
(see docs/exports.md, "open questions"), a new profile version replaces this one; the version is
recorded with every export so an old submission is reproduced under the profile it was made with.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from ledger.domain.areas import GRADUATION_AREAS, TERMS

Check = Callable[[str], str | None]  # cell text -> what is wrong with it, or None


def _digits(n: int, *, no_leading_zero: bool = False) -> Check:
    pattern = re.compile(rf"^\d{{{n}}}$")

    def check(v: str) -> str | None:
        if not pattern.match(v):
            return f"must be exactly {n} digits"
        if no_leading_zero and v.startswith("0"):
            return "must not start with 0"
        return None

    return check


def _one_of(codes: frozenset[str]) -> Check:
    def check(v: str) -> str | None:
        return None if v in codes else f"{v!r} is not one of {sorted(codes)}"

    return check


def _codes_of(codes: frozenset[str], separator: str) -> Check:
    def check(v: str) -> str | None:
        bad = [c for c in v.split(separator) if c not in codes]
        return f"unknown codes {bad}; known: {sorted(codes)}" if bad else None

    return check


def _decimal2(v: str) -> str | None:
    if not re.fullmatch(r"\d{1,2}\.\d{2}", v):
        return "must be a decimal with exactly 2 places (like 0.50)"
    try:
        Decimal(v)
    except InvalidOperation:
        return "must be a decimal"
    return None


def _text(max_length: int) -> Check:
    def check(v: str) -> str | None:
        if len(v) > max_length:
            return f"is longer than {max_length} characters"
        return None

    return check


@dataclass(frozen=True)
class Column:
    name: str  # the header cell
    element: str | None  # the CEDARS element id (H01...), None for a local extension
    source: str  # where the value comes from, for the docs and for reviewers
    required: bool
    check: Check | None = None


@dataclass(frozen=True)
class ExportProfile:
    name: str
    version: str
    file_label: str  # the FileName part of CCDDD_SSSS_FileName_YYYYMMDD_YYYYYYYY.txt
    columns: tuple[Column, ...]
    delimiter: str = "\t"
    line_ending: str = "\r\n"
    encoding: str = "utf-8"
    # Our vocabulary -> the state's. Identity where the state list is not known here.
    term_codes: Mapping[str, str] = field(default_factory=dict)
    content_area_codes: Mapping[str, str] = field(default_factory=dict)
    # A credit earned without a class has no letter grade; this mark stands for "passed".
    mark_without_grade: str = "P"
    # Course ID for credits that name none, by credit method (the district's local course).
    default_course_ids: Mapping[str, str] = field(default_factory=dict)
    # The designation letter for competency-based credit exists since 2012-13 but is not known
    # here; None leaves H13 empty for mastery-based credit (the MasteryBased column says it).
    competency_based_designation: str | None = None
    code_separator: str = ","

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


# Letter grades and pass/credit marks; the state's own list is an open question.
MARKS = frozenset(
    ("A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F")
    + ("P", "NP", "CR", "NC", "I", "W", "S", "U")
)
# AP, IB, Cambridge, Running Start, CTE Dual Credit, College in the HS, Local Transition, Core Plus.
DESIGNATIONS = frozenset(("A", "I", "K", "R", "T", "C", "E", "F"))
GRADE_LEVELS = frozenset(f"{g:02d}" for g in range(1, 13))
FLAGS = frozenset({"Y", "N"})


def _cedars_columns(content_areas: frozenset[str], terms: frozenset[str]) -> tuple[Column, ...]:
    return (
        Column("SchoolYear", "H01", "credit school_year, ending year (2025-26 -> 2026)", True,
               _digits(4)),
        Column("ServingCountyDistrictCode", "H02", "settings.district_code", True, _digits(5)),
        Column("SchoolCode", None, "student school_code (CEDARS location id)", True, _digits(4)),
        Column("DistrictStudentId", "H03", "student local_id", True, _text(50)),
        Column("SSID", "H04", "student state_student_id", True,
               _digits(10, no_leading_zero=True)),
        Column("Term", None, "credit term (profile term_codes)", True, _one_of(terms)),
        Column("CourseId", "H07", "credit course_id, else profile default_course_ids[method]",
               True, _text(50)),
        Column("CourseTitle", "H08", "credit title, on one line", True, _text(200)),
        Column("GradeLevel", "H09", "12 - (cohort - ending year), two digits", True,
               _one_of(GRADE_LEVELS)),
        Column("LetterGrade", "H10", "credit mark, else profile mark_without_grade", True,
               _one_of(MARKS)),
        Column("CreditsAttempted", "H11", "credit credits_attempted, else amount", True,
               _decimal2),
        Column("CreditsEarned", "H12", "credit amount", True, _decimal2),
        Column("CourseDesignationCode", "H13",
               "credit designation_codes (+ competency-based letter when known)", False,
               _codes_of(DESIGNATIONS, ",")),
        Column("ContentAreaCode", "H14", "credit area (profile content_area_codes)", True,
               _one_of(content_areas)),
        Column("StateCourseCode", "H15", "credit state_course_code", True, _digits(5)),
        Column("WorkBasedLearning", None, "credit work_based (H32 value list unknown)", True,
               _one_of(FLAGS)),
        Column("MasteryBased", None, "credit mastery_based (WAC 180-51-051 reporting)", True,
               _one_of(FLAGS)),
    )  # fmt: skip


_AREAS = MappingProxyType({a: a for a in GRADUATION_AREAS})
_TERMS = MappingProxyType({t: t for t in TERMS})

CEDARS_GRADE_HISTORY = ExportProfile(
    name="cedars-grade-history",
    version="2026.1",
    file_label="StudentGradeHistory",
    columns=_cedars_columns(frozenset(_AREAS.values()), frozenset(_TERMS.values())),
    term_codes=_TERMS,
    content_area_codes=_AREAS,
    default_course_ids=MappingProxyType({"mastery": "CBE-CREDIT", "hours": "WBL-CREDIT"}),
)

PROFILES: dict[tuple[str, str], ExportProfile] = {
    (CEDARS_GRADE_HISTORY.name, CEDARS_GRADE_HISTORY.version): CEDARS_GRADE_HISTORY,
}

# The CLR and the PDF are versioned the same way, so their Export events name a profile too.
CLR_PROFILE = ("clr-2.0-vc1.1", "2026.1")
TRANSCRIPT_PDF_PROFILE = ("transcript-pdf", "2026.1")
