"""Each mastery method on hand-computed cases, first as pure functions, then through the store.

Hand computations (threshold 3, the builders' scale 1-4 with IE as insufficient evidence):
scores 2, 3, 4 in effective order give
  latest 4; highest 4; average 3;
  weighted average (w .65): 4 x .65 + mean(2, 3) x .35 = 2.6 + .875 = 3.475 -> 3.48;
  decaying average (d .65): 2 -> 2 x .35 + 3 x .65 = 2.65 -> 2.65 x .35 + 4 x .65 = 3.5275 -> 3.53;
  n-mastery n=3: only 3 and 4 reach mastery -> no value; n=2: mean(3, 4) = 3.50;
  power law: fit ln s = a + b ln k over k = 1..3: b = .62598, a = .68548,
    exp(a + b ln 3) = 3.9479 -> 3.95.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest

from ledger.domain import EvidenceRef
from projections.mastery import level_for, score
from tests.builders import SCALE, School, framework_definition

D = Decimal
THREE = D(3)
LEVELS = [{"code": lv.code, "value": lv.value} for lv in SCALE.levels]

HAND = [
    ("latest", None, "4.00"),
    ("highest", None, "4.00"),
    ("average", None, "3.00"),
    ("weighted_average", D("0.65"), "3.48"),
    ("decaying_average", D("0.65"), "3.53"),
    ("n_mastery", D(3), None),
    ("n_mastery", D(2), "3.50"),
    ("power_law", None, "3.95"),
]


@pytest.mark.parametrize(("method", "parameter", "expected"), HAND)
def test_methods_on_two_three_four(method, parameter, expected):
    got = score(method, parameter, [D(2), D(3), D(4)], THREE)
    assert got == (None if expected is None else D(expected))


@pytest.mark.parametrize(("method", "parameter", "_"), HAND)
def test_no_scores_is_no_value(method, parameter, _):
    assert score(method, parameter, [], THREE) is None


@pytest.mark.parametrize(
    ("method", "parameter", "expected"),
    [
        ("latest", None, "3.00"),
        ("highest", None, "3.00"),
        ("average", None, "3.00"),
        ("weighted_average", D("0.65"), "3.00"),
        ("decaying_average", D("0.65"), "3.00"),
        ("n_mastery", D(1), "3.00"),
        ("n_mastery", D(3), None),
        ("power_law", None, "3.00"),
    ],
)
def test_a_single_score(method, parameter, expected):
    got = score(method, parameter, [D(3)], THREE)
    assert got == (None if expected is None else D(expected))


def test_rounding_happens_once_at_the_end():
    # 1, 2, 2 averaged is 1.666..., rounded once: 1.67 (rounding each step would not change it,
    # but a decaying average would drift): 1 -> 1.65 -> 1.8775 -> 1.88.
    assert score("average", None, [D(1), D(2), D(2)], THREE) == D("1.67")
    assert score("decaying_average", D("0.65"), [D(1), D(2), D(2)], THREE) == D("1.88")


def test_level_is_the_highest_at_or_below_the_score():
    assert level_for(D("3.53"), LEVELS) == "3"
    assert level_for(D("2.99"), LEVELS) == "2"
    assert level_for(D("4.00"), LEVELS) == "4"
    assert level_for(D("0.50"), LEVELS) is None
    assert level_for(None, LEVELS) is None


# ---------------------------------------------------------------- through the store
def _school(app, method, parameter=None, order_by="effective"):
    s = School.build(app)
    s.framework_id = UUID(
        app.publish_framework(s.admin, framework_definition(method, parameter, order_by)).id
    )
    sid, student = s.enroll("M1")
    evidence = [EvidenceRef("reflection", s.reflection(student, sid))]
    return s, sid, evidence


def _judge_scripted(s, sid, evidence):
    """Recorded out of effective order, with a retraction, an IE mark and a same-day tie.
    Counted, in effective order: 2 (10-01), 3 (10-02), 4 (10-03); recorded order: 4, 2, 3."""
    s.judge(sid, evidence, level="4", effective_on=date(2025, 10, 3))
    s.judge(sid, evidence, level="2", effective_on=date(2025, 10, 1))
    wrong = s.judge(sid, evidence, level="1", effective_on=date(2025, 10, 2))
    s.judge(sid, evidence, level="IE", effective_on=date(2025, 10, 2))
    s.judge(sid, evidence, level="3", effective_on=date(2025, 10, 2))
    s.app.retract_judgment(s.advisor, wrong, "recorded against the wrong student")


@pytest.mark.parametrize(("method", "parameter", "expected"), HAND)
def test_each_method_through_the_projection(app, rm, method, parameter, expected):
    s, sid, evidence = _school(app, method, parameter)
    _judge_scripted(s, sid, evidence)
    rm.catch_up()
    [row] = rm.mastery(sid)
    assert row["score"] == (None if expected is None else D(expected))
    assert len(row["counted_judgments"]) == 3
    assert row["last_judged_on"] == date(2025, 10, 3)
    if method == "n_mastery":
        assert row["mastered"] is (expected is not None)
    else:
        assert row["mastered"] is True
        assert row["level"] == ("3" if D(expected) < 4 else "4")
    assert rm.mastery(sid, as_of=app.clock.now) == [row]


def test_recorded_order_when_the_framework_says_so(app, rm):
    # Recorded order 4, 2, 3: 4 -> 4 x .35 + 2 x .65 = 2.7 -> 2.7 x .35 + 3 x .65 = 2.895 -> 2.90.
    s, sid, evidence = _school(app, "decaying_average", D("0.65"), order_by="recorded")
    _judge_scripted(s, sid, evidence)
    rm.catch_up()
    [row] = rm.mastery(sid)
    assert row["score"] == D("2.90")
    assert row["level"] == "2"
    assert row["mastered"] is False


def test_ties_on_the_same_day_fall_to_log_position(app, rm):
    s, sid, evidence = _school(app, "latest")
    s.judge(sid, evidence, level="4", effective_on=date(2025, 10, 1))
    later = s.judge(sid, evidence, level="2", effective_on=date(2025, 10, 1))
    rm.catch_up()
    [row] = rm.mastery(sid)
    assert row["score"] == D("2.00")
    assert row["counted_judgments"][-1] == str(later)


def test_superseded_and_retracted_judgments_do_not_count(app, rm):
    s, sid, evidence = _school(app, "average")
    first = s.judge(sid, evidence, level="1")
    s.judge(sid, evidence, level="3", supersedes=first)
    gone = s.judge(sid, evidence, level="4")
    app.retract_judgment(s.advisor, gone, "wrong")
    rm.catch_up()
    [row] = rm.mastery(sid)
    assert row["score"] == D("3.00")
    assert len(row["counted_judgments"]) == 1


def test_insufficient_evidence_only_is_no_score(app, rm):
    s, sid, evidence = _school(app, "decaying_average")
    s.judge(sid, evidence, level="IE")
    rm.catch_up()
    [row] = rm.mastery(sid)
    assert row["score"] is None
    assert row["level"] is None
    assert row["mastered"] is False
    assert row["counted_judgments"] == []
    assert row["evidence_count"] == 1


def test_every_judgment_retracted_leaves_a_row_without_a_score(app, rm):
    s, sid, evidence = _school(app, "highest")
    j = s.judge(sid, evidence, level="4")
    rm.catch_up()
    assert rm.mastery(sid)[0]["mastered"] is True
    app.retract_judgment(s.advisor, j, "wrong")
    rm.catch_up()
    [row] = rm.mastery(sid)
    assert (row["score"], row["mastered"], row["counted_judgments"]) == (None, False, [])


def test_a_framework_revision_rescores_existing_judgments(app, rm):
    s, sid, evidence = _school(app, "latest")
    s.judge(sid, evidence, level="4")
    s.judge(sid, evidence, level="2")
    rm.catch_up()
    assert rm.mastery(sid)[0]["score"] == D("2.00")
    before = app.clock.now
    app.revise_framework(
        s.admin, s.framework_id, framework_definition("highest"), "the district chose highest"
    )
    rm.catch_up()
    assert rm.mastery(sid)[0]["score"] == D("4.00")
    assert rm.mastery(sid, as_of=before)[0]["score"] == D("2.00")
