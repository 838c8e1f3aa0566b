"""View tables, by projection. Every name starts with ``view_``; ``view_tracking`` holds each
projection's last applied log position."""

from __future__ import annotations

# Nine in ten events are an experience's (hours logged and reviewed, mostly). A fold that needs
# none of them (the transcript as of a date: students and credits) reads a student's events
# through a partial index without them: at 1M events an as-of transcript read ~550 scattered
# rows (26 ms cold) where it needed ~60 (0.5 ms). The query repeats this text exactly, which is
# how both databases know the index applies.
BEYOND_EXPERIENCES = "type NOT LIKE 'Experience.%'"

TRACKING = """CREATE TABLE IF NOT EXISTS view_tracking (
    name TEXT PRIMARY KEY, position BIGINT NOT NULL)"""

TABLES: dict[str, dict[str, list[str]]] = {
    # Every event, by student, actor, type and time: the audit trail.
    "audit": {
        "view_audit": [
            """CREATE TABLE IF NOT EXISTS view_audit (
                position BIGINT PRIMARY KEY, recorded_at TEXT NOT NULL, effective_on TEXT NOT NULL,
                type TEXT NOT NULL, originator_id TEXT NOT NULL, version BIGINT NOT NULL,
                actor_id TEXT, actor_role TEXT, correlation_id TEXT, student_id TEXT,
                what TEXT NOT NULL, why TEXT)""",
            "CREATE INDEX IF NOT EXISTS view_audit_student ON view_audit (student_id, position)",
            "CREATE INDEX IF NOT EXISTS view_audit_actor ON view_audit (actor_id, position)",
            "CREATE INDEX IF NOT EXISTS view_audit_type ON view_audit (type, position)",
            "CREATE INDEX IF NOT EXISTS view_audit_time ON view_audit (recorded_at)",
        ],
        "view_audit_subjects": [
            """CREATE TABLE IF NOT EXISTS view_audit_subjects (
                originator_id TEXT PRIMARY KEY, student_id TEXT NOT NULL)""",
        ],
    },
    # Everything per student (directory, experiences, hours, mastery, credits, lineage) and the
    # frameworks they are judged against.
    "records": {
        "view_originators": [
            """CREATE TABLE IF NOT EXISTS view_originators (
                originator_id TEXT PRIMARY KEY, student_id TEXT NOT NULL)""",
        ],
        "view_student_events": [
            """CREATE TABLE IF NOT EXISTS view_student_events (
                position BIGINT PRIMARY KEY, student_id TEXT NOT NULL, originator_id TEXT NOT NULL,
                version BIGINT NOT NULL, type TEXT NOT NULL, recorded_at TEXT NOT NULL,
                effective_on TEXT NOT NULL, is_correction INTEGER NOT NULL, actor_id TEXT,
                actor_role TEXT, correlation_id TEXT, data TEXT NOT NULL)""",
            """CREATE INDEX IF NOT EXISTS view_student_events_student
                ON view_student_events (student_id, position)""",
            """CREATE INDEX IF NOT EXISTS view_student_events_originator
                ON view_student_events (originator_id, position)""",
            f"""CREATE INDEX IF NOT EXISTS view_student_events_beyond_experiences
                ON view_student_events (student_id, position) WHERE {BEYOND_EXPERIENCES}""",
        ],
        "view_student_state": [
            """CREATE TABLE IF NOT EXISTS view_student_state (
                student_id TEXT PRIMARY KEY, position BIGINT NOT NULL, state TEXT NOT NULL)""",
        ],
        "view_students": [
            """CREATE TABLE IF NOT EXISTS view_students (
                student_id TEXT PRIMARY KEY, local_id TEXT, school_code TEXT, doc TEXT NOT NULL)""",
        ],
        "view_student_people": [
            """CREATE TABLE IF NOT EXISTS view_student_people (
                student_id TEXT NOT NULL, relation TEXT NOT NULL, user_id TEXT NOT NULL,
                PRIMARY KEY (student_id, relation, user_id))""",
            """CREATE INDEX IF NOT EXISTS view_student_people_user
                ON view_student_people (user_id, relation)""",
        ],
        "view_experiences": [
            """CREATE TABLE IF NOT EXISTS view_experiences (
                experience_id TEXT PRIMARY KEY, student_id TEXT NOT NULL, mentor_id TEXT,
                doc TEXT NOT NULL)""",
            """CREATE INDEX IF NOT EXISTS view_experiences_student
                ON view_experiences (student_id)""",
            """CREATE INDEX IF NOT EXISTS view_experiences_mentor
                ON view_experiences (mentor_id)""",
        ],
        "view_credits": [
            """CREATE TABLE IF NOT EXISTS view_credits (
                credit_id TEXT PRIMARY KEY, student_id TEXT NOT NULL, status TEXT NOT NULL,
                doc TEXT NOT NULL)""",
            "CREATE INDEX IF NOT EXISTS view_credits_student ON view_credits (student_id)",
        ],
        "view_mastery": [
            """CREATE TABLE IF NOT EXISTS view_mastery (
                student_id TEXT NOT NULL, framework_id TEXT NOT NULL, competency_id TEXT NOT NULL,
                doc TEXT NOT NULL, PRIMARY KEY (student_id, framework_id, competency_id))""",
            "CREATE INDEX IF NOT EXISTS view_mastery_framework ON view_mastery (framework_id)",
        ],
        "view_frameworks": [
            """CREATE TABLE IF NOT EXISTS view_frameworks (
                framework_id TEXT PRIMARY KEY, revision BIGINT NOT NULL, doc TEXT NOT NULL)""",
        ],
        "view_framework_revisions": [
            """CREATE TABLE IF NOT EXISTS view_framework_revisions (
                framework_id TEXT NOT NULL, revision BIGINT NOT NULL, position BIGINT NOT NULL,
                recorded_at TEXT NOT NULL, effective_on TEXT NOT NULL, definition TEXT NOT NULL,
                PRIMARY KEY (framework_id, revision))""",
        ],
    },
}
PROJECTIONS = tuple(TABLES)
# Indexes a rebuild creates after loading, not during: a row at a time, their upkeep was most of
# the database's share of a rebuild; built once over the loaded table they cost a fraction.
# Nothing the projectors run reads them (they serve the queries), and setting up the tables
# again (any ReadModels start) creates whichever a rebuild that died did not.
AFTER_LOAD = ("view_audit", "view_student_events")


def deferred(table: str, sql: str) -> bool:
    return table in AFTER_LOAD and sql.lstrip().startswith("CREATE INDEX")
