"""JSON for view rows that gives back the types it was given: Decimal, date, datetime, UUID-as-str.

View tables hold derived rows as JSON text (the same on SQLite and PostgreSQL); a tagged encoding
keeps amounts exact and dates typed without a schema per row.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return {"$dec": str(obj)}
    if isinstance(obj, datetime):
        return {"$dt": obj.isoformat()}
    if isinstance(obj, date):
        return {"$date": obj.isoformat()}
    if isinstance(obj, UUID):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _hook(d: dict[str, Any]) -> Any:
    if len(d) == 1:
        if "$dec" in d:
            return Decimal(d["$dec"])
        if "$dt" in d:
            return datetime.fromisoformat(d["$dt"])
        if "$date" in d:
            return date.fromisoformat(d["$date"])
    return d


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=_default, sort_keys=True, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text, object_hook=_hook)


def instant(dt: datetime) -> str:
    """A recorded time as sortable text: UTC, fixed width, so string order is time order."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    # isoformat writes the same text as strftime("%Y-%m-%dT%H:%M:%S.%f") for years 1000 and on,
    # at a fifth of its cost; a rebuild formats two per event.
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_instant(text: str) -> datetime:
    # fromisoformat reads the fixed-width form `instant` writes ("...Z" is UTC since 3.11) at a
    # twentieth of strptime's cost; as-of queries parse one per event of the student's history.
    return datetime.fromisoformat(text)
