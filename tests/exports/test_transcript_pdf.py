"""The printable transcript from hand-made read-model dicts: it opens, and its text holds the
credits, the progress, the competencies and the lineage references."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

from pypdf import PdfReader

from projections.exports.transcript_pdf import lineage_summary, transcript_pdf
from tests.exports.test_clr import CLASS, CREDIT, FW, LINEAGE, MASTERY

STUDENT = {
    "id": "22222222-2222-4222-8222-222222222222",
    "local_id": "L100",
    "state_student_id": "1234567890",
    "given_name": "Ana",
    "family_name": "Rivera",
    "grade_level": "11",
    "cohort": 2027,
    "status": "enrolled",
}
AREAS = [
    {"area": "ENG", "name": "English", "required": Decimal(4), "earned": Decimal(1),
     "pending": Decimal(0), "flagged": Decimal(0)},
    {"area": "CTE", "name": "Career and Technical Education", "required": Decimal(1),
     "earned": Decimal("0.5"), "pending": Decimal(0), "flagged": Decimal(0)},
]  # fmt: skip
TRANSCRIPT = {
    "position": 42,
    "as_of": None,
    "terms": [
        {"school_year": "2025-26", "term": "S1", "credits": [{**CREDIT, "approved_by": "u-reg"}]},
        {"school_year": "2025-26", "term": "FY", "credits": [CLASS]},
    ],
    "areas": AREAS,
    "totals": {"required": Decimal(24), "earned": Decimal("1.5"), "pending": Decimal(0)},
}


def text_of(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(p.extract_text() for p in reader.pages)


def build(**kw):
    credit = TRANSCRIPT["terms"][0]["credits"][0]
    args = dict(
        student=STUDENT,
        transcript=TRANSCRIPT,
        mastery=MASTERY,
        statements={(FW["id"], c["id"]): c["statement"] for c in FW["competencies"]},
        lineages={CREDIT["id"]: lineage_summary(credit, LINEAGE)},
        names={"u-reg": "Pat Registrar"},
        school={"name": "Demo High School", "district_code": "17001", "school_code": "1234"},
        checkpoint={"size": 120, "root": "ab" * 32},
    )
    args.update(kw)
    return transcript_pdf(**args)


def test_the_pdf_opens_and_holds_the_record():
    pdf = build()
    assert pdf.startswith(b"%PDF-")
    pages, text = text_of(pdf)
    assert 1 <= pages <= 2
    for expected in (
        "Demo High School",
        "Ana Rivera",
        "1234567890",
        "Career Preparation",
        "0.50",
        "English 11",
        "1.00",
        "B+",
        "2025-26 total",
        "1.50",
        "24.00",
        "Communicates professionally",
        "Pat Registrar",
        "2026-01-20",
        "checkpoint size 120",
    ):
        assert expected in text, expected
    assert "Solves problems with data" not in text  # not mastered


def test_lineage_reference_counts_judgments_and_evidence():
    s = lineage_summary({**CREDIT, "approved_by": "u-reg"}, LINEAGE)
    assert (s["judgments"], s["evidence"], s["approved_by"]) == (1, 2, "u-reg")
    later = {
        "judgments": [
            {**LINEAGE["judgments"][0],
             "events": [{"recorded_at": datetime(2026, 3, 1, tzinfo=UTC)}]}
        ]
    }  # fmt: skip
    assert lineage_summary(CREDIT, later, as_of=datetime(2026, 2, 1, tzinfo=UTC))["judgments"] == 0


def test_same_state_same_bytes_and_no_checkpoint_is_said():
    assert build() == build()
    _, text = text_of(build(checkpoint=None))
    assert "No signed ledger checkpoint" in text


def test_a_long_record_stays_within_two_pages():
    many = [
        {**CLASS, "id": f"c{i}", "title": f"Course {i}", "course_id": f"C{i}", "term": t,
         "school_year": y}
        for i, (y, t) in enumerate(
            [(y, t) for y in ("2023-24", "2024-25", "2025-26", "2026-27") for t in ("S1", "S2")] * 3
        )
    ]  # fmt: skip
    pages, text = text_of(build(transcript={**TRANSCRIPT, "terms": [{"credits": many}]}))
    assert pages <= 2 and "Course 23" in text
