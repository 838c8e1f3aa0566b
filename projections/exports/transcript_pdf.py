"""A transcript a registrar can print (one or two pages), drawn with reportlab from read-model
dicts. ``invariant`` mode keeps creation dates and random document ids out of the file, so the
same ledger state gives the same bytes."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import KeepTogether

from ledger.domain.areas import TERMS, WASHINGTON_REQUIREMENTS

_TERM_ORDER = {t: i for i, t in enumerate(TERMS)}
_STYLES = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=_STYLES["BodyText"], fontSize=8, leading=10)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=7, leading=8.5, textColor=colors.grey)
H1 = ParagraphStyle("h1", parent=_STYLES["Heading1"], fontSize=14, spaceAfter=2)
H2 = ParagraphStyle("h2", parent=_STYLES["Heading2"], fontSize=10, spaceBefore=6, spaceAfter=2)
GRID = TableStyle(
    [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f2f2f2")]),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
    ]
)
HOW = {"course": "class", "mastery": "mastery", "hours": "hours"}


def _esc(value: Any) -> str:
    return (
        ""
        if value is None
        else (str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    )


def _credits(value: Any) -> str:
    return f"{Decimal(str(value or 0)):.2f}"


def _day(value: datetime | date | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()


def _table(rows: list[list[Any]], widths: list[float]) -> Table:
    t = Table(rows, colWidths=[w * inch for w in widths], repeatRows=1, hAlign="LEFT")
    t.setStyle(GRID)
    return t


def lineage_summary(
    credit: Mapping[str, Any],
    lineage: Mapping[str, Any] | None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Judgments, evidence count, who approved and when: the short reference a printed
    transcript gives for a work-based credit (the full lineage is one query away)."""

    def seen(item: Mapping[str, Any]) -> bool:
        if as_of is None:
            return True
        stamps = [e["recorded_at"] for e in item.get("events", ()) if e.get("recorded_at")]
        return not stamps or min(stamps) <= as_of

    judgments = [j for j in (lineage or {}).get("judgments", ()) if seen(j)]
    evidence = {
        (ev.get("kind"), str(ev.get("id")), str(ev.get("entry_id")))
        for j in judgments
        for ev in j.get("evidence", ())
        if seen(ev)
    }
    evidence |= {
        ("experience", str(x), "") for x in (credit.get("basis") or {}).get("experiences", ())
    }
    return {
        "credit_id": str(credit.get("id")),
        "judgments": len(judgments),
        "evidence": len(evidence),
        "approved_by": credit.get("approved_by"),
        "approved_at": credit.get("approved_at"),
    }


def transcript_pdf(
    *,
    student: Mapping[str, Any],
    transcript: Mapping[str, Any],
    mastery: Iterable[Mapping[str, Any]],
    statements: Mapping[tuple[str, str], str],
    lineages: Mapping[str, Mapping[str, Any]],
    names: Mapping[str, str],
    school: Mapping[str, str],
    checkpoint: Mapping[str, Any] | None = None,
) -> bytes:
    """The PDF's bytes. ``statements`` maps (framework id, competency id) to its statement;
    ``names`` maps user ids to display names (who approved); ``lineages`` maps credit ids to
    ``lineage_summary`` dicts."""
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=LETTER,
        leftMargin=0.6 * inch,
        rightMargin=0.6 * inch,
        topMargin=0.5 * inch,
        bottomMargin=0.6 * inch,
        title=f"Transcript {student.get('local_id')}",
        author=school.get("name", ""),
        invariant=1,
    )
    story: list[Any] = []
    story.append(Paragraph(f"{_esc(school.get('name'))}: Academic Transcript", H1))
    as_of = transcript.get("as_of")
    stood = f"as recorded at {_esc(as_of)}" if as_of else "as currently recorded"
    story.append(
        Paragraph(
            f"County-district {_esc(school.get('district_code'))} &middot; school "
            f"{_esc(school.get('school_code'))} &middot; ledger {stood}, position "
            f"{_esc(transcript.get('position'))}",
            SMALL,
        )
    )
    name = f"{student.get('given_name', '')} {student.get('family_name', '')}".strip()
    story.append(Spacer(1, 4))
    story.append(
        _table(
            [
                ["Student", "District id", "State id (SSID)", "Grade", "Class of", "Status"],
                [
                    _esc(name),
                    _esc(student.get("local_id")),
                    _esc(student.get("state_student_id") or "not on file"),
                    _esc(student.get("grade_level")),
                    _esc(student.get("cohort")),
                    _esc(student.get("status")),
                ],
            ],
            [2.2, 1.0, 1.2, 0.6, 0.7, 0.9],
        )
    )

    years: dict[str, list[Mapping[str, Any]]] = {}
    for term in transcript.get("terms", ()):
        for c in term.get("credits", ()):
            if c.get("status") == "approved":
                years.setdefault(c.get("school_year") or term.get("school_year"), []).append(c)
    story.append(Paragraph("Credits by school year", H2))
    if not years:
        story.append(Paragraph("No approved credits yet.", BODY))
    for year in sorted(years):
        credits = sorted(
            years[year],
            key=lambda c: (_TERM_ORDER.get(c.get("term"), 99), c.get("area"), c.get("title")),
        )
        rows = [["Term", "Course", "Title", "Area", "Credits", "Mark", "Earned by"]]
        for c in credits:
            how = HOW.get(c.get("method"), c.get("method"))
            if c.get("work_based"):
                how += ", work-based"
            rows.append(
                [
                    _esc(c.get("term")),
                    _esc(c.get("course_id") or c.get("state_course_code") or ""),
                    Paragraph(_esc(c.get("title")), BODY),
                    _esc(c.get("area")),
                    _credits(c.get("amount")),
                    _esc(c.get("mark") or ""),
                    _esc(how) + (" (flagged)" if c.get("flagged") else ""),
                ]
            )
        total = sum((Decimal(str(c.get("amount") or 0)) for c in credits), Decimal(0))
        rows.append(["", "", f"{year} total", "", _credits(total), "", ""])
        story.append(
            KeepTogether(
                [Paragraph(_esc(year), BODY), _table(rows, [0.4, 0.8, 2.4, 0.5, 0.6, 0.5, 1.4])]
            )
        )

    story.append(Paragraph("Graduation progress (Washington, 24 credits)", H2))
    # A flagged credit stays on the record but counts as earned only once a registrar has
    # reviewed it: its own column keeps the year totals above and these totals reconcilable.
    rows = [["Area", "Name", "Required", "Earned", "Pending", "Flagged"]]
    for a in transcript.get("areas", ()):
        area_name = a.get("name") or WASHINGTON_REQUIREMENTS.get(a.get("area"), ("",))[0]
        rows.append(
            [
                _esc(a.get("area")),
                _esc(area_name),
                _credits(a.get("required")),
                _credits(a.get("earned")),
                _credits(a.get("pending")),
                _credits(a.get("flagged")),
            ]
        )
    totals = transcript.get("totals") or {}
    rows.append(
        [
            "",
            "Total",
            _credits(totals.get("required")),
            _credits(totals.get("earned")),
            _credits(totals.get("pending")),
            _credits(totals.get("flagged")),
        ]
    )
    story.append(_table(rows, [0.6, 2.2, 0.8, 0.8, 0.8, 0.8]))
    if Decimal(str(totals.get("flagged") or 0)):
        story.append(
            Paragraph(
                "Flagged: part of the credit's basis was retracted; it stays on the record "
                "and counts as earned again once a registrar re-confirms or amends it.",
                BODY,
            )
        )

    mastered = sorted(
        (m for m in mastery if m.get("mastered")),
        key=lambda m: (str(m.get("code") or m.get("competency_id")), str(m.get("framework_id"))),
    )
    story.append(Paragraph("Competencies mastered", H2))
    if mastered:
        rows = [["Code", "Competency", "Level", "Last judged"]]
        for m in mastered:
            statement = statements.get((str(m.get("framework_id")), str(m.get("competency_id"))))
            rows.append(
                [
                    _esc(m.get("code") or m.get("competency_id")),
                    Paragraph(_esc(statement or m.get("statement") or ""), BODY),
                    _esc(m.get("level")),
                    _day(m.get("last_judged_on")),
                ]
            )
        story.append(_table(rows, [0.9, 4.2, 0.6, 0.9]))
    else:
        story.append(Paragraph("None yet.", BODY))

    wbl = [c for year in sorted(years) for c in years[year] if c.get("work_based")]
    if wbl:
        story.append(Paragraph("Work-based learning credits: lineage", H2))
        rows = [["Credit", "Judgments", "Evidence", "Approved by", "On", "Lineage reference"]]
        for c in wbl:
            s = lineages.get(str(c.get("id"))) or lineage_summary(c, None)
            who = s.get("approved_by")
            rows.append(
                [
                    Paragraph(_esc(c.get("title")), BODY),
                    str(s["judgments"]),
                    str(s["evidence"]),
                    _esc(names.get(str(who), who) if who else ""),
                    _day(s.get("approved_at")),
                    Paragraph(f"credit {_esc(c.get('id'))}", SMALL),
                ]
            )
        story.append(_table(rows, [1.8, 0.6, 0.6, 1.2, 0.7, 2.2]))

    seal = (
        f"Produced under ledger checkpoint size {_esc(checkpoint['size'])}, root "
        f"{_esc(checkpoint['root'])}."
        if checkpoint
        else "No signed ledger checkpoint covered this state when it was printed."
    )
    story.append(Spacer(1, 6))
    story.append(Paragraph(seal, SMALL))
    doc.build(story)
    return out.getvalue()
