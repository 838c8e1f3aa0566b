"""What the projections keep of one stored event: its index row, and its audit line.

Free text (reflection text, hours activity, captions, names) stays in the event store; the index
keeps ids, dates, amounts and levels, which is all a fold needs.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from projections import codec

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


class _Fallback(Exception):
    """A stored event the direct decoder does not read the way the library would."""


class StoredRows:
    """Stored events -> the rows ``event_row`` makes, read straight from the stored JSON.

    The library's mapper builds a domain event object per stored event (and its transcoder a
    UUID, Decimal or datetime per tagged value) only for ``event_row`` to turn it back into
    plain values; that was a fifth of a rebuild's time. This decoder maps the tagged values
    straight to what a view row holds after a round trip through ``codec`` (UUID -> str, Decimal,
    date, datetime), which is what the fold sees either way. Anything it does not read exactly
    as the mapper would (a cipher or compressor, an event class with upcasters, a transcoding
    it does not know) goes through the mapper."""

    def __init__(self, mapper: Any) -> None:
        from eventsourcing.persistence import JSONTranscoder

        self.mapper = mapper
        transcoder = mapper.transcoder
        self.direct = (
            mapper.cipher is None
            and mapper.compressor is None
            and type(transcoder) is JSONTranscoder
        )
        self.decoder = json.JSONDecoder(object_hook=self._hook)
        self.kinds: dict[str, tuple[Any, ...] | None] = {}

    def _kind(self, topic: str) -> tuple[Any, ...] | None:
        from eventsourcing.utils import resolve_topic

        if topic not in self.kinds:
            cls = resolve_topic(topic)
            if getattr(cls, "class_version", 1) != 1 or any(
                name.startswith("upcast_v") for name in dir(cls)
            ):
                self.kinds[topic] = None
            else:
                # What getattr on the event finds when its state lacks a field: the class's.
                defaults = {
                    n: getattr(cls, n, None)
                    for n in ("actor_id", "actor_role", "correlation_id", "effective_on")
                }
                self.kinds[topic] = (
                    type_of(topic),
                    bool(getattr(cls, "IS_CORRECTION", False)),
                    defaults,
                )
        return self.kinds[topic]

    def _hook(self, d: dict[str, Any]) -> Any:
        n = len(d)
        if n == 2 and "_type_" in d and "_data_" in d:
            name, data = d["_type_"], d["_data_"]
            if name == "uuid_hex":
                # UUID.hex wrote it: 32 lowercase digits, hyphenated as str(UUID) would.
                if len(data) == 32:
                    return f"{data[:8]}-{data[8:12]}-{data[12:16]}-{data[16:20]}-{data[20:]}"
                return str(UUID(data))
            if name == "decimal_str":
                return Decimal(data)
            if name == "datetime_iso":
                return datetime.fromisoformat(data)
            if name == "date_iso":
                return date.fromisoformat(data)
            raise _Fallback(name)
        if n == 1:
            # What codec.loads would make of this dict after codec.dumps.
            return codec._hook(d)
        return d

    def row(self, note: tuple[int, Any, int, str, bytes]) -> dict[str, Any]:
        """One stored event as (notification id, originator id, version, topic, state)."""
        position, oid, version, topic, state = note
        kind = self.kinds.get(topic) if topic in self.kinds else self._kind(topic)
        if kind is not None and self.direct:
            try:
                fields = self.decoder.decode(state.decode("utf8"))
            except _Fallback:
                fields = None
            if fields is not None and "class_version" not in fields:
                type_, is_correction, defaults = kind
                recorded: datetime = fields["timestamp"]
                get = fields.get
                return {
                    "position": position,
                    "type": type_,
                    "originator_id": str(oid),
                    "version": version,
                    "recorded_at": recorded,
                    "effective_on": get("effective_on", defaults["effective_on"])
                    or recorded.date(),
                    "is_correction": is_correction,
                    "actor_id": get("actor_id", defaults["actor_id"]),
                    "actor_role": get("actor_role", defaults["actor_role"]),
                    "correlation_id": get("correlation_id", defaults["correlation_id"]),
                    "data": {
                        k: v for k, v in fields.items() if k not in STANDARD and k not in FREE_TEXT
                    },
                    "why": get("reason") or get("rationale") or None,
                }
        from eventsourcing.persistence import Notification

        return _mapped(Notification(position, oid, version, topic, state), self.mapper)


def _mapped(n: Any, mapper: Any) -> dict[str, Any]:
    row = event_row(n.id, n.topic, mapper.to_domain_event(n))
    # The fold and the index see data after a round trip through storage, as the direct
    # decoder gives it.
    row["data"] = codec.loads(codec.dumps(row["data"]))
    return row
