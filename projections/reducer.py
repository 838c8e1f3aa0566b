"""The pure fold behind every per-student read model.

``apply(state, row)`` folds one indexed event into a student's state; ``derive_*`` turn a state
into the rows the views hold. The incremental projection and the as-of queries run exactly this
code: one over every event as it arrives, the other over the events recorded by T (or effective
by D), so a past transcript equals what the ledger showed then by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from ledger.domain.areas import TERMS, WASHINGTON_REQUIREMENTS
from projections.mastery import level_for, score

ZERO = Decimal(0)
Row = dict[str, Any]
State = dict[str, Any]

# Events applied in effective time whatever their own date: the corrections (IS_CORRECTION)
# and the flag/reconfirm pair that a retraction or supersession sets off and a registrar closes.
ALWAYS_IN_EFFECT = frozenset({"Credit.Flagged", "Credit.Reconfirmed"})


def empty_state() -> State:
    return {
        "position": 0,
        "student": None,
        "experiences": {},
        "evidence": {},
        "judgments": {},
        "credits": {},
    }


def in_effect_on(on: date) -> tuple[str, list[Any]]:
    """What is in effect on a date, as a condition on view_student_events (the ISO text of its
    dates sorts as the dates do): acts effective by then, corrections whatever their date (what
    we now know was true), and the flags that stand from when they were raised."""
    always = sorted(ALWAYS_IN_EFFECT)
    marks = ", ".join("?" * len(always))
    return (
        f"(effective_on <= ? OR is_correction <> 0 OR type IN ({marks}))",
        [on.isoformat(), *always],
    )


# ---------------------------------------------------------------- the fold
def _student(st: State, r: Row) -> None:
    d, t, s = r["data"], r["type"], st["student"]
    if t == "Student.Enrolled":
        st["student"] = {
            "id": r["originator_id"],
            "local_id": d["local_id"],
            "state_student_id": d.get("state_student_id"),
            "given_name": d["given_name"],
            "family_name": d["family_name"],
            "grade_level": d["grade_level"],
            "cohort": d["cohort"],
            "school_code": d["school_code"],
            "status": "enrolled",
            "advisors": [],
            "guardians": [],
        }
        return
    if s is None:
        return
    if t == "Student.DetailsCorrected":
        s.update({k: v for k, v in d["changes"].items() if k in s})
    elif t == "Student.AdvisorAssigned" and d["advisor_id"] not in s["advisors"]:
        s["advisors"].append(d["advisor_id"])
    elif t == "Student.AdvisorUnassigned" and d["advisor_id"] in s["advisors"]:
        s["advisors"].remove(d["advisor_id"])
    elif t == "Student.GuardianLinked" and d["guardian_id"] not in s["guardians"]:
        s["guardians"].append(d["guardian_id"])
    elif t == "Student.GuardianUnlinked" and d["guardian_id"] in s["guardians"]:
        s["guardians"].remove(d["guardian_id"])
    elif t == "Student.Withdrawn":
        s["status"] = "withdrawn"
    elif t == "Student.Graduated":
        s["status"] = "graduated"


def _experience(st: State, r: Row) -> None:
    d, t, oid = r["data"], r["type"], r["originator_id"]
    if t == "Experience.Planned":
        st["experiences"][oid] = {
            "id": oid,
            "student_id": d["student_id"],
            "kind": d["kind"],
            "title": d["title"],
            "partner_organisation": d["partner_organisation"],
            "mentor_id": d.get("mentor_id"),
            "starts_on": d["starts_on"],
            "ends_on": d["ends_on"],
            "paid": d.get("paid", False),
            "status": "planned",
            "hours": {"logged": ZERO, "verified": ZERO, "disputed": ZERO},
            # Entries not yet reviewed (id -> hours): a review moves them into a total, so the
            # state stays small however many hours a year logs.
            "unreviewed": {},
        }
        return
    x = st["experiences"].get(oid)
    if x is None:
        return
    status = {
        "Experience.Started": "started",
        "Experience.Completed": "completed",
        "Experience.Withdrawn": "withdrawn",
    }
    if t in status:
        x["status"] = status[t]
    elif t == "Experience.MentorReassigned":
        x["mentor_id"] = d["mentor_id"]
    elif t == "Experience.HoursLogged":
        x["unreviewed"][d["entry_id"]] = d["hours"]
        x["hours"]["logged"] += d["hours"]
    elif t in ("Experience.HoursVerified", "Experience.HoursDisputed"):
        hours = x["unreviewed"].pop(d["entry_id"], None)
        if hours is not None:
            x["hours"]["verified" if t == "Experience.HoursVerified" else "disputed"] += hours


def _evidence(st: State, r: Row) -> None:
    d, t, oid = r["data"], r["type"], r["originator_id"]
    kind = {
        "Reflection.Submitted": "reflection",
        "Artifact.Attached": "artifact",
        "MentorNote.Written": "mentor_note",
    }
    if t in kind:
        st["evidence"][oid] = {
            "kind": kind[t],
            "experience_id": d.get("experience_id"),
            "competencies": list(d.get("competencies") or d.get("ratings") or []),
            "version": 1,
        }
    elif t == "Reflection.Revised" and oid in st["evidence"]:
        st["evidence"][oid]["version"] = d["text_version"]
        st["evidence"][oid]["competencies"] = list(d["competencies"])


def _judgment(st: State, r: Row) -> None:
    d, t, oid = r["data"], r["type"], r["originator_id"]
    if t == "Judgment.Recorded":
        st["judgments"][oid] = {
            "id": oid,
            "framework_id": d["framework_id"],
            "framework_revision": d["framework_revision"],
            "competency_id": d["competency_id"],
            "level": d["level"],
            "evidence": d["evidence"],
            "effective_on": r["effective_on"],
            "recorded_at": r["recorded_at"],
            "position": r["position"],
            "status": "standing",
            "supersedes": d.get("supersedes"),
            "superseded_by": None,
        }
        return
    j = st["judgments"].get(oid)
    if j is None:
        return
    if t == "Judgment.Retracted":
        j["status"] = "retracted"
    elif t == "Judgment.Superseded":
        j["status"] = "superseded"
        j["superseded_by"] = d["superseded_by"]


def _credit(st: State, r: Row) -> None:
    d, t, oid = r["data"], r["type"], r["originator_id"]
    if t == "Credit.Proposed":
        basis = d["basis"]
        st["credits"][oid] = {
            "id": oid,
            "student_id": d["student_id"],
            "title": d["title"],
            "area": d["area"],
            "amount": d["amount"],
            "method": d["method"],
            "status": "proposed",
            "open_flags": [],
            "school_year": d["school_year"],
            "term": d["term"],
            "course_id": d.get("course_id"),
            "state_course_code": d.get("state_course_code"),
            "mark": d.get("mark"),
            "rule_id": d.get("rule_id"),
            "basis": basis,
            "cited_judgments": list(basis.get("judgments", [])),
            "proposed_by": r["actor_id"],
            "proposed_at": r["recorded_at"],
            "approved_by": None,
            "approved_at": None,
            "approved_on": None,
        }
        return
    c = st["credits"].get(oid)
    if c is None:
        return
    if t == "Credit.Approved":
        c.update(status="approved", approved_by=r["actor_id"], approved_at=r["recorded_at"])
        c["approved_on"] = r["effective_on"]
    elif t == "Credit.Rejected":
        c["status"] = "rejected"
    elif t == "Credit.Flagged":
        if d["judgment_id"] not in c["open_flags"]:
            c["open_flags"].append(d["judgment_id"])
    elif t == "Credit.Reconfirmed":
        c["open_flags"] = []
    elif t == "Credit.Revoked":
        c["status"] = "revoked"
        c["open_flags"] = []
    elif t == "Credit.Amended":
        for k, v in d["changes"].items():
            c[k] = Decimal(str(v)) if k == "amount" else v
        if d.get("basis") is not None:
            c["basis"] = d["basis"]
            for j in d["basis"].get("judgments", []):
                if j not in c["cited_judgments"]:
                    c["cited_judgments"].append(j)
        c["open_flags"] = []


_BY_AGGREGATE: dict[str, Callable[[State, Row], None]] = {
    "Student": _student,
    "Experience": _experience,
    "Reflection": _evidence,
    "Artifact": _evidence,
    "MentorNote": _evidence,
    "Judgment": _judgment,
    "Credit": _credit,
}


def apply(st: State, r: Row) -> State:
    handler = _BY_AGGREGATE.get(r["type"].split(".", 1)[0])
    if handler is not None:
        handler(st, r)
    st["position"] = max(st["position"], r["position"])
    return st


def fold(rows: Iterable[Row]) -> State:
    st = empty_state()
    for r in rows:
        apply(st, r)
    return st


# ---------------------------------------------------------------- derived rows
def student_row(st: State) -> Row | None:
    s = st["student"]
    return (
        None
        if s is None
        else {**s, "advisors": list(s["advisors"]), "guardians": list(s["guardians"])}
    )


def experience_rows(st: State) -> list[Row]:
    out = []
    for x in st["experiences"].values():
        row = {k: v for k, v in x.items() if k not in ("unreviewed", "paid")}
        row["hours"] = dict(x["hours"])
        out.append(row)
    return sorted(out, key=lambda r: (r["starts_on"], r["id"]))


def credit_rows(st: State) -> list[Row]:
    out = []
    for c in st["credits"].values():
        courses = c["basis"].get("courses") or []
        attempted = courses[0].get("credits_attempted") if courses else None
        out.append(
            {
                "id": c["id"],
                "student_id": c["student_id"],
                "title": c["title"],
                "area": c["area"],
                "amount": c["amount"],
                "method": c["method"],
                "status": c["status"],
                "flagged": bool(c["open_flags"]),
                "open_flags": list(c["open_flags"]),
                "school_year": c["school_year"],
                "term": c["term"],
                "course_id": c["course_id"],
                "state_course_code": c["state_course_code"],
                "mark": c["mark"],
                "credits_attempted": Decimal(attempted) if attempted else c["amount"],
                "work_based": c["method"] in ("mastery", "hours"),
                "mastery_based": c["method"] == "mastery",
                "basis": c["basis"],
                "rule_id": c["rule_id"],
                "cited_judgments": list(c["cited_judgments"]),
                "proposed_by": c["proposed_by"],
                "proposed_at": c["proposed_at"],
                "approved_by": c["approved_by"],
                "approved_at": c["approved_at"],
                "approved_on": c["approved_on"],
            }
        )
    return sorted(out, key=_term_key)


def _term_key(c: Row) -> tuple:
    term = TERMS.index(c["term"]) if c["term"] in TERMS else len(TERMS)
    return (c["school_year"], term, c["proposed_at"], c["id"])


def mastery_rows(st: State, frameworks: dict[str, Row]) -> list[Row]:
    """One row per (framework, competency) the student was ever judged on.

    ``frameworks`` maps framework id -> its definition (scale, method, competencies) as of the
    same instant as the state.
    """
    groups: dict[tuple[str, str], list[Row]] = {}
    for j in st["judgments"].values():
        groups.setdefault((j["framework_id"], j["competency_id"]), []).append(j)
    out = []
    for (fid, cid), js in groups.items():
        d = frameworks.get(fid)
        if d is None:
            continue
        levels = d["scale"]["levels"]
        values = {lv["code"]: lv["value"] for lv in levels}
        method = d["method"]
        threshold = min(
            Decimal(lv["value"]) for lv in levels if lv["mastery"] and lv["value"] is not None
        )
        if method.get("order_by") == "recorded":
            order = lambda j: (j["recorded_at"], j["position"])  # noqa: E731
        else:
            order = lambda j: (j["effective_on"], j["position"])  # noqa: E731
        standing = sorted((j for j in js if j["status"] == "standing"), key=order)
        counted = [j for j in standing if values.get(j["level"]) is not None]
        scores = [Decimal(values[j["level"]]) for j in counted]
        parameter = method.get("parameter")
        value = score(
            method["name"], None if parameter is None else Decimal(parameter), scores, threshold
        )
        if method["name"] == "n_mastery":
            n = int(parameter if parameter is not None else 3)
            mastered = sum(1 for s in scores if s >= threshold) >= n
        else:
            mastered = value is not None and value >= threshold
        comp = next((c for c in d["competencies"] if c["id"] == cid), None)
        evidence = {
            (e["kind"], e["id"], e.get("entry_id")) for j in standing for e in j["evidence"]
        }
        out.append(
            {
                "framework_id": fid,
                "competency_id": cid,
                "code": comp.get("code") if comp else None,
                "statement": comp.get("statement") if comp else None,
                "score": value,
                "level": level_for(value, levels),
                "mastered": mastered,
                "counted_judgments": [j["id"] for j in counted],
                "evidence_count": len(evidence),
                "last_judged_on": max((j["effective_on"] for j in standing), default=None),
            }
        )
    return sorted(out, key=lambda r: (r["framework_id"], r["competency_id"]))


# ---------------------------------------------------------------- documents built from rows
def hours_doc(experiences: list[Row], credits: list[Row]) -> Row:
    credited_ids = {
        str(x)
        for c in credits
        if c["status"] == "approved"
        for x in (c["basis"].get("experiences") or [])
    }
    items = []
    totals = {"logged": ZERO, "verified": ZERO, "disputed": ZERO, "credited": ZERO}
    for x in experiences:
        h = x["hours"]
        item = {
            "experience_id": x["id"],
            "title": x["title"],
            "logged": h["logged"],
            "verified": h["verified"],
            "disputed": h["disputed"],
            "credited": h["verified"] if x["id"] in credited_ids else ZERO,
        }
        items.append(item)
        for k in totals:
            totals[k] += item[k]
    return {"experiences": items, "totals": totals}


def transcript_doc(
    student: Row | None,
    credits: list[Row],
    requirements: dict[str, tuple[str, Decimal]] | None = None,
    position: int = 0,
) -> Row:
    """Terms and graduation areas. Each credit counts in exactly one bucket: flagged (an open
    flag, approved or proposed), else earned (approved), else pending (proposed); rejected and
    revoked credits leave the transcript."""
    reqs = requirements if requirements is not None else WASHINGTON_REQUIREMENTS
    shown = [c for c in credits if c["status"] in ("approved", "proposed")]
    terms: dict[tuple[str, str], list[Row]] = {}
    for c in shown:
        terms.setdefault((c["school_year"], c["term"]), []).append(c)
    areas = {
        code: {"area": code, "name": name, "required": req} for code, (name, req) in reqs.items()
    }
    for c in shown:
        areas.setdefault(c["area"], {"area": c["area"], "name": c["area"], "required": ZERO})
    for a in areas.values():
        a.update(earned=ZERO, pending=ZERO, flagged=ZERO)
    for c in shown:
        bucket = "flagged" if c["flagged"] else "earned" if c["status"] == "approved" else "pending"
        areas[c["area"]][bucket] += c["amount"]
    totals = {
        k: sum((a[k] for a in areas.values()), ZERO)
        for k in ("required", "earned", "pending", "flagged")
    }
    return {
        "student": student,
        "position": position,
        "terms": [
            {"school_year": y, "term": t, "credits": cs}
            for (y, t), cs in sorted(
                terms.items(),
                key=lambda kv: (kv[0][0], TERMS.index(kv[0][1]) if kv[0][1] in TERMS else 99),
            )
        ],
        "areas": list(areas.values()),
        "totals": totals,
    }
