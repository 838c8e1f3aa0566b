"""The two projections, each applying one batch of event rows inside the caller's transaction.

Nothing here commits: the engine (``ReadModels``) wraps a batch's view changes and its tracking
position in one transaction. Caches live for one batch only, so memory stays flat however long
the log is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from projections import codec, reducer
from projections.db import Database
from projections.rows import STUDENT_OWNED, describe

Row = dict[str, Any]
IN_CHUNK = 500


def chunks(items: list[Any], n: int = IN_CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class Subjects:
    """originator id -> student id, for events (a verification, a retraction) that name none."""

    def __init__(self, db: Database, table: str) -> None:
        self.db, self.table, self.cache = db, table, {}
        self.new: list[tuple[str, str]] = []

    def prefetch(self, rows: list[Row]) -> None:
        """One query per batch for the owners of every event that names no student."""
        wanted = sorted(
            {
                r["originator_id"]
                for r in rows
                if r["type"].split(".", 1)[0] in STUDENT_OWNED
                and r["data"].get("student_id") is None
                and r["originator_id"] not in self.cache
            }
        )
        for part in chunks(wanted):
            marks = ",".join("?" * len(part))
            found = dict(
                self.db.all(
                    f"SELECT originator_id, student_id FROM {self.table} "  # noqa: S608
                    f"WHERE originator_id IN ({marks})",
                    part,
                )
            )
            for oid in part:
                self.cache.setdefault(oid, found.get(oid))

    def student_of(self, r: Row) -> str | None:
        aggregate = r["type"].split(".", 1)[0]
        oid = r["originator_id"]
        if aggregate == "Student":
            return oid
        sid = r["data"].get("student_id")
        if aggregate not in STUDENT_OWNED:
            return sid
        if sid is not None:
            if self.cache.get(oid) != sid:  # prefetch may have cached "unknown" for it
                self.new.append((oid, sid))
            self.cache[oid] = sid
            return sid
        if oid not in self.cache:
            found = self.db.one(
                f"SELECT student_id FROM {self.table} WHERE originator_id = ?",  # noqa: S608
                (oid,),
            )
            self.cache[oid] = found[0] if found else None
        return self.cache[oid]

    def flush(self) -> None:
        self.db.executemany(
            f"INSERT INTO {self.table} (originator_id, student_id) VALUES (?, ?) "  # noqa: S608
            "ON CONFLICT (originator_id) DO NOTHING",
            self.new,
        )
        self.new = []


def apply_audit(db: Database, rows: list[Row], hook: Callable[[Row], None]) -> None:
    subjects = Subjects(db, "view_audit_subjects")
    subjects.prefetch(rows)
    out = []
    for r in rows:
        out.append(
            (
                r["position"],
                codec.instant(r["recorded_at"]),
                r["effective_on"].isoformat(),
                r["type"],
                r["originator_id"],
                r["version"],
                r["actor_id"],
                r["actor_role"],
                r["correlation_id"],
                subjects.student_of(r),
                describe(r),
                r["why"],
            )
        )
    subjects.flush()
    db.executemany(
        "INSERT INTO view_audit (position, recorded_at, effective_on, type, originator_id, "
        "version, actor_id, actor_role, correlation_id, student_id, what, why) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        out,
    )


def framework_doc(fid: str, revision: int, d: Row) -> Row:
    return {
        "id": fid,
        "title": d["title"],
        "revision": revision,
        "method": d["method"],
        "scale": d["scale"],
        "competencies": d["competencies"],
        "credit_rules": d.get("credit_rules", []),
        "associations": d.get("associations", []),
        "graduation_area": d.get("graduation_area"),
    }


def load_states(db: Database, student_ids: list[str]) -> dict[str, Row]:
    states: dict[str, Row] = {}
    for part in chunks(student_ids):
        marks = ",".join("?" * len(part))
        for sid, text in db.all(
            f"SELECT student_id, state FROM view_student_state WHERE student_id IN ({marks})",  # noqa: S608
            part,
        ):
            states[sid] = codec.loads(text)
    for sid in student_ids:
        states.setdefault(sid, reducer.empty_state())
    return states


def current_frameworks(db: Database) -> dict[str, Row]:
    return {
        fid: codec.loads(doc)
        for fid, doc in db.all("SELECT framework_id, doc FROM view_frameworks")
    }


def apply_records(db: Database, rows: list[Row], hook: Callable[[Row], None]) -> None:
    subjects = Subjects(db, "view_originators")
    subjects.prefetch(rows)
    by_student: dict[str, list[Row]] = {}
    index, revisions, frameworks_changed = [], [], set()
    for r in rows:
        aggregate = r["type"].split(".", 1)[0]
        if r["type"] in ("Framework.Published", "Framework.Revised"):
            fid, d = r["originator_id"], r["data"]
            revision = d.get("revision", 1)
            definition = codec.dumps(d["definition"])
            revisions.append(
                (
                    fid,
                    revision,
                    r["position"],
                    codec.instant(r["recorded_at"]),
                    r["effective_on"].isoformat(),
                    definition,
                )
            )
            db.execute(
                "INSERT INTO view_frameworks (framework_id, revision, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (framework_id) DO UPDATE SET revision = excluded.revision, "
                "doc = excluded.doc",
                (fid, revision, codec.dumps(framework_doc(fid, revision, d["definition"]))),
            )
            frameworks_changed.add(fid)
            continue
        if aggregate not in STUDENT_OWNED and aggregate != "Student":
            continue
        sid = subjects.student_of(r)
        if sid is None:
            continue
        # The fold sees the row as the as-of queries will: after a round trip through storage.
        data_text = codec.dumps(r["data"])
        row = {**r, "data": codec.loads(data_text)}
        by_student.setdefault(sid, []).append(row)
        index.append(
            (
                r["position"],
                sid,
                r["originator_id"],
                r["version"],
                r["type"],
                codec.instant(r["recorded_at"]),
                r["effective_on"].isoformat(),
                int(r["is_correction"]),
                r["actor_id"],
                r["actor_role"],
                r["correlation_id"],
                data_text,
            )
        )
    subjects.flush()
    db.executemany(
        "INSERT INTO view_framework_revisions (framework_id, revision, position, recorded_at, "
        "effective_on, definition) VALUES (?, ?, ?, ?, ?, ?)",
        revisions,
    )
    db.executemany(
        "INSERT INTO view_student_events (position, student_id, originator_id, version, type, "
        "recorded_at, effective_on, is_correction, actor_id, actor_role, correlation_id, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        index,
    )
    touched = set(by_student)
    for fid in frameworks_changed:
        touched.update(
            sid
            for (sid,) in db.all(
                "SELECT DISTINCT student_id FROM view_mastery WHERE framework_id = ?", (fid,)
            )
        )
    if not touched:
        return
    states = load_states(db, sorted(touched))
    for sid, rs in by_student.items():
        for r in rs:
            reducer.apply(states[sid], r)
            hook(r)
    write_students(db, states, current_frameworks(db))


def write_students(db: Database, states: dict[str, Row], frameworks: dict[str, Row]) -> None:
    ids = sorted(states)
    for table in (
        "view_students",
        "view_student_people",
        "view_experiences",
        "view_credits",
        "view_mastery",
    ):
        for part in chunks(ids):
            marks = ",".join("?" * len(part))
            db.execute(f"DELETE FROM {table} WHERE student_id IN ({marks})", part)  # noqa: S608
    students, people, experiences, credits, mastery, saved = [], [], [], [], [], []
    for sid in ids:
        st = states[sid]
        s = reducer.student_row(st)
        if s is not None:
            students.append((sid, s["local_id"], s["school_code"], codec.dumps(s)))
            people += [(sid, "advisor", u) for u in s["advisors"]]
            people += [(sid, "guardian", u) for u in s["guardians"]]
        experiences += [
            (x["id"], sid, x["mentor_id"], codec.dumps(x)) for x in reducer.experience_rows(st)
        ]
        credits += [(c["id"], sid, c["status"], codec.dumps(c)) for c in reducer.credit_rows(st)]
        mastery += [
            (sid, m["framework_id"], m["competency_id"], codec.dumps(m))
            for m in reducer.mastery_rows(st, frameworks)
        ]
        saved.append((sid, st["position"], codec.dumps(st)))
    db.executemany(
        "INSERT INTO view_students (student_id, local_id, school_code, doc) VALUES (?, ?, ?, ?)",
        students,
    )
    db.executemany(
        "INSERT INTO view_student_people (student_id, relation, user_id) VALUES (?, ?, ?)", people
    )
    db.executemany(
        "INSERT INTO view_experiences (experience_id, student_id, mentor_id, doc) "
        "VALUES (?, ?, ?, ?)",
        experiences,
    )
    db.executemany(
        "INSERT INTO view_credits (credit_id, student_id, status, doc) VALUES (?, ?, ?, ?)", credits
    )
    db.executemany(
        "INSERT INTO view_mastery (student_id, framework_id, competency_id, doc) "
        "VALUES (?, ?, ?, ?)",
        mastery,
    )
    db.executemany(
        "INSERT INTO view_student_state (student_id, position, state) VALUES (?, ?, ?) "
        "ON CONFLICT (student_id) DO UPDATE SET position = excluded.position, "
        "state = excluded.state",
        saved,
    )


APPLY: dict[str, Callable[[Database, list[Row], Callable[[Row], None]], None]] = {
    "audit": apply_audit,
    "records": apply_records,
}
