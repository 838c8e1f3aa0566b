"""The conventions every endpoint shares: problem+json errors, idempotency, ETag/If-Match,
read-your-writes, correlation ids and what the access log may hold."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from api.problems import PROBLEM_BASE
from ledger import errors
from tests.api.conftest import Api


@pytest.fixture
def api(shared_api: Api) -> Api:
    # Every test here makes the records it acts on, so one cast per store serves them all.
    return shared_api


HOURS = {"worked_on": "2025-10-02", "hours": "4", "activity": "bench work"}


def problem(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == PROBLEM_BASE + code
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["instance"]
    return body


def events_after(api: Api, position: int) -> list:
    return list(api.app.recorder.select_notifications(position + 1, 10_000))


# ------------------------------------------------------------------ authentication
def test_missing_and_unknown_tokens_are_401_with_a_challenge(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer clt_nope"}, {"Authorization": "Basic eA=="}):
        r = api.client.get(f"/v1/students/{api.cast.own}", headers=headers)
        problem(r, 401, "unauthenticated")
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_read_without_a_token_is_401_before_its_query_is_checked(api: Api) -> None:
    """The read routes check a token in the read's own thread-pool hop; no token at all is still
    refused first, as on every route, not with a 422 about a bad as_of."""
    for path in ("transcript", "mastery", "hours"):
        r = api.client.get(f"/v1/students/{api.cast.own}/{path}?as_of=not-a-time")
        problem(r, 401, "unauthenticated")
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


# ------------------------------------------------------------------ problem types
def test_domain_errors_map_to_stable_types(api: Api) -> None:
    sid = api.cast.own
    xid = api.cast.experience(sid)
    # NotFound and NotPermitted
    problem(api.get("/v1/credits/00000000-0000-0000-0000-000000000000"), 404, "not-found")
    problem(api.post(f"/v1/experiences/{xid}/hours", "advisor", json=HOURS), 403, "not-permitted")
    # An InvalidCommand subclass keeps its own code
    bad = {**HOURS, "hours": "30"}
    problem(api.post(f"/v1/experiences/{xid}/hours", "student", json=bad), 422, "invalid-hours")
    # StateConflict / AlreadyDecided
    problem(api.post(f"/v1/experiences/{xid}/start", "advisor"), 422, "experience-not-active")
    cid = api.cast.credit(sid, approve=True)
    problem(api.post(f"/v1/credits/{cid}/approve"), 409, "already-decided")
    problem(api.post(f"/v1/credits/{cid}/reconfirm", json={"reason": "x"}), 409, "state-conflict")


def test_every_error_class_has_a_status_and_a_type() -> None:
    from api.problems import status_for

    def classes(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from classes(sub)

    for cls in classes(errors.LedgerError):
        exc = cls.__new__(cls)  # status depends on the class alone
        assert 400 <= status_for(exc) < 500
        assert cls.code and cls.code != errors.LedgerError.code


def test_request_validation_lists_the_fields_and_writes_nothing(api: Api) -> None:
    before = api.app.position()
    r = api.post("/v1/students", json={"local_id": "", "cohort": "soon"})
    body = problem(r, 422, "request-validation")
    where = {tuple(e["location"]) for e in body["errors"]}
    assert ("body", "local_id") in where and ("body", "cohort") in where
    assert "soon" not in json.dumps(body)  # the offending input is not echoed
    assert api.app.position() == before


@pytest.mark.parametrize(
    ("content", "ctype", "status", "code"),
    [
        (b"{not json", "application/json", 400, "malformed-json"),
        (b"local_id=1", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
        (b'"just a string"', "application/json", 422, "request-validation"),
        (b'{"text": "a\\u0000b"}', "application/json", 422, "request-validation"),
        (b'{"text": "\\ud800"}', "application/json", 422, "request-validation"),
    ],
)
def test_malformed_bodies_are_4xx(api: Api, content, ctype, status, code) -> None:
    r = api.post(
        f"/v1/students/{api.cast.own}/reflections",
        "student",
        content=content,
        headers={"Content-Type": ctype},
    )
    problem(r, status, code)


def test_oversized_bodies_are_413(api: Api) -> None:
    big = {"text": "x" * (1024 * 1024 + 10)}
    r = api.post(f"/v1/students/{api.cast.own}/reflections", "student", json=big)
    problem(r, 413, "payload-too-large")


def test_invalid_ids_and_unknown_routes_never_500(api: Api) -> None:
    problem(api.get("/v1/students/not-a-uuid"), 422, "request-validation")
    problem(api.post("/v1/credits/%00/approve"), 422, "request-validation")
    problem(api.get("/v1/nowhere"), 404, "not-found")
    problem(api.call("DELETE", "/v1/students", "registrar"), 405, "method-not-allowed")


# ------------------------------------------------------------------ time parameters
def test_as_of_needs_a_zone_and_excludes_effective_on(api: Api) -> None:
    path = f"/v1/students/{api.cast.own}/transcript"
    problem(api.get(path, params={"as_of": "2026-01-01T00:00:00"}), 422, "request-validation")
    both = {"as_of": "2026-01-01T00:00:00Z", "effective_on": "2026-01-01"}
    problem(api.get(path, params=both), 422, "invalid-command")
    problem(api.get(path, params={"effective_on": "2026-13-01"}), 422, "request-validation")
    far = {"as_of": "9999-12-31T23:59:59-23:00"}
    assert api.get(path, params=far).status_code in (200, 422)
    assert api.get(path, params={"as_of": "2026-01-01T00:00:00+02:00"}).status_code == 200


def test_limits_are_bounded(api: Api) -> None:
    problem(api.get("/v1/students", params={"limit": 0}), 422, "request-validation")
    problem(api.get("/v1/students", params={"limit": 10_000}), 422, "request-validation")
    problem(api.get("/v1/students", params={"cursor": "'; drop"}), 422, "request-validation")


# ------------------------------------------------------------------ idempotency
def test_same_key_three_times_records_one_event(api: Api) -> None:
    xid = api.cast.experience(api.cast.own)
    before = api.app.position()
    key = {"Idempotency-Key": "log-2025-10-02"}
    answers = [
        api.post(f"/v1/experiences/{xid}/hours", "student", json=HOURS, headers=key)
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.json()["resource"]["id"] for a in answers}) == 1
    assert [a.json()["replayed"] for a in answers] == [False, True, True]
    new = events_after(api, before)
    hours_events = [n for n in new if n.topic.endswith("Experience.HoursLogged")]
    assert len(hours_events) == 1
    # the hours event plus the idempotency record, and nothing on the replays
    assert len(new) == 2


def test_same_key_different_body_is_422_and_writes_nothing(api: Api) -> None:
    xid = api.cast.experience(api.cast.own)
    key = {"Idempotency-Key": "k-1"}
    assert api.post(f"/v1/experiences/{xid}/hours", "student", json=HOURS, headers=key).is_success
    before = api.app.position()
    other = {**HOURS, "hours": "5"}
    r = api.post(f"/v1/experiences/{xid}/hours", "student", json=other, headers=key)
    problem(r, 422, "idempotency-key-reused")
    assert events_after(api, before) == []


def test_idempotency_keys_are_bounded(api: Api) -> None:
    xid = api.cast.experience(api.cast.own)
    key = {"Idempotency-Key": "k" * 256}
    r = api.post(f"/v1/experiences/{xid}/hours", "student", json=HOURS, headers=key)
    problem(r, 422, "request-validation")


# ------------------------------------------------------------------ ETag / If-Match
def test_if_match_guards_state_changes(api: Api) -> None:
    cid = api.cast.credit(api.cast.own)
    tag = api.get(f"/v1/credits/{cid}").headers["ETag"]
    stale = api.post(f"/v1/credits/{cid}/reject", json={"reason": "x"}, headers={"If-Match": '"0"'})
    problem(stale, 412, "precondition-failed")
    assert api.get(f"/v1/credits/{cid}").json()["status"] == "proposed"
    ok = api.post(f"/v1/credits/{cid}/approve", headers={"If-Match": tag})
    assert ok.status_code == 200 and ok.headers["ETag"] != tag


def test_a_retried_write_replays_despite_its_now_stale_if_match(api: Api) -> None:
    cid = api.cast.credit(api.cast.own)
    headers = {"If-Match": api.get(f"/v1/credits/{cid}").headers["ETag"], "Idempotency-Key": "a1"}
    first = api.post(f"/v1/credits/{cid}/approve", headers=headers)
    again = api.post(f"/v1/credits/{cid}/approve", headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["replayed"] is True


# ------------------------------------------------------------------ read-your-writes, logs
def test_a_write_is_visible_to_the_next_read(api: Api) -> None:
    sid = api.cast.own
    xid = api.cast.experience(sid)
    api.client.app.state.ledger.caught_up()
    before = Decimal(api.get(f"/v1/students/{sid}/hours", "student").json()["totals"]["logged"])
    api.post(f"/v1/experiences/{xid}/hours", "student", json=HOURS)
    after = Decimal(api.get(f"/v1/students/{sid}/hours", "student").json()["totals"]["logged"])
    assert after - before == 4


def test_request_id_is_echoed_and_becomes_the_correlation_id(api: Api) -> None:
    xid = api.cast.experience(api.cast.own)
    r = api.post(
        f"/v1/experiences/{xid}/hours",
        "student",
        json=HOURS,
        headers={"X-Request-ID": "req-abc.123"},
    )
    assert r.headers["X-Request-ID"] == "req-abc.123"
    last = list(api.app.repository.event_store.get(xid))[-1]
    assert type(last).__name__ == "HoursLogged"
    assert last.correlation_id == "req-abc.123"
    junk = api.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert junk.headers["X-Request-ID"] != "bad id\twith spaces"


def test_access_log_has_ids_and_route_but_no_names_or_text(api: Api, capsys) -> None:
    capsys.readouterr()
    body = {
        "local_id": "S-77",
        "given_name": "Zephyrine",
        "family_name": "Oddlyname",
        "grade_level": "9",
        "cohort": 2029,
        "school_code": "1234",
    }
    api.post("/v1/students", json=body, headers={"X-Request-ID": "log-1"})
    api.post(f"/v1/students/{api.cast.own}/reflections", "student", json={"text": "Secretive"})
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    entry = next(line for line in lines if line.get("request_id") == "log-1")
    assert entry["route"] == "/v1/students" and entry["status"] == 201
    assert entry["actor_id"] == api.cast["registrar"].id and entry["role"] == "registrar"
    assert isinstance(entry["duration_ms"], float)
    for secret in ("Zephyrine", "Oddlyname", "Secretive", "Zelda", "Quixote"):
        assert secret not in err
