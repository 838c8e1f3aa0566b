"""The student directory follows links taken away: an unlinked guardian or unassigned advisor
drops out of the student's row and of the lists scoped to them, incrementally and on rebuild."""

from __future__ import annotations

from uuid import UUID

from projections import ReadModels
from tests.builders import School


def test_directory_drops_unlinked_people(app, rm):
    s = School.build(app)
    sid, _ = s.enroll("P0")
    kept, _ = s.enroll("P1")
    rm.catch_up()
    assert len(rm.list_students(guardian_id=s.guardian.user_id).items) == 2
    app.unlink_guardian(s.registrar, sid, UUID(s.guardian.user_id), "custody order")
    app.unassign_advisor(s.registrar, sid, UUID(s.advisor.user_id), "left the school")
    rm.catch_up()
    row = rm.student(sid)
    assert row["guardians"] == [] and row["advisors"] == []
    for scope in ({"guardian_id": s.guardian.user_id}, {"advisor_id": s.advisor.user_id}):
        assert [r["id"] for r in rm.list_students(**scope).items] == [str(kept)]
    whys = {i["type"]: i["why"] for i in rm.history(sid, limit=200).items}
    assert whys["Student.GuardianUnlinked"] == "custody order"
    assert whys["Student.AdvisorUnassigned"] == "left the school"

    incremental = rm.dump()
    fresh = ReadModels(app, batch_size=7)
    try:
        fresh.rebuild()
        assert fresh.dump() == incremental
    finally:
        fresh.close()
