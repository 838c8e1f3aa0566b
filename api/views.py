"""Single resources as the API shows them, read from their aggregate (current state, with the
version that makes the ETag). Lists and computed reads come from the read models instead."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledger.domain import Credit, Experience, Framework, Judgment, Student


def student(s: Student) -> dict[str, Any]:
    return {
        "id": str(s.id),
        "version": s.version,
        "local_id": s.local_id,
        "state_student_id": s.state_student_id,
        "given_name": s.given_name,
        "family_name": s.family_name,
        "grade_level": s.grade_level,
        "cohort": s.cohort,
        "school_code": s.school_code,
        "status": s.status,
        "advisors": list(s.advisors),
        "guardians": list(s.guardians),
    }


def framework(fw: Framework) -> dict[str, Any]:
    d = fw.definition.to_dict()
    return {
        "id": str(fw.id),
        "version": fw.version,
        "revision": fw.revision,
        "title": d["title"],
        "method": d["method"],
        "scale": d["scale"],
        "competencies": d["competencies"],
        "credit_rules": d["credit_rules"],
        "associations": d["associations"],
        "graduation_area": d["graduation_area"],
    }


def experience(x: Experience) -> dict[str, Any]:
    # "logged" is every entry, as in the read models' rows; an entry's status says whether it
    # was reviewed since ("logged" there means not yet).
    hours = {"logged": Decimal(0), "verified": Decimal(0), "disputed": Decimal(0)}
    for amount, status, _day in x.entries.values():
        hours["logged"] += amount
        if status != "logged":
            hours[status] += amount
    return {
        "id": str(x.id),
        "version": x.version,
        "student_id": str(x.student_id),
        "kind": x.kind,
        "title": x.title,
        "mentor_id": x.mentor_id,
        "starts_on": x.starts_on,
        "ends_on": x.ends_on,
        "status": x.status,
        "paid": x.paid,
        "target_competencies": list(x.target_competencies),
        "hours": hours,
        "entries": [
            {"id": entry_id, "hours": amount, "status": status, "worked_on": day}
            for entry_id, (amount, status, day) in x.entries.items()
        ],
    }


def judgment(j: Judgment) -> dict[str, Any]:
    return {
        "id": str(j.id),
        "version": j.version,
        "student_id": str(j.student_id),
        "framework_id": str(j.framework_id),
        "framework_revision": j.framework_revision,
        "competency_id": j.competency_id,
        "level": j.level,
        "evidence": list(j.evidence),
        "status": j.status,
        "cited_by": list(j.cited_by),
    }


def credit(c: Credit) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "version": c.version,
        "student_id": str(c.student_id),
        "area": c.area,
        "amount": c.amount,
        "method": c.method,
        "status": c.status,
        "flagged": c.is_flagged,
        "open_flags": list(c.open_flags),
        "school_year": c.school_year,
        "term": c.term,
        "basis": c.basis,
    }
