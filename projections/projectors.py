"""The two projections, applying pages of event rows inside the caller's transaction.

Nothing here commits: the engine (``ReadModels``) wraps a transaction's view changes and its
tracking position together. A transaction applies one or more pages (``Run.apply``) and ends
with ``Run.finish``, which writes back the students it changed. Folded student states are kept
across the transactions of one catch-up (``States``), bounded in number and dropped once a
student has not been touched for a while, so memory stays flat however long the log is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from projections import codec, reducer
from projections.db import Database, Statements
from projections.rows import STUDENT_OWNED, describe

Row = dict[str, Any]
IN_CHUNK = 500


def chunks(items: list[Any], n: int = IN_CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class Subjects:
    """originator id -> student id, for events (a verification, a retraction) that name none."""

    def __init__(self, db: Database, table: str) -> None:
        self.db, self.table = db, table
        self.cache: OrderedDict[str, str | None] = OrderedDict()  # least recently used first
        self.seen: dict[str, int] = {}  # originator id -> position of its last event
        self.new: list[tuple[str, str]] = []

    def prefetch(self, rows: list[Row]) -> None:
        """One query per page for the owners of the page's originators not known yet: of the
        events that name no student, to find it; of those that do, to know whether the table
        holds it already (so that ``flush`` inserts only new ones, with no conflict clause)."""
        wanted = sorted(
            {
                r["originator_id"]
                for r in rows
                if r["originator_id"] not in self.cache
                and r["type"].split(".", 1)[0] in STUDENT_OWNED
            }
        )
        for part in chunks(wanted):
            where, params = self.db.among("originator_id", part)
            found = dict(
                self.db.lookup(
                    f"SELECT originator_id, student_id FROM {self.table} WHERE {where}",  # noqa: S608
                    params,
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
            if oid not in self.cache:  # not prefetched: look it up as the table holds it
                self._look_up(oid)
            if self.cache[oid] is None:  # not in the table yet (nor among self.new)
                self.new.append((oid, sid))
            self.cache[oid] = sid
            self._touch(oid, r["position"])
            return sid
        if oid not in self.cache:
            self._look_up(oid)
        self._touch(oid, r["position"])
        return self.cache[oid]

    def _touch(self, oid: str, position: int) -> None:
        self.cache.move_to_end(oid)
        self.seen[oid] = position

    def trim(self, position: int, window: int) -> None:
        """Lets go of the least recently used beyond the limit, and of those not used within
        ``window`` positions (an originator's events end with its student's year)."""
        cache, seen = self.cache, self.seen
        while cache:
            oid = next(iter(cache))
            if len(cache) <= MAX_SUBJECTS and seen.get(oid, position) > position - window:
                break
            del cache[oid]
            seen.pop(oid, None)

    def _look_up(self, oid: str) -> None:
        found = self.db.lookup(
            f"SELECT student_id FROM {self.table} WHERE originator_id = ?",  # noqa: S608
            (oid,),
        )
        self.cache[oid] = found[0][0] if found else None

    def flush(self) -> None:
        self.db.insert_rows(self.table, ("originator_id", "student_id"), self.new)
        self.new = []


AUDIT_COLUMNS = (
    "position",
    "recorded_at",
    "effective_on",
    "type",
    "originator_id",
    "version",
    "actor_id",
    "actor_role",
    "correlation_id",
    "student_id",
    "what",
    "why",
)
INDEX_COLUMNS = (
    "position",
    "student_id",
    "originator_id",
    "version",
    "type",
    "recorded_at",
    "effective_on",
    "is_correction",
    "actor_id",
    "actor_role",
    "correlation_id",
    "data",
)
# The view tables an aggregate's events change, besides the student's state: a state holds
# everything, each table derives from one part of it (reflections and the other evidence only
# feed the state, which mastery lineage reads).
TABLES_OF = {
    "Student": ("view_students", "view_student_people"),
    "Experience": ("view_experiences",),
    "Judgment": ("view_mastery",),
    "Credit": ("view_credits",),
}
STUDENT_TABLES = (
    "view_students",
    "view_student_people",
    "view_experiences",
    "view_credits",
    "view_mastery",
)
# Students whose folded state a catch-up keeps in memory (about 64 KB each at the end of a
# school year), and how long an untouched one stays: this many log positions per student held.
MAX_STATES = 4096
IDLE_POSITIONS, MIN_WINDOW = 50, 10_000
# Originator -> student entries a transaction keeps (least recently used go first).
MAX_SUBJECTS = 50_000


def _times(r: Row) -> tuple[str, str]:
    """The row's recorded time and effective date as stored: both projections write them."""
    times = r.get("_times")
    if times is None:
        times = r["_times"] = (codec.instant(r["recorded_at"]), r["effective_on"].isoformat())
    return times


def apply_audit(db: Database, rows: list[Row], subjects: Subjects) -> None:
    subjects.prefetch(rows)
    out = []
    for r in rows:
        out.append(
            (
                r["position"],
                *_times(r),
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
    db.insert_rows("view_audit", AUDIT_COLUMNS, out)


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


def load_states(db: Statements, student_ids: list[str]) -> dict[str, Row]:
    states: dict[str, Row] = {}
    for part in chunks(student_ids):
        where, params = db.among("student_id", part)
        for sid, text in db.lookup(
            f"SELECT student_id, state FROM view_student_state WHERE {where}",  # noqa: S608
            params,
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


class States:
    """Folded student states, kept across the transactions of one catch-up so that a student
    is read and decoded once, not once per transaction; each transaction writes back only the
    students it changed, and of those only the view tables their events change.

    Valid only while nothing else wrote the views: ``check`` compares the tracking positions
    read under the tracking lock with those this cache last committed, and empties it if they
    differ (another projector ran, or a rebuild reset them). A rolled-back transaction also
    empties it (``clear``): its states were changed in place."""

    def __init__(self, limit: int | None = None, idle: int | None = None) -> None:
        self.limit = MAX_STATES if limit is None else limit
        self.idle = IDLE_POSITIONS if idle is None else idle
        self.states: OrderedDict[str, Row] = OrderedDict()  # least recently touched first
        self.touched_at: dict[str, int] = {}
        self.positions: dict[str, int] | None = None

    def check(self, tracked: dict[str, int]) -> None:
        if self.positions != tracked:
            self.clear()

    def clear(self) -> None:
        self.states.clear()
        self.touched_at.clear()
        self.positions = None

    def committed(self, positions: dict[str, int]) -> None:
        self.positions = dict(positions)

    def stale(self, position: int) -> list[str]:
        """The students to let go: the oldest beyond the limit, and those untouched for longer
        than ``idle`` positions per student held (least recently touched first). The more
        students are active, the longer each one's gaps between events: a fixed window let go,
        write back and read again most of a 2,000-student district's states between two of
        their events."""
        out, keep = [], len(self.states)
        since = position - self.window()
        for sid in self.states:
            if keep <= self.limit and self.touched_at[sid] > since:
                break
            out.append(sid)
            keep -= 1
        return out

    def window(self) -> int:
        """How many positions an untouched student (or originator) stays."""
        return max(MIN_WINDOW, self.idle * len(self.states))

    def drop(self, ids: list[str]) -> None:
        for sid in ids:
            del self.states[sid]
            del self.touched_at[sid]


class Run:
    """The projections' work inside one transaction: pages of rows in, ``finish`` at the end."""

    def __init__(self, db: Database, hook: Callable[[Row], None], states: States) -> None:
        self.db, self.hook, self.cache = db, hook, states
        self.audit_subjects = Subjects(db, "view_audit_subjects")
        self.record_subjects = Subjects(db, "view_originators")
        self.dirty: dict[str, set[str]] = {}
        self.position = 0

    def apply(self, name: str, rows: list[Row]) -> None:
        self.position = max(self.position, rows[-1]["position"])
        if name == "audit":
            apply_audit(self.db, rows, self.audit_subjects)
            self.audit_subjects.trim(self.position, self.cache.window())
        else:
            self._records(rows)
            self.record_subjects.trim(self.position, self.cache.window())

    def _records(self, rows: list[Row]) -> None:
        db, subjects = self.db, self.record_subjects
        subjects.prefetch(rows)
        by_student: dict[str, list[Row]] = {}
        index, revisions, frameworks_changed = [], [], set()
        for r in rows:
            aggregate = r["type"].split(".", 1)[0]
            if r["type"] in ("Framework.Published", "Framework.Revised"):
                fid, d = r["originator_id"], r["data"]
                revision = d.get("revision", 1)
                revisions.append(
                    (
                        fid,
                        revision,
                        r["position"],
                        codec.instant(r["recorded_at"]),
                        r["effective_on"].isoformat(),
                        codec.dumps(d["definition"]),
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
            # The row's data is as the as-of queries will see it, after a round trip through
            # storage (StoredRows decodes it so).
            by_student.setdefault(sid, []).append(r)
            index.append(
                (
                    r["position"],
                    sid,
                    r["originator_id"],
                    r["version"],
                    r["type"],
                    *_times(r),
                    int(r["is_correction"]),
                    r["actor_id"],
                    r["actor_role"],
                    r["correlation_id"],
                    codec.dumps(r["data"]),
                )
            )
        subjects.flush()
        db.insert_rows(
            "view_framework_revisions",
            ("framework_id", "revision", "position", "recorded_at", "effective_on", "definition"),
            revisions,
        )
        db.insert_rows("view_student_events", INDEX_COLUMNS, index)
        states = self._states(by_student, frameworks_changed)
        for sid, rs in by_student.items():
            st, dirty = states[sid], self.dirty.setdefault(sid, set())
            for r in rs:
                reducer.apply(st, r)
                dirty.update(TABLES_OF.get(r["type"].split(".", 1)[0], ()))
                self.hook(r)

    def _states(self, by_student: dict[str, list[Row]], frameworks: set[str]) -> States:
        cache = self.cache
        wanted, judged = set(by_student), set()
        if frameworks:
            # Whoever was judged against a changed framework gets its mastery rows again:
            # the committed ones say who in the table, the states in memory who since.
            for fid in frameworks:
                judged.update(
                    sid
                    for (sid,) in self.db.lookup(
                        "SELECT DISTINCT student_id FROM view_mastery WHERE framework_id = ?",
                        (fid,),
                    )
                )
            judged.update(
                sid
                for sid, st in cache.states.items()
                if any(j["framework_id"] in frameworks for j in st["judgments"].values())
            )
            wanted |= judged
        missing = sorted(sid for sid in wanted if sid not in cache.states)
        if missing:
            cache.states.update(load_states(self.db, missing))
        position = max(r[-1]["position"] for r in by_student.values()) if by_student else 0
        for sid in wanted:
            cache.states.move_to_end(sid)
            cache.touched_at[sid] = max(position, cache.touched_at.get(sid, 0))
            if sid in judged:
                self.dirty.setdefault(sid, set()).add("view_mastery")
        return cache.states  # type: ignore[return-value]

    def settle(self) -> None:
        """Writes back and lets go of the students no longer being touched, so that memory
        follows the students active at once, not the log's length."""
        stale = self.cache.stale(self.position)
        dirty = {sid: self.dirty.pop(sid) for sid in stale if sid in self.dirty}
        if dirty:
            write_students(self.db, self.cache.states, dirty, current_frameworks(self.db))
        self.cache.drop(stale)

    def finish(self) -> None:
        """Writes back every student changed since the last write; keeps their states."""
        if self.dirty:
            write_students(self.db, self.cache.states, self.dirty, current_frameworks(self.db))
            self.dirty = {}
        self.settle()


def write_students(
    db: Database, states: dict[str, Row], dirty: dict[str, set[str]], frameworks: dict[str, Row]
) -> None:
    """Rewrites each dirty student's state and the view tables named for it."""
    ids = sorted(dirty)
    for table in STUDENT_TABLES:
        mine = [sid for sid in ids if table in dirty[sid]]
        for part in chunks(mine):
            where, params = db.among("student_id", part)
            db.lookup(f"DELETE FROM {table} WHERE {where}", params)  # noqa: S608
    for part in chunks(ids):
        where, params = db.among("student_id", part)
        db.lookup(f"DELETE FROM view_student_state WHERE {where}", params)  # noqa: S608
    students, people, experiences, credits, mastery, saved = [], [], [], [], [], []
    for sid in ids:
        st, tables = states[sid], dirty[sid]
        if "view_students" in tables:
            s = reducer.student_row(st)
            if s is not None:
                students.append((sid, s["local_id"], s["school_code"], codec.dumps(s)))
                people += [(sid, "advisor", u) for u in s["advisors"]]
                people += [(sid, "guardian", u) for u in s["guardians"]]
        if "view_experiences" in tables:
            experiences += [
                (x["id"], sid, x["mentor_id"], codec.dumps(x)) for x in reducer.experience_rows(st)
            ]
        if "view_credits" in tables:
            credits += [
                (c["id"], sid, c["status"], codec.dumps(c)) for c in reducer.credit_rows(st)
            ]
        if "view_mastery" in tables:
            mastery += [
                (sid, m["framework_id"], m["competency_id"], codec.dumps(m))
                for m in reducer.mastery_rows(st, frameworks)
            ]
        saved.append((sid, st["position"], codec.dumps(st)))
    db.insert_rows("view_students", ("student_id", "local_id", "school_code", "doc"), students)
    db.insert_rows("view_student_people", ("student_id", "relation", "user_id"), people)
    db.insert_rows(
        "view_experiences", ("experience_id", "student_id", "mentor_id", "doc"), experiences
    )
    db.insert_rows("view_credits", ("credit_id", "student_id", "status", "doc"), credits)
    db.insert_rows("view_mastery", ("student_id", "framework_id", "competency_id", "doc"), mastery)
    db.insert_rows("view_student_state", ("student_id", "position", "state"), saved)
