"""Each export made is an event: who, when, as of what, profile, rows and digest."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from uuid import UUID

import pytest

from ledger import errors
from ledger.domain import Export, Role
from tests.builders import School

DIGEST = hashlib.sha256(b"file").hexdigest()


def record(app, actor, **kw):
    args = dict(
        kind="grade-history",
        profile="cedars-grade-history",
        profile_version="2026.1",
        as_of=None,
        position=app.position(),
        file_name="17001_1234_StudentGradeHistory_20260615_20252026.txt",
        row_count=3,
        sha256=DIGEST,
    )
    args.update(kw)
    return app.record_export(actor, **args)


def writes_nothing(app, fn, error):
    before = app.position()
    with pytest.raises(error):
        fn()
    assert app.position() == before


def test_state_export_is_recorded_for_reporters_and_registrars(app):
    school = School.build(app)
    reporter = school.person(Role.REPORTER, "Reporter")
    as_of = datetime(2026, 6, 1, tzinfo=UTC)
    for actor in (reporter, school.registrar):
        result = record(app, actor, as_of=as_of)
        e = app.load(Export, result.id)
        assert (e.kind, e.row_count, e.sha256, e.as_of) == ("grade-history", 3, DIGEST, as_of)
        assert e.student_id is None
    events = app.repository.get(UUID(result.id), version=1)
    assert events.profile_version == "2026.1"
    for actor in (school.advisor, school.mentor, school.guardian):
        writes_nothing(app, lambda a=actor: record(app, a), errors.NotPermitted)


def test_bad_export_facts_are_refused(app):
    school = School.build(app)
    writes_nothing(
        app, lambda: record(app, school.registrar, sha256="x" * 64), errors.InvalidCommand
    )
    writes_nothing(app, lambda: record(app, school.registrar, kind="zip"), errors.InvalidCommand)
    naive = datetime(2026, 6, 1)
    writes_nothing(app, lambda: record(app, school.registrar, as_of=naive), errors.InvalidCommand)
    writes_nothing(app, lambda: record(app, school.registrar, row_count=-1), errors.InvalidCommand)


def test_one_student_export_follows_who_may_read_the_student(app):
    school = School.build(app)
    sid, student = school.enroll("S1")
    other_sid, other = school.enroll("S2")
    clr = dict(kind="clr", profile="clr-2.0-vc1.1", row_count=1)
    for actor in (student, school.guardian, school.advisor, school.registrar):
        result = record(app, actor, student_id=sid, **clr)
        assert app.load(Export, result.id).student_id == sid
    writes_nothing(app, lambda: record(app, other, student_id=sid, **clr), errors.NotPermitted)
    writes_nothing(
        app, lambda: record(app, school.mentor, student_id=sid, **clr), errors.NotPermitted
    )
    assert other_sid != sid
