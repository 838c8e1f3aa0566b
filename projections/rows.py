"""What the projections keep of one stored event: its index row, and its audit line.

Free text (reflection text, hours activity, captions, names) stays in the event store; the index
keeps ids, dates, amounts and levels, which is all a fold needs.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

TOPIC_PREFIX = "competency-ledger/"
FREE_TEXT = frozenset({"text", "activity", "caption", "name", "rationale", "reason", "digest"})
STANDARD = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "actor_id",
        "actor_role",
        "correlation_id",
        "effective_on",
    }
)
# Aggregates whose later events name no student: their id is mapped to the student at creation.
STUDENT_OWNED = ("Experience", "Reflection", "Artifact", "MentorNote", "Judgment", "Credit")


def plain(v: Any) -> Any:
    if isinstance(v, UUID):
        return str(v)
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def type_of(topic: str) -> str:
    return topic[len(TOPIC_PREFIX) :] if topic.startswith(TOPIC_PREFIX) else topic


def event_row(position: int, topic: str, event: Any) -> dict[str, Any]:
    fields = {k: v for k, v in vars(event).items() if k not in STANDARD}
    recorded: datetime = event.timestamp
    effective: date = getattr(event, "effective_on", None) or recorded.date()
    return {
        "position": position,
        "type": type_of(topic),
        "originator_id": str(event.originator_id),
        "version": event.originator_version,
        "recorded_at": recorded,
        "effective_on": effective,
        "is_correction": bool(getattr(event, "IS_CORRECTION", False)),
        "actor_id": getattr(event, "actor_id", None),
        "actor_role": getattr(event, "actor_role", None),
        "correlation_id": getattr(event, "correlation_id", None),
        "data": {k: plain(v) for k, v in fields.items() if k not in FREE_TEXT},
        "why": fields.get("reason") or fields.get("rationale") or None,
    }


def describe(row: dict[str, Any]) -> str:
    """One line of what happened, from ids, levels, dates and amounts only (no free text)."""
    t, d = row["type"], row["data"]
    aggregate, _, act = t.partition(".")
    words = {
        "Experience.HoursLogged": lambda: f"logged {d['hours']} hours on {row['effective_on']}",
        "Experience.HoursVerified": lambda: f"verified hours entry {d['entry_id']}",
        "Experience.HoursDisputed": lambda: f"disputed hours entry {d['entry_id']}",
        "Judgment.Recorded": lambda: (
            f"judged {d['competency_id']} at level {d['level']}"
            + (f", superseding {d['supersedes']}" if d.get("supersedes") else "")
        ),
        "Judgment.Superseded": lambda: f"judgment superseded by {d['superseded_by']}",
        "Judgment.CitedByCredit": lambda: f"judgment cited by credit {d['credit_id']}",
        "Credit.Proposed": lambda: (
            f"{d['method']} credit of {d['amount']} in {d['area']} proposed "
            f"for {d['school_year']} {d['term']}"
        ),
        "Credit.Flagged": lambda: f"credit flagged: judgment {d['judgment_id']}",
        "Credit.Amended": lambda: "credit amended: " + ", ".join(sorted(d["changes"]) or ["basis"]),
        "Student.DetailsCorrected": lambda: "details corrected: " + ", ".join(sorted(d["changes"])),
        "Student.AdvisorAssigned": lambda: f"advisor {d['advisor_id']} assigned",
        "Student.AdvisorUnassigned": lambda: f"advisor {d['advisor_id']} unassigned",
        "Student.GuardianLinked": lambda: f"guardian {d['guardian_id']} linked",
        "Student.GuardianUnlinked": lambda: f"guardian {d['guardian_id']} unlinked",
        "Framework.Revised": lambda: f"framework revised to revision {d['revision']}",
    }
    if t in words:
        try:
            return words[t]()
        except KeyError:
            pass
    split = "".join(" " + ch.lower() if ch.isupper() else ch for ch in act).strip()
    name = "".join(" " + ch.lower() if ch.isupper() else ch for ch in aggregate).strip()
    return f"{name} {split}".strip()


def amount(v: Any) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(str(v))
