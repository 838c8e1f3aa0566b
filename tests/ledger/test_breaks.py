"""Inputs found to break the application service, kept as regressions (both stores)."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from ledger.application import system_actor
from ledger.domain.framework import MasteryMethod
from ledger.errors import InvalidCommand, InvalidFramework, InvalidHours
from ledger.store import parse_database_url, redact
from tests.builders import School, framework_definition


@pytest.mark.parametrize("hours", [Decimal("NaN"), Decimal("sNaN"), Decimal("-NaN")])
def test_nan_hours_are_invalid_hours_and_write_nothing(app, hours):
    # NaN compared with < raised decimal.InvalidOperation: untyped, a 500 behind any caller.
    school = School.build(app)
    sid, student = school.enroll("S-1")
    xid = school.experience(sid)
    before = app.position()
    with pytest.raises(InvalidHours):
        app.log_hours(student, xid, worked_on=date(2025, 10, 2), hours=hours, activity="x")
    assert app.position() == before


@pytest.mark.parametrize("attempted", [Decimal("-5"), Decimal("0"), Decimal("NaN")])
def test_a_class_with_impossible_credits_attempted_is_refused(app, attempted):
    # A negative attempted credit was recorded and reached the transcript basis and exports.
    school = School.build(app)
    sid, _student = school.enroll("S-1")
    before = app.position()
    with pytest.raises(InvalidCommand):
        app.record_class(
            school.registrar,
            sid,
            course_id="ENG-11",
            title="English 11",
            area="ENG",
            credits_earned=Decimal("1"),
            credits_attempted=attempted,
            mark="A",
            school_year="2025-26",
            term="FY",
        )
    assert app.position() == before


@pytest.mark.parametrize("schema", ["a;drop", 'x"', "a b", "1abc", "s.t", "é"])
def test_a_postgres_schema_that_is_not_an_identifier_is_refused(schema):
    # The library puts the schema into its SQL unquoted: "a;drop" reached the server as SQL.
    with pytest.raises(InvalidCommand):
        parse_database_url(f"postgresql://postgres@127.0.0.1:5432/test?schema={schema}")


def test_plain_schemas_still_parse():
    store = parse_database_url("postgresql://postgres@127.0.0.1:5432/test?schema=t_0af3")
    assert store.postgres_schema == "t_0af3"


def test_redact_hides_only_the_password():
    assert (
        redact("postgresql://u:s3cret@db:5433/x?schema=a")
        == "postgresql://u:***@db:5433/x?schema=a"
    )
    assert redact("postgresql://u@db/x") == "postgresql://u@db/x"
    assert redact("sqlite:////tmp/l.sqlite") == "sqlite:////tmp/l.sqlite"


def _nan_framework(where: str):
    base = framework_definition()
    nan = Decimal("NaN")
    if where == "parameter":
        return dataclasses.replace(base, method=MasteryMethod("decaying_average", nan))
    if where == "level":
        levels = base.scale.levels
        scale = dataclasses.replace(
            base.scale, levels=(*levels[:1], dataclasses.replace(levels[1], value=nan), *levels[2:])
        )
        return dataclasses.replace(base, scale=scale)
    rule, hours_rule = base.credit_rules
    if where == "amount":
        return dataclasses.replace(base, credit_rules=(dataclasses.replace(rule, amount=nan),))
    return dataclasses.replace(
        base, credit_rules=(dataclasses.replace(hours_rule, hours_threshold=nan),)
    )


@pytest.mark.parametrize("where", ["parameter", "level", "amount", "hours_threshold"])
def test_a_framework_with_a_nan_is_invalid_and_writes_nothing(app, where):
    # Comparing the NaN raised decimal.InvalidOperation (untyped) from publish_framework.
    before = app.position()
    with pytest.raises(InvalidFramework):
        app.publish_framework(system_actor(), _nan_framework(where))
    assert app.position() == before
