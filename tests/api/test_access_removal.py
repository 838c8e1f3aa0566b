"""Taking access away, through HTTP on both stores: what the removed person gets afterwards,
that refusals write nothing, that replays are replays, and that the history says who and why."""

from __future__ import annotations

from uuid import UUID, uuid4

from ledger.domain import Role
from tests.api.conftest import Api


def test_unlinked_guardian_gets_404_on_the_transcript(api: Api) -> None:
    sid, gid = api.cast.own, api.cast["guardian"].id
    assert api.get(f"/v1/students/{sid}/transcript", "guardian").status_code == 200
    path, body = f"/v1/students/{sid}/guardians/{gid}/unlink", {"reason": "custody order"}

    before = api.app.position()
    for who, status in (("guardian", 403), ("advisor", 403), ("admin", 404), ("mentor", 404)):
        assert api.post(path, who, json=body).status_code == status, who
    empty = api.post(path, json={"reason": ""})
    assert empty.status_code == 422
    assert empty.headers["content-type"].startswith("application/problem+json")
    assert api.post(path, headers={"If-Match": '"1"'}, json=body).status_code == 412
    assert api.app.position() == before

    key = {"Idempotency-Key": "unlink-1", "X-Request-ID": "req-unlink-1"}
    done = api.post(path, headers=key, json=body)
    assert done.status_code == 200, done.text
    assert done.json()["resource"]["guardians"] == [] and done.json()["replayed"] is False
    position = api.app.position()
    again = api.post(path, headers=key, json=body)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert api.app.position() == position
    assert api.post(path, json=body).json()["type"].endswith("/state-conflict")

    for read in ("transcript", "mastery", "hours", "history"):
        assert api.get(f"/v1/students/{sid}/{read}", "guardian").status_code == 404, read
    assert api.get(f"/v1/students/{sid}", "guardian").status_code == 404
    assert api.get("/v1/students", "guardian").json()["items"] == []

    items = api.get(f"/v1/students/{sid}/history", params={"limit": 200}).json()["items"]
    (row,) = [i for i in items if i["type"] == "Student.GuardianUnlinked"]
    assert (row["actor_id"], row["actor_role"]) == (api.cast["registrar"].id, "registrar")
    assert (row["why"], row["correlation_id"]) == ("custody order", "req-unlink-1")


def test_unassigned_advisor_can_no_longer_judge(api: Api) -> None:
    sid, aid = api.cast.own, api.cast["advisor"].id
    judgment = {
        "framework_id": str(api.cast.framework_id),
        "competency_id": "CR.1",
        "level": "3",
        "evidence": [{"kind": "reflection", "id": str(api.cast.reflection(sid))}],
        "rationale": "seen at work",
    }
    assert api.post(f"/v1/students/{sid}/judgments", "advisor", json=judgment).status_code == 201
    done = api.post(f"/v1/students/{sid}/advisors/{aid}/unassign", json={"reason": "left"})
    assert done.status_code == 200, done.text
    assert done.json()["resource"]["advisors"] == []

    before = api.app.position()
    refused = api.post(f"/v1/students/{sid}/judgments", "advisor", json=judgment)
    assert refused.status_code == 404
    assert api.get(f"/v1/students/{sid}/transcript", "advisor").status_code == 404
    assert api.get("/v1/students", "advisor").json()["items"] == []
    assert api.app.position() == before
    audit = api.get("/v1/audit", params={"type": "Student.AdvisorUnassigned"}).json()["items"]
    assert [(i["student_id"], i["why"]) for i in audit] == [(str(sid), "left")]


def test_deactivated_users_tokens_get_401(api: Api) -> None:
    guardian = api.cast["guardian"]
    _, spare = api.app.issue_token(api.cast["admin"].actor, UUID(guardian.id))
    path, body = f"/v1/users/{guardian.id}/deactivate", {"reason": "custody ended"}

    before = api.app.position()
    assert api.post(path, "registrar", json=body).status_code == 403
    assert api.post(path, "guardian", json=body).status_code == 403
    assert api.post(path, "admin", json={}).status_code == 422
    unknown = f"/v1/users/{uuid4()}/deactivate"
    assert api.post(unknown, "admin", json=body).status_code == 404
    own = f"/v1/users/{api.cast['admin'].id}/deactivate"
    assert api.post(own, "admin", json=body).status_code == 422
    assert api.app.position() == before

    key = {"Idempotency-Key": "deactivate-1"}
    done = api.post(path, "admin", headers=key, json=body)
    assert done.status_code == 200, done.text
    assert done.json()["resource"]["active"] is False
    again = api.post(path, "admin", headers=key, json=body)
    assert again.json()["replayed"] is True

    for token in (guardian.token, spare):
        r = api.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = api.client.get(
        f"/v1/students/{api.cast.own}/transcript", headers={"Authorization": f"Bearer {spare}"}
    )
    assert r.status_code == 401
    assert api.post(path, "admin", json=body).status_code == 409

    audit = api.get("/v1/audit", params={"type": "User.Deactivated"}).json()["items"]
    assert [(i["originator_id"], i["actor_id"], i["why"]) for i in audit] == [
        (guardian.id, api.cast["admin"].id, "custody ended")
    ]


def test_revoke_own_token_logs_out(api: Api) -> None:
    mentor = api.cast["mentor"]
    _, spare = api.app.issue_token(api.cast["admin"].actor, UUID(mentor.id))
    before = api.app.position()
    # Someone else's token, an unknown one: as if it did not exist.
    other = {"token": api.cast["advisor"].token, "reason": "x"}
    assert api.post("/v1/tokens/revoke", "mentor", json=other).status_code == 404
    unknown = {"token": "clt_nope", "reason": "x"}
    assert api.post("/v1/tokens/revoke", "mentor", json=unknown).status_code == 404
    assert api.app.position() == before

    body = {"token": mentor.token, "reason": "logged out"}
    done = api.post("/v1/tokens/revoke", "mentor", json=body)
    assert done.status_code == 200, done.text
    assert mentor.token not in done.text
    assert api.get("/v1/me", "mentor").status_code == 401
    r = api.client.get("/v1/me", headers={"Authorization": f"Bearer {spare}"})
    assert r.status_code == 200 and r.json()["role"] == str(Role.MENTOR)


def test_removals_made_by_another_process_hold_at_once(api: Api, store_url: str) -> None:
    """An admin runs the CLI while the server runs: the server's next request obeys it, even
    before its read models have projected the removal."""
    from ledger.application import LedgerApplication, system_actor

    sid, gid = api.cast.own, api.cast["guardian"].id
    assert [i["id"] for i in api.get("/v1/students", "guardian").json()["items"]] == [str(sid)]
    other = LedgerApplication(database_url=store_url)
    try:
        other.unlink_guardian(system_actor(), sid, UUID(gid), "custody order")
        other.deactivate_user(system_actor(), UUID(api.cast["other_guardian"].id), "left")
    finally:
        other.close()
    assert api.get(f"/v1/students/{sid}/transcript", "guardian").status_code == 404
    assert api.get("/v1/students", "guardian").json()["items"] == []
    assert api.get("/v1/me", "other_guardian").status_code == 401


def test_weak_etags_never_match_and_deactivated_people_are_not_linked(store_url) -> None:
    from uuid import UUID

    from fastapi.testclient import TestClient

    from api import create_app
    from ledger.domain import Role
    from ledger.errors import InvalidCommand
    from tests.builders import School

    with TestClient(create_app(store_url)) as client:
        app = client.app.state.ledger.app
        school = School.build(app)
        sid, _ = school.enroll("W1")
        _, token = app.issue_token(school.admin, school.registrar.user_id)
        guardian = school.person(Role.GUARDIAN, "Second guardian")
        version = app.student(sid).version
        before = app.position()
        r = client.post(
            f"/v1/students/{sid}/guardians",
            json={"user_id": guardian.user_id},
            headers={"Authorization": f"Bearer {token}", "If-Match": f'W/"{version}"'},
        )
        assert r.status_code == 412, r.text
        assert app.position() == before
        app.deactivate_user(school.admin, UUID(guardian.user_id), "left the district")
        before = app.position()
        try:
            app.link_guardian(school.admin, sid, UUID(guardian.user_id))
        except InvalidCommand:
            pass
        else:
            raise AssertionError("a deactivated guardian was linked")
        assert app.position() == before
