"""Lineage: every approved credit reaches the events behind it, and keeps them after a
retraction."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from ledger.domain import EvidenceRef
from tests.builders import School


def _school_with_credits(app):
    s = School.build(app)
    sid, student = s.enroll("LIN")
    xid = s.experience(sid)
    entry = s.verified_hours(student, xid, date(2025, 9, 10))
    s.verified_hours(student, xid, date(2025, 9, 11))  # another entry: not in the lineage
    reflection = s.reflection(student, sid, xid)
    app.revise_reflection(student, reflection, text="I learned to ask for help.", reason="more")
    artifact = UUID(
        app.attach_artifact(student, sid, kind="link", uri="https://example.org/poster").id
    )
    note = UUID(
        app.write_mentor_note(
            s.mentor, xid, text="Handles clients well.", ratings={"CR.1": "3"},
            framework_id=s.framework_id,
        ).id
    )  # fmt: skip
    evidence = [
        EvidenceRef("reflection", reflection),
        EvidenceRef("artifact", artifact),
        EvidenceRef("mentor_note", note),
        EvidenceRef("hours", xid, entry),
    ]
    j = s.judge(sid, evidence, level="3")
    mastery = s.mastery_credit(sid, [j])
    hours = UUID(
        app.propose_credit(
            s.advisor, sid, area="ELEC", amount=Decimal("0.25"), title="Worksite learning",
            school_year="2025-26", term="S1", method="hours", basis={"experiences": [str(xid)]},
        ).id
    )  # fmt: skip
    app.approve_credit(s.registrar, hours)
    course = UUID(
        app.record_class(
            s.registrar, sid, course_id="ENG9", title="English 9", area="ENG",
            credits_earned=Decimal("1.0"), credits_attempted=Decimal("1.0"), mark="A",
            school_year="2025-26", term="S1",
        ).id
    )  # fmt: skip
    credits = {"mastery": mastery, "hours": hours, "course": course}
    return s, sid, student, j, credits, entry


def _types(events):
    return [e["type"] for e in events]


def test_lineage_reaches_events_for_every_approved_credit(app, rm):
    s, sid, _, j, credits, entry = _school_with_credits(app)
    rm.catch_up()
    approved = [
        c["id"]
        for term in rm.transcript(sid)["terms"]
        for c in term["credits"]
        if c["status"] == "approved"
    ]
    assert sorted(approved) == sorted(str(c) for c in credits.values())
    audit = {r["position"]: r for r in rm.history(sid, limit=500).items}
    for cid in approved:
        lineage = rm.lineage(cid)
        assert lineage["credit"]["id"] == cid
        assert _types(lineage["decisions"])[:2] == ["Credit.Proposed", "Credit.Approved"]
        assert lineage["events"], cid
        for e in lineage["events"]:
            assert e["actor_id"] and e["recorded_at"] and e["correlation_id"]
            # Every event of the lineage is the same event the audit trail shows.
            assert audit[e["position"]]["type"] == e["type"]
            assert audit[e["position"]]["originator_id"] == e["originator_id"]
        positions = [e["position"] for e in lineage["events"]]
        assert positions == sorted(set(positions))

    mastery = rm.lineage(credits["mastery"])
    [judgment] = mastery["judgments"]
    assert judgment["id"] == str(j) and judgment["status"] == "standing"
    assert _types(judgment["events"]) == ["Judgment.Recorded", "Judgment.CitedByCredit"]
    by_kind = {ev["kind"]: ev for ev in judgment["evidence"]}
    assert _types(by_kind["reflection"]["events"]) == [
        "Reflection.Submitted",
        "Reflection.Revised",
    ]
    assert _types(by_kind["artifact"]["events"]) == ["Artifact.Attached"]
    assert _types(by_kind["mentor_note"]["events"]) == ["MentorNote.Written"]
    hours_events = by_kind["hours"]["events"]
    assert _types(hours_events) == ["Experience.HoursLogged", "Experience.HoursVerified"]
    assert by_kind["hours"]["entry_id"] == str(entry)
    roles = {e["type"]: e["actor_role"] for e in hours_events}
    assert roles == {"Experience.HoursLogged": "student", "Experience.HoursVerified": "mentor"}

    hours = rm.lineage(credits["hours"])
    [x] = hours["experiences"]
    assert _types(x["events"]).count("Experience.HoursVerified") == 2
    assert rm.lineage(credits["course"])["judgments"] == []
    assert rm.lineage(UUID(int=0)) is None


def test_lineage_survives_retraction_and_amendment(app, rm):
    s, sid, student, j, credits, _ = _school_with_credits(app)
    app.retract_judgment(s.advisor, j, "observed the wrong student")
    reflection = s.reflection(student, sid)
    j2 = s.judge(sid, [EvidenceRef("reflection", reflection)], level="4")
    app.amend_credit(
        s.registrar, credits["mastery"], reason="new basis", basis={"judgments": [str(j2)]},
        framework_id=s.framework_id,
    )  # fmt: skip
    rm.catch_up()
    lineage = rm.lineage(credits["mastery"])
    assert "Credit.Flagged" in _types(lineage["decisions"])
    assert "Credit.Amended" in _types(lineage["decisions"])
    status = {jj["id"]: jj["status"] for jj in lineage["judgments"]}
    assert status == {str(j): "retracted", str(j2): "standing"}
    retracted = next(jj for jj in lineage["judgments"] if jj["id"] == str(j))
    assert _types(retracted["events"])[-1] == "Judgment.Retracted"
    assert retracted["evidence"] and all(ev["events"] for ev in retracted["evidence"])
    assert rm.credit(credits["mastery"])["flagged"] is False
