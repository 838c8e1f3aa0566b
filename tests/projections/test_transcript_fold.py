"""An as-of or effective-time transcript folds only Student and Credit events; on random school
histories, at instants and dates across the year, it equals the transcript of the full fold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings

from projections import ReadModels, reducer
from tests.builders import School
from tests.projections.history import SEED, RandomSchool, histories

SETTINGS = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _full(rm: ReadModels, sid, as_of=None, effective_on=None) -> dict:
    state, _ = rm._state_at(str(sid), as_of, effective_on)
    doc = reducer.transcript_doc(
        reducer.student_row(state), reducer.credit_rows(state), rm.requirements, state["position"]
    )
    return {**doc, "as_of": as_of, "effective_on": effective_on}


@SETTINGS
@given(history=histories)
def test_narrow_fold_equals_full_fold(app, history) -> None:
    rm = ReadModels(app)
    try:
        school = RandomSchool(School.build(app), rm)
        for op in SEED + history:
            school.run(*op)
        rm.catch_up()
        start = datetime(2025, 8, 1, tzinfo=UTC)
        instants = [start + timedelta(days=d) for d in range(0, 400, 23)] + [app.clock.now]
        days = [date(2025, 8, 1) + timedelta(days=d) for d in range(0, 400, 19)]
        for sid, _ in school.students:
            for t in instants:
                assert rm.transcript(sid, as_of=t) == _full(rm, sid, as_of=t)
            for d in days:
                assert rm.transcript(sid, effective_on=d) == _full(rm, sid, effective_on=d)
    finally:
        rm.close()
