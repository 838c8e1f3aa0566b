"""Every endpoint through HTTP, on both stores: what a write answers and what a read shows."""

from __future__ import annotations

from decimal import Decimal

from api.schemas import FRAMEWORK_EXAMPLE
from tests.api.conftest import Api


def created(r, status: int = 201) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert r.headers["Location"].startswith("/v1/")
    assert body["position"] > 0
    assert body["replayed"] is False
    return body["resource"]


def test_frameworks(api: Api) -> None:
    r = api.post("/v1/frameworks", "admin", json=FRAMEWORK_EXAMPLE)
    fw = created(r)
    assert fw["revision"] == 1 and fw["competencies"][0]["id"] == "CR.1"
    assert r.headers["ETag"] == '"1"'

    got = api.get(r.headers["Location"], "student")
    assert got.status_code == 200 and got.json()["title"] == "Career Readiness"
    assert got.headers["ETag"] == '"1"'

    listed = api.get("/v1/frameworks", "guardian")
    assert listed.status_code == 200
    assert fw["id"] in {f["id"] for f in listed.json()["items"]}

    revised = dict(FRAMEWORK_EXAMPLE)
    revised["competencies"] = [
        *FRAMEWORK_EXAMPLE["competencies"],
        {"id": "CR.2", "statement": "Solves problems with data"},
    ]
    r = api.post(
        f"/v1/frameworks/{fw['id']}/revisions",
        "admin",
        json={"definition": revised, "reason": "added CR.2"},
        headers={"If-Match": '"1"'},
    )
    out = created(r, 200)
    assert out["revision"] == 2 and out["changes"]["added"] == ["CR.2"]
    assert r.headers["ETag"] == '"2"'


def test_students_and_people(api: Api) -> None:
    body = {
        "local_id": "S-9",
        "given_name": "Ada",
        "family_name": "Byron",
        "grade_level": "10",
        "cohort": 2028,
        "school_code": "1234",
    }
    s = created(api.post("/v1/students", json=body))
    assert s["status"] == "enrolled" and s["advisors"] == []

    r = api.post(f"/v1/students/{s['id']}/advisors", json={"user_id": api.cast["advisor"].id})
    assert created(r, 200)["advisors"] == [api.cast["advisor"].id]
    r = api.post(f"/v1/students/{s['id']}/guardians", json={"user_id": api.cast["guardian"].id})
    assert created(r, 200)["guardians"] == [api.cast["guardian"].id]

    got = api.get(f"/v1/students/{s['id']}", "advisor")
    assert got.status_code == 200 and got.json()["local_id"] == "S-9"
    assert got.headers["ETag"] == '"3"'

    everyone = api.get("/v1/students").json()["items"]
    assert {str(api.cast.own), str(api.cast.other), s["id"]} <= {x["id"] for x in everyone}
    mine = api.get("/v1/students", "advisor").json()["items"]
    assert {x["id"] for x in mine} == {str(api.cast.own), s["id"]}
    assert [x["id"] for x in api.get("/v1/students", "student").json()["items"]] == [
        str(api.cast.own)
    ]


def test_users(api: Api) -> None:
    r = api.post("/v1/users", "admin", json={"role": "mentor", "name": "Marie Curie"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token"].startswith("clt_") and body["resource"]["role"] == "mentor"
    me = api.client.get("/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["id"] == body["resource"]["id"]
    assert api.get(r.headers["Location"], "admin").json()["active"] is True


def test_experience_lifecycle_and_hours(api: Api) -> None:
    sid = api.cast.own
    plan = {
        "kind": "internship",
        "title": "Lab assistant",
        "partner_organisation": "Acme Labs",
        "mentor_id": api.cast["mentor"].id,
        "starts_on": "2025-09-01",
        "ends_on": "2026-06-15",
        "target_competencies": ["CR.1"],
    }
    x = created(api.post(f"/v1/students/{sid}/experiences", "advisor", json=plan))
    assert x["status"] == "planned"
    xid = x["id"]
    assert created(api.post(f"/v1/experiences/{xid}/start", "advisor"), 200)["status"] == "started"

    hours = {"worked_on": "2025-10-02", "hours": "4", "activity": "bench work"}
    entry = created(api.post(f"/v1/experiences/{xid}/hours", "student", json=hours))
    assert entry["status"] == "logged" and entry["hours"] == "4"
    second = created(
        api.post(f"/v1/experiences/{xid}/hours", "student", json={**hours, "hours": "2.5"})
    )
    r = api.post(f"/v1/experiences/{xid}/hours/{entry['id']}/verify", "mentor")
    assert created(r, 200)["status"] == "verified"
    r = api.post(
        f"/v1/experiences/{xid}/hours/{second['id']}/dispute",
        "mentor",
        json={"reason": "was not on site"},
    )
    assert created(r, 200)["status"] == "disputed"

    got = api.get(f"/v1/experiences/{xid}", "mentor").json()
    assert got["hours"] == {"logged": "6.5", "verified": "4", "disputed": "2.5"}
    listed = api.get(f"/v1/students/{sid}/experiences", "guardian").json()["items"]
    # The list (from the read models) and the record (from the ledger) count hours alike.
    row = next(e for e in listed if e["id"] == xid)
    assert {k: Decimal(v) for k, v in row["hours"].items()} == {
        k: Decimal(v) for k, v in got["hours"].items()
    }

    r = api.post(f"/v1/experiences/{xid}/complete", "advisor", json={"on": "2026-06-15"})
    assert created(r, 200)["status"] == "completed"

    other = created(api.post(f"/v1/students/{sid}/experiences", "advisor", json=plan))
    r = api.post(f"/v1/experiences/{other['id']}/withdraw", "advisor", json={"reason": "moved"})
    assert created(r, 200)["status"] == "withdrawn"


def test_evidence(api: Api) -> None:
    sid = api.cast.own
    xid = api.cast.experience(sid)
    r = api.post(
        f"/v1/students/{sid}/reflections",
        "student",
        json={"text": "I learned to ask.", "experience_id": str(xid), "competencies": ["CR.1"]},
    )
    ref = created(r)
    assert ref["text_version"] == 1
    r = api.post(
        f"/v1/reflections/{ref['id']}/revisions",
        "student",
        json={"text": "I learned to ask early.", "reason": "clearer"},
        headers={"If-Match": r.headers["ETag"]},
    )
    assert created(r, 200)["text_version"] == 2
    got = api.get(f"/v1/reflections/{ref['id']}", "advisor").json()
    assert got["text_version"] == 2 and got["text"] == "I learned to ask early."

    art = {"kind": "link", "uri": "https://example.org/poster", "caption": "poster"}
    r = api.post(f"/v1/students/{sid}/artifacts", "student", json=art)
    a = created(r)
    assert a["kind"] == "artifact" and a["artifact_kind"] == "link"
    assert api.get(r.headers["Location"], "guardian").json()["caption"] == "poster"

    note = {"text": "Punctual and careful.", "ratings": {"CR.1": "3"}}
    r = api.post(
        f"/v1/experiences/{xid}/mentor-notes",
        "mentor",
        json={**note, "framework_id": str(api.cast.framework_id)},
    )
    n = created(r)
    assert n["kind"] == "mentor_note" and n["mentor_id"] == api.cast["mentor"].id
    got = api.get(r.headers["Location"], "advisor").json()
    assert got["text"] == note["text"] and got["ratings"] == {"CR.1": "3"}


def test_judgments(api: Api) -> None:
    sid = api.cast.own
    rid = api.cast.reflection(sid)
    body = {
        "framework_id": str(api.cast.framework_id),
        "competency_id": "CR.1",
        "level": "3",
        "evidence": [{"kind": "reflection", "id": str(rid)}],
        "rationale": "observed at work",
        "effective_on": "2025-10-01",
    }
    j = created(api.post(f"/v1/students/{sid}/judgments", "advisor", json=body))
    assert j["status"] == "standing" and j["level"] == "3"
    assert api.get(f"/v1/judgments/{j['id']}", "student").json()["competency_id"] == "CR.1"
    r = api.post(f"/v1/judgments/{j['id']}/retract", "advisor", json={"reason": "mistaken"})
    assert created(r, 200)["status"] == "retracted"


def test_credits(api: Api) -> None:
    sid = api.cast.own
    course = {
        "course_id": "ENG-11",
        "title": "English 11",
        "area": "ENG",
        "credits_earned": "1",
        "mark": "A",
        "school_year": "2025-26",
        "term": "FY",
    }
    c = created(api.post(f"/v1/students/{sid}/courses", json=course))
    assert c["status"] == "approved" and c["method"] == "course"

    jid = api.cast.judgment(sid)
    proposal = {
        "area": "CTE",
        "amount": "0.5",
        "title": "Career Preparation",
        "school_year": "2025-26",
        "term": "S1",
        "method": "mastery",
        "basis": {"judgments": [str(jid)]},
        "framework_id": str(api.cast.framework_id),
        "rule_id": "CTE-PREP",
    }
    p = created(api.post(f"/v1/students/{sid}/credits", "advisor", json=proposal))
    assert p["status"] == "proposed"
    r = api.post(f"/v1/credits/{p['id']}/approve", headers={"If-Match": '"1"'})
    assert created(r, 200)["status"] == "approved"
    r = api.post(
        f"/v1/credits/{p['id']}/amend", json={"reason": "typo", "changes": {"title": "CP"}}
    )
    assert created(r, 200)["status"] == "approved"
    r = api.post(f"/v1/credits/{p['id']}/revoke", json={"reason": "entered in error"})
    assert created(r, 200)["status"] == "revoked"

    rejected = api.cast.credit(sid)
    r = api.post(f"/v1/credits/{rejected}/reject", json={"reason": "not enough evidence"})
    assert created(r, 200)["status"] == "rejected"

    flagged = api.cast.credit(sid, approve=True, flag=True)
    assert api.get(f"/v1/credits/{flagged}").json()["flagged"] is True
    r = api.post(f"/v1/credits/{flagged}/reconfirm", json={"reason": "other evidence holds"})
    assert created(r, 200)["flagged"] is False


def test_reads(api: Api) -> None:
    sid = api.cast.own
    xid = api.cast.experience(sid)
    api.cast.hours_entry(sid, xid, verify=True)
    cid = api.cast.credit(sid, approve=True, flag=True)
    api.client.app.state.ledger.caught_up()

    m = api.get(f"/v1/students/{sid}/mastery", "student")
    assert m.status_code == 200, m.text
    assert m.json()["student_id"] == str(sid)
    assert {row["competency_id"] for row in m.json()["competencies"]} >= {"CR.1"}
    assert m.json()["as_of"] is None and m.json()["effective_on"] is None
    then = api.get(
        f"/v1/students/{sid}/mastery", "student", params={"as_of": "2025-01-01T00:00:00Z"}
    )
    assert then.status_code == 200 and then.json()["as_of"].startswith("2025-01-01T00:00:00")
    on = api.get(f"/v1/students/{sid}/mastery", "student", params={"effective_on": "2026-01-01"})
    assert on.status_code == 200 and on.json()["effective_on"] == "2026-01-01"

    t = api.get(f"/v1/students/{sid}/transcript", "guardian")
    assert t.status_code == 200, t.text
    assert "totals" in t.json() and "terms" in t.json()
    early = api.get(f"/v1/students/{sid}/transcript", params={"as_of": "2025-01-01T00:00:00Z"})
    assert early.status_code == 200 and early.json()["totals"]["earned"] in ("0", 0, "0.0")
    on_day = api.get(f"/v1/students/{sid}/transcript", params={"effective_on": "2026-01-01"})
    assert on_day.status_code == 200

    h = api.get(f"/v1/students/{sid}/hours", "advisor")
    assert h.status_code == 200, h.text
    assert h.json()["totals"]["verified"] in ("4", 4, "4.00")

    lin = api.get(f"/v1/credits/{cid}/lineage")
    assert lin.status_code == 200, lin.text
    assert lin.json()["credit"]["id"] == str(cid)
    assert lin.json()["judgments"][0]["status"] == "retracted"

    hist = api.get(f"/v1/students/{sid}/history", "student", params={"limit": 3})
    assert hist.status_code == 200, hist.text
    first = hist.json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    more = api.get(
        f"/v1/students/{sid}/history", "student", params={"cursor": first["next_cursor"]}
    )
    seen = [i["position"] for i in first["items"]] + [i["position"] for i in more.json()["items"]]
    assert len(seen) == len(set(seen))

    audit = api.get("/v1/audit", params={"actor": api.cast["mentor"].id})
    assert audit.status_code == 200, audit.text
    assert {i["actor_id"] for i in audit.json()["items"]} == {api.cast["mentor"].id}
    typed = api.get("/v1/audit", params={"type": "Credit.Approved"}).json()["items"]
    assert typed and all(i["type"] == "Credit.Approved" for i in typed)


def test_operations(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready" and body["position"] > 0 and body["projection_lag"] == 0


def test_a_mentor_lists_only_the_experiences_they_mentor(store_url):
    from fastapi.testclient import TestClient

    from api import create_app
    from ledger.domain import Role
    from tests.builders import School

    with TestClient(create_app(store_url)) as client:
        app = client.app.state.ledger.app
        school = School.build(app)
        sid, _ = school.enroll("M1")
        mine = school.experience(sid)
        other_mentor = school.person(Role.MENTOR, "Other mentor")
        _, token = app.issue_token(school.admin, other_mentor.user_id)
        _, mine_token = app.issue_token(school.admin, school.mentor.user_id)
        client.app.state.ledger.rm.catch_up()

        def listed(tok: str) -> list[str]:
            r = client.get("/v1/experiences", headers={"Authorization": f"Bearer {tok}"})
            assert r.status_code == 200, r.text
            return [x["id"] for x in r.json()["items"]]

        assert listed(mine_token) == [str(mine)]
        assert listed(token) == []
