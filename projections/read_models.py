"""``ReadModels``: keeps the view tables current from the notification log and answers queries.

See docs/read-models.md (the contract) and docs/projections.md (how it works).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import structlog

from ledger.domain.areas import WASHINGTON_REQUIREMENTS
from ledger.errors import InvalidCommand
from projections import codec, reducer
from projections.db import Database, LockBusy, Statements
from projections.projectors import AUDIT_COLUMNS, Run, States, load_states
from projections.rows import StoredRows
from projections.schema import BEYOND_EXPERIENCES, PROJECTIONS, TABLES, TRACKING, deferred

Row = dict[str, Any]
log = structlog.get_logger(__name__)
SETUP_LOCK = 0x1ED6E5  # advisory lock key: view-table set-up, one process at a time
MAX_LIMIT = 500
# What the transcript is derived from (reducer.student_row and reducer.credit_rows read only
# these aggregates' state); an as-of transcript folds nothing else.
TRANSCRIPT_AGGREGATES = ("Student", "Credit")
REBUILD_EVENTS, REBUILD_EVENTS_SQLITE = 250_000, 10_000
EVENT_COLUMNS = (
    "position, originator_id, version, type, actor_id, actor_role, recorded_at, effective_on, "
    "correlation_id"
)


@dataclass(frozen=True)
class Page:
    items: list[dict]
    next_cursor: str | None


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _uncursor(cursor: str | None, kind: type = str) -> Any:
    """The key a cursor stands for. A forged one that decodes to JSON of the wrong type (an
    object, a float) or an integer beyond 64 bits would fail in the database as a 500: it is the
    same 422 as any cursor this service never handed out. The string keys handed out are ids,
    printable; NUL or a lone surrogate would fail in PostgreSQL."""
    if cursor is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        value = None
    if kind is int:
        ok = type(value) is int and 0 <= value < 2**63
    else:
        ok = type(value) is str and value.isprintable()
    if not ok:
        raise InvalidCommand("the cursor is not one this service handed out")
    return value


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidCommand(f"limit must be 1 to {MAX_LIMIT}")
    return limit


def _event(r: tuple) -> Row:
    return {
        "position": r[0],
        "originator_id": r[1],
        "version": r[2],
        "type": r[3],
        "actor_id": r[4],
        "actor_role": r[5],
        "recorded_at": codec.parse_instant(r[6]),
        "effective_on": date.fromisoformat(r[7]),
        "correlation_id": r[8],
    }


class ReadModels:
    def __init__(
        self,
        app: Any,
        *,
        batch_size: int = 1000,
        requirements: dict[str, tuple[str, Decimal]] | None = None,
        rebuild_events: int | None = None,
    ) -> None:
        if app.store is None:
            raise InvalidCommand("read models need an application opened with a database URL")
        self.app = app
        self.batch_size = batch_size
        # A rebuild commits every ``rebuild_events`` events instead of every batch: each commit
        # writes back every student it changed, and at 1,000 events per batch that write-back
        # was most of a rebuild. On SQLite a transaction holds the file's one write lock, which
        # the commands need too, so it stays shorter there.
        if rebuild_events is None:
            rebuild_events = (
                REBUILD_EVENTS if app.store.kind == "postgres" else REBUILD_EVENTS_SQLITE
            )
        self.rebuild_events = rebuild_events
        self.requirements = dict(requirements or WASHINGTON_REQUIREMENTS)
        self.db = Database(app.store)
        self._rows = StoredRows(app.mapper)
        self._project_lock = threading.Lock()
        self._last = 0
        # Called with each event row as a batch folds it; tests use it to fail mid-batch.
        self.fault_hook: Callable[[Row], None] = lambda row: None
        self._setup()

    # ------------------------------------------------------------------ tables and tracking
    def _setup(self) -> None:
        with self.db.transaction() as db:
            self._create(db, PROJECTIONS)

    @staticmethod
    def _create(db: Database, names: tuple[str, ...], indexes: bool = True) -> None:
        db.advisory_lock(SETUP_LOCK)
        db.execute(TRACKING)
        for name in names:
            for table, statements in TABLES[name].items():
                for sql in statements:
                    if indexes or not deferred(table, sql):
                        db.execute(sql)
            db.execute(
                "INSERT INTO view_tracking (name, position) VALUES (?, 0) "
                "ON CONFLICT (name) DO NOTHING",
                (name,),
            )

    def positions(self) -> dict[str, int]:
        with self.db.lock:
            return dict(self.db.all("SELECT name, position FROM view_tracking"))

    def position(self) -> int:
        """The log position every projection has reached."""
        return min(self.positions().get(n, 0) for n in PROJECTIONS)

    def lag(self) -> int:
        """Events recorded but not yet applied by every projection (ids have gaps: count them)."""
        pos, total = self.position(), 0
        while page := self.app.recorder.select_notifications(
            pos, self.batch_size, inclusive_of_start=False
        ):
            total += len(page)
            pos = page[-1].id
        return total

    # ------------------------------------------------------------------ projecting
    def _batch(self, states: States | None = None, events: int | None = None) -> int:
        """Applies at most ``events`` events (default: one batch) in one transaction, read a
        batch at a time; returns how many it applied (0: up to date)."""
        states = states if states is not None else States()
        budget = events or self.batch_size
        try:
            with self._project_lock, self.db.transaction() as db:
                # Locking the tracking rows serialises projectors across threads and processes;
                # the positions are re-read under the lock, so no event is applied twice.
                tracked = dict(
                    db.all("SELECT name, position FROM view_tracking ORDER BY name FOR UPDATE")
                )
                states.check(tracked)
                run = Run(db, self.fault_hook, states)
                position = start = min(tracked[n] for n in PROJECTIONS)
                applied = 0
                while applied < budget:
                    notes = self._stored(db, position, min(self.batch_size, budget - applied))
                    if not notes:
                        break
                    rows = [self._rows.row(n) for n in notes]
                    for name in PROJECTIONS:
                        mine = [r for r in rows if r["position"] > tracked[name]]
                        if mine:
                            run.apply(name, mine)
                    position, applied = notes[-1][0], applied + len(notes)
                    run.settle()
                if position == start:
                    return 0
                run.finish()
                reached = {name: max(position, tracked[name]) for name in PROJECTIONS}
                for name in PROJECTIONS:
                    db.execute(
                        "UPDATE view_tracking SET position = ? WHERE name = ?",
                        (reached[name], name),
                    )
        except BaseException:
            states.clear()  # changed in place by a transaction that did not commit
            raise
        states.committed(reached)
        self._last = position
        return applied

    def _stored(self, db: Database, after: int, limit: int) -> list[tuple]:
        """The next stored events as (notification id, originator id, version, topic, state).

        Read by this transaction's own connection. On PostgreSQL the recorder's
        ``select_notifications`` (a pooled connection, a dict and a Notification per row) took
        three times as long as the rows themselves. On SQLite a pooled connection could deadlock:
        this transaction holds the file's write lock, a command of this process waiting for that
        lock holds the pool's writer lock, and a second command queued for the writer lock holds
        the pool's queue, which a reader must pass too; each stall ended only when the pool gave
        up after 5 s (ConnectionUnavailableError: a 503 for the request)."""
        recorder = self.app.recorder
        if db.kind == "postgres":
            table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
            sql = (
                "SELECT notification_id, originator_id, originator_version, topic, state "  # noqa: S608 - our names
                f"FROM {table} WHERE notification_id > ? ORDER BY notification_id LIMIT ?"
            )
            return db.all(sql, (after, limit))
        sql = (
            "SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608 - our names
            f"FROM {recorder.events_table_name} WHERE rowid > ? ORDER BY rowid LIMIT ?"
        )
        convert = recorder.convert_originator_id
        return [(n, convert(o), v, t, st) for n, o, v, t, st in db.all(sql, (after, limit))]

    def catch_up(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Projects every pending event now, one transaction per batch; returns the position.

        Cheap when there is nothing to do: two one-row reads, no lock. ``progress`` is called
        after each batch with (events in the batch, log position reached)."""
        head = self.app.recorder.max_notification_id() or 0
        if self.position() >= head:
            return self.position()
        return self._project(self.batch_size, progress)

    def _project(self, events: int, progress: Callable[[int, int], None] | None) -> int:
        # Student states live across this call's transactions and go with it.
        states = States()
        while n := self._batch(states, events):
            if progress is not None:
                progress(n, self._last)
        return self.position()

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self.catch_up() >= position:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def follow(
        self,
        stop: threading.Event,
        poll_interval: float = 0.5,
        after_batch: Callable[[], object] | None = None,
    ) -> None:
        """The worker loop: poll the log and project, until ``stop`` is set. ``after_batch``
        runs whenever events were applied (the CLI signs due checkpoints there)."""
        while not stop.is_set():
            began, applied = time.perf_counter(), 0

            def count(n: int, _position: int) -> None:
                nonlocal applied
                applied += n

            position = self.catch_up(count)
            if applied:
                # Counts and positions only: nothing about any student reaches the log.
                log.info(
                    "projected",
                    events=applied,
                    position=position,
                    seconds=round(time.perf_counter() - began, 3),
                )
                if after_batch is not None:
                    after_batch()
            stop.wait(poll_interval)

    def rebuild(
        self, name: str | None = None, progress: Callable[[int, int], None] | None = None
    ) -> dict:
        """Drops one projection's tables (or all) and replays the log into them."""
        names = PROJECTIONS if name is None else (name,)
        unknown = set(names) - set(PROJECTIONS)
        if unknown:
            raise InvalidCommand(f"unknown projection {name!r}; one of {list(PROJECTIONS)}")
        began = time.perf_counter()
        # Drop, re-create and reset in one transaction under the tracking lock: a projector in
        # another process waits, then finds empty tables at position 0, never missing ones.
        # The tables' readers are waited for all at once, and given way to if one of them holds
        # on (it may be waiting for a table this transaction took): see Database.lock_to_drop.
        while True:
            try:
                with self._project_lock, self.db.transaction() as db:
                    db.all("SELECT name FROM view_tracking FOR UPDATE")
                    db.lock_to_drop([table for n in names for table in TABLES[n]])
                    for n in names:
                        for table in TABLES[n]:
                            db.execute(f"DROP TABLE IF EXISTS {table}")  # noqa: S608 - our names
                        db.execute("UPDATE view_tracking SET position = 0 WHERE name = ?", (n,))
                    self._create(db, names, indexes=False)
                break
            except LockBusy:
                time.sleep(0.05)
        events = 0

        def count(n: int, position: int) -> None:
            nonlocal events
            events += n
            if progress is not None:
                progress(n, position)

        try:
            position = self._project(max(self.batch_size, self.rebuild_events), count)
        finally:
            with self.db.transaction() as db:
                self._create(db, names)
                if db.kind == "postgres":
                    # Fresh tables have no statistics until autovacuum gets to them: the planner
                    # then guesses thousands of rows per student and reads them by bitmap.
                    for n in names:
                        for table in TABLES[n]:
                            db.execute(f"ANALYZE {table}")  # noqa: S608 - our names
        seconds = time.perf_counter() - began
        return {
            "projections": list(names),
            "events": events,
            "position": position,
            "seconds": round(seconds, 3),
            "events_per_second": round(events / seconds) if seconds > 0 else None,
        }

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ time
    @staticmethod
    def _check_time(as_of: datetime | None, effective_on: date | None) -> None:
        if as_of is not None and effective_on is not None:
            raise InvalidCommand("ask as of a recorded instant or an effective date, not both")
        if as_of is not None and (not isinstance(as_of, datetime) or as_of.tzinfo is None):
            raise InvalidCommand("as_of is a timezone-aware datetime")
        if effective_on is not None and (
            isinstance(effective_on, datetime) or not isinstance(effective_on, date)
        ):
            raise InvalidCommand("effective_on is a date")

    def _state_at(
        self,
        student_id: str,
        as_of: datetime | None,
        effective_on: date | None,
        aggregates: tuple[str, ...] | None = None,
        frameworks: bool = True,
    ) -> tuple[Row, dict[str, Row]] | None:
        """The student's state and the frameworks, folded as of T or effective on D (without
        ``frameworks``, none: the transcript does not judge, and a framework can be large).

        With ``aggregates`` (names like "Credit"), only those aggregates' events are read and
        folded: for a query whose rows the reducer derives from them alone (the transcript:
        Student and Credit), which skips the year of hours entries. The state's position still
        counts every event in view."""
        sid = str(student_id)
        # What is in view: recorded by T, or in effect on D.
        where, params = "student_id = ?", [sid]
        if as_of is not None:
            where += " AND recorded_at <= ?"
            params.append(codec.instant(as_of))
        if effective_on is not None:
            condition, values = reducer.in_effect_on(effective_on)
            where += " AND " + condition
            params += values
        folded, folded_params = where, list(params)
        if aggregates is not None:
            if "Experience" not in aggregates:
                folded += " AND " + BEYOND_EXPERIENCES
            folded += " AND (" + " OR ".join("type LIKE ?" for _ in aggregates) + ")"
            folded_params += [f"{a}.%" for a in aggregates]
        # The conditions are our own text; every value is a parameter.
        columns = (
            "position, type, originator_id, version, recorded_at, effective_on, "
            "is_correction, actor_id, actor_role, correlation_id, data"
        )
        statements: dict[str, tuple[str, list[Any]]] = {
            "found": ("SELECT 1 FROM view_student_state WHERE student_id = ?", [sid]),
            "events": (
                f"SELECT {columns} FROM view_student_events WHERE {folded} ORDER BY position",  # noqa: S608
                folded_params,
            ),
        }
        if frameworks:
            statements["revisions"] = (
                "SELECT framework_id, revision, recorded_at, effective_on, definition "
                "FROM view_framework_revisions ORDER BY framework_id, revision",
                [],
            )
        if aggregates is not None:
            # Narrowed, the fold's own position would miss the other aggregates' events.
            statements["last"] = (
                f"SELECT max(position) FROM view_student_events WHERE {where}",  # noqa: S608
                params,
            )
        rows = dict(zip(statements, self.db.read_together(list(statements.values())), strict=True))
        if not rows["found"]:
            return None
        raw, revisions = rows["events"], rows.get("revisions", [])
        last = rows["last"][0] if "last" in rows else None
        state = reducer.fold(
            {
                "position": r[0],
                "type": r[1],
                "originator_id": r[2],
                "version": r[3],
                "recorded_at": codec.parse_instant(r[4]),
                "effective_on": date.fromisoformat(r[5]),
                "is_correction": bool(r[6]),
                "actor_id": r[7],
                "actor_role": r[8],
                "correlation_id": r[9],
                "data": codec.loads(r[10]),
            }
            for r in raw
        )
        state["position"] = max(state["position"], (last[0] if last else None) or 0)
        frameworks: dict[str, Row] = {}
        first: dict[str, Row] = {}
        for fid, _rev, recorded, effective, definition in revisions:
            if as_of is not None and recorded > codec.instant(as_of):
                continue
            first.setdefault(fid, definition)
            if effective_on is None or date.fromisoformat(effective) <= effective_on:
                frameworks[fid] = definition
        if effective_on is not None:
            # A framework published after D still judges what was shown before D.
            for fid, definition in first.items():
                frameworks.setdefault(fid, definition)
        return state, {fid: codec.loads(d) for fid, d in frameworks.items()}

    # ------------------------------------------------------------------ queries
    def student(self, student_id: Any) -> Row | None:
        with self.db.reading() as db:
            row = db.one("SELECT doc FROM view_students WHERE student_id = ?", (str(student_id),))
        return codec.loads(row[0]) if row else None

    def list_students(
        self,
        *,
        advisor_id: Any = None,
        guardian_id: Any = None,
        student_ids: Any = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        limit = _limit(limit)
        sql, params = "SELECT student_id, doc FROM view_students s WHERE 1 = 1", []
        for relation, user in (("advisor", advisor_id), ("guardian", guardian_id)):
            if user is not None:
                sql += (
                    " AND EXISTS (SELECT 1 FROM view_student_people p WHERE p.student_id = "
                    "s.student_id AND p.relation = ? AND p.user_id = ?)"
                )
                params += [relation, str(user)]
        if student_ids is not None:
            ids = [str(i) for i in student_ids]
            if not ids:
                return Page([], None)
            sql += f" AND student_id IN ({','.join('?' * len(ids))})"
            params += ids
        after = _uncursor(cursor)
        if after is not None:
            sql += " AND student_id > ?"
            params.append(str(after))
        with self.db.reading() as db:
            rows = db.all(sql + " ORDER BY student_id LIMIT ?", [*params, limit + 1])
        items = [codec.loads(doc) for _, doc in rows[:limit]]
        return Page(items, _cursor(rows[limit - 1][0]) if len(rows) > limit else None)

    def framework(self, framework_id: Any) -> Row | None:
        with self.db.reading() as db:
            row = db.one(
                "SELECT doc FROM view_frameworks WHERE framework_id = ?", (str(framework_id),)
            )
        return codec.loads(row[0]) if row else None

    def frameworks(self, cursor: str | None = None, limit: int = 50) -> Page:
        limit = _limit(limit)
        after = _uncursor(cursor) or ""
        with self.db.reading() as db:
            rows = db.all(
                "SELECT framework_id, doc FROM view_frameworks WHERE framework_id > ? "
                "ORDER BY framework_id LIMIT ?",
                (after, limit + 1),
            )
        items = [codec.loads(doc) for _, doc in rows[:limit]]
        return Page(items, _cursor(rows[limit - 1][0]) if len(rows) > limit else None)

    def _experience_rows(self, student_id: str) -> list[Row]:
        with self.db.reading() as db:
            rows = db.all("SELECT doc FROM view_experiences WHERE student_id = ?", (student_id,))
        return sorted((codec.loads(d) for (d,) in rows), key=lambda r: (r["starts_on"], r["id"]))

    def experiences(self, student_id: Any, cursor: str | None = None, limit: int = 50) -> Page:
        limit = _limit(limit)
        rows = self._experience_rows(str(student_id))
        start = _uncursor(cursor, int) or 0
        items = rows[start : start + limit]
        more = start + limit < len(rows)
        return Page(items, _cursor(start + limit) if more else None)

    def experiences_mentored_by(
        self, mentor_id: Any, cursor: str | None = None, limit: int = 50
    ) -> Page:
        """The experiences one mentor is assigned to, ordered by start date."""
        limit = _limit(limit)
        with self.db.reading() as db:
            found = db.all(
                "SELECT doc FROM view_experiences WHERE mentor_id = ?", (str(mentor_id),)
            )
        rows = sorted((codec.loads(d) for (d,) in found), key=lambda r: (r["starts_on"], r["id"]))
        start = _uncursor(cursor, int) or 0
        more = start + limit < len(rows)
        return Page(rows[start : start + limit], _cursor(start + limit) if more else None)

    def experience(self, experience_id: Any) -> Row | None:
        with self.db.reading() as db:
            row = db.one(
                "SELECT doc FROM view_experiences WHERE experience_id = ?", (str(experience_id),)
            )
        return codec.loads(row[0]) if row else None

    def mastery(
        self, student_id: Any, *, as_of: datetime | None = None, effective_on: date | None = None
    ) -> list[Row]:
        self._check_time(as_of, effective_on)
        if as_of is None and effective_on is None:
            with self.db.reading() as db:
                rows = db.all(
                    "SELECT doc FROM view_mastery WHERE student_id = ? "
                    "ORDER BY framework_id, competency_id",
                    (str(student_id),),
                )
            return [codec.loads(d) for (d,) in rows]
        at = self._state_at(str(student_id), as_of, effective_on)
        return [] if at is None else reducer.mastery_rows(*at)

    def _credit_rows(self, student_id: str) -> list[Row]:
        with self.db.reading() as db:
            rows = db.all("SELECT doc FROM view_credits WHERE student_id = ?", (student_id,))
        return sorted((codec.loads(d) for (d,) in rows), key=reducer._term_key)

    def _current(self, student_id: str) -> tuple[Row | None, int] | None:
        with self.db.reading() as db:
            found = db.one(
                "SELECT position FROM view_student_state WHERE student_id = ?", (student_id,)
            )
        if found is None:
            return None
        return self.student(student_id), found[0]

    def transcript(
        self, student_id: Any, *, as_of: datetime | None = None, effective_on: date | None = None
    ) -> Row | None:
        self._check_time(as_of, effective_on)
        sid = str(student_id)
        if as_of is None and effective_on is None:
            # One statement, so one snapshot: the position, the student and the credits can't
            # come from either side of a projection's commit (and one round trip, not three).
            with self.db.reading() as db:
                rows = db.all(
                    "SELECT 0, CAST(position AS TEXT) FROM view_student_state WHERE student_id = ?"
                    " UNION ALL SELECT 1, doc FROM view_students WHERE student_id = ?"
                    " UNION ALL SELECT 2, doc FROM view_credits WHERE student_id = ?",
                    (sid, sid, sid),
                )
            parts: dict[int, list[str]] = {0: [], 1: [], 2: []}
            for part, text in rows:
                parts[part].append(text)
            if not parts[0]:
                return None
            student = codec.loads(parts[1][0]) if parts[1] else None
            credits = sorted((codec.loads(d) for d in parts[2]), key=reducer._term_key)
            doc = reducer.transcript_doc(student, credits, self.requirements, int(parts[0][0]))
        else:
            at = self._state_at(sid, as_of, effective_on, TRANSCRIPT_AGGREGATES, frameworks=False)
            if at is None:
                return None
            st = at[0]
            doc = reducer.transcript_doc(
                reducer.student_row(st), reducer.credit_rows(st), self.requirements, st["position"]
            )
        return {**doc, "as_of": as_of, "effective_on": effective_on}

    def credit(self, credit_id: Any) -> Row | None:
        with self.db.reading() as db:
            row = db.one("SELECT doc FROM view_credits WHERE credit_id = ?", (str(credit_id),))
        return codec.loads(row[0]) if row else None

    def hours(
        self, student_id: Any, *, as_of: datetime | None = None, effective_on: date | None = None
    ) -> Row | None:
        self._check_time(as_of, effective_on)
        sid = str(student_id)
        if as_of is None and effective_on is None:
            if self._current(sid) is None:
                return None
            return reducer.hours_doc(self._experience_rows(sid), self._credit_rows(sid))
        at = self._state_at(sid, as_of, effective_on)
        if at is None:
            return None
        return reducer.hours_doc(reducer.experience_rows(at[0]), reducer.credit_rows(at[0]))

    def _events_of(self, db: Statements, originator_id: str) -> list[Row]:
        return [
            _event(r)
            for r in db.all(
                f"SELECT {EVENT_COLUMNS} FROM view_student_events "  # noqa: S608
                "WHERE originator_id = ? ORDER BY position",
                (originator_id,),
            )
        ]

    def lineage(self, credit_id: Any) -> Row | None:
        """credit -> decisions -> judgments (retracted ones too) -> evidence -> events."""
        credit = self.credit(credit_id)
        if credit is None:
            return None
        with self.db.reading(snapshot=True) as db:
            state = load_states(db, [credit["student_id"]])[credit["student_id"]]
            decisions = self._events_of(db, credit["id"])
            judgments = []
            for jid in credit["cited_judgments"]:
                j = state["judgments"].get(jid)
                if j is None:
                    continue
                evidence = []
                for ref in j["evidence"]:
                    events = self._events_of(db, ref["id"])
                    if ref["kind"] == "hours":
                        events = [
                            e
                            for e, raw in zip(events, self._entry_ids(db, ref["id"]), strict=True)
                            if raw == ref.get("entry_id")
                        ]
                    evidence.append({**ref, "entry_id": ref.get("entry_id"), "events": events})
                judgments.append(
                    {
                        "id": jid,
                        "competency_id": j["competency_id"],
                        "framework_id": j["framework_id"],
                        "level": j["level"],
                        "status": j["status"],
                        "effective_on": j["effective_on"],
                        "events": self._events_of(db, jid),
                        "evidence": evidence,
                    }
                )
            experiences = [
                {"id": str(x), "events": self._events_of(db, str(x))}
                for x in credit["basis"].get("experiences") or []
            ]
        every: dict[int, Row] = {e["position"]: e for e in decisions}
        for j in judgments:
            every.update((e["position"], e) for e in j["events"])
            for ev in j["evidence"]:
                every.update((e["position"], e) for e in ev["events"])
        for x in experiences:
            every.update((e["position"], e) for e in x["events"])
        return {
            "credit": credit,
            "decisions": decisions,
            "judgments": judgments,
            "experiences": experiences,
            "events": [every[p] for p in sorted(every)],
        }

    @staticmethod
    def _entry_ids(db: Statements, originator_id: str) -> list[str | None]:
        return [
            codec.loads(d).get("entry_id")
            for (d,) in db.all(
                "SELECT data FROM view_student_events WHERE originator_id = ? ORDER BY position",
                (originator_id,),
            )
        ]

    def audit(
        self,
        *,
        actor_id: Any = None,
        event_type: str | None = None,
        student_id: Any = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """Every event, oldest first; ``since`` and ``until`` bound recorded time (inclusive)."""
        limit = _limit(limit)
        for t in (since, until):
            if t is not None and (not isinstance(t, datetime) or t.tzinfo is None):
                raise InvalidCommand("since and until are timezone-aware datetimes")
        # The columns the audit projector writes, in its order (our own names).
        sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM view_audit WHERE 1 = 1"  # noqa: S608
        params: list[Any] = []
        for column, value in (
            ("actor_id", actor_id),
            ("type", event_type),
            ("student_id", student_id),
        ):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(str(value))
        if since is not None:
            sql += " AND recorded_at >= ?"
            params.append(codec.instant(since))
        if until is not None:
            sql += " AND recorded_at <= ?"
            params.append(codec.instant(until))
        after = _uncursor(cursor, int)
        if after is not None:
            sql += " AND position > ?"
            params.append(after)
        with self.db.reading() as db:
            rows = db.all(sql + " ORDER BY position LIMIT ?", [*params, limit + 1])
        items = []
        for r in rows[:limit]:
            item = dict(zip(AUDIT_COLUMNS, r, strict=True))
            item["recorded_at"] = codec.parse_instant(item["recorded_at"])
            item["effective_on"] = date.fromisoformat(item["effective_on"])
            items.append(item)
        return Page(items, _cursor(rows[limit - 1][0]) if len(rows) > limit else None)

    def history(self, student_id: Any, cursor: str | None = None, limit: int = 50) -> Page:
        return self.audit(student_id=student_id, cursor=cursor, limit=limit)

    # ------------------------------------------------------------------ checks
    def dump(self) -> dict[str, list[tuple]]:
        """Every view table's rows, sorted: what "incremental equals rebuild" compares."""
        out = {}
        with self.db.reading(snapshot=True) as db:
            for tables in TABLES.values():
                for table in tables:
                    out[table] = sorted(
                        db.all(f"SELECT * FROM {table}"),  # noqa: S608 - our names
                        key=repr,
                    )
        return out
