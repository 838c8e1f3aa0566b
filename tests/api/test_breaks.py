"""Requests found to break the API, kept as regressions (both stores)."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from ledger.application import expected_versions, system_actor
from ledger.errors import VersionChanged
from tests.builders import framework_definition


def forged(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


LISTS = [
    "/v1/students/{own}/history",
    "/v1/students/{own}/experiences",
    "/v1/students",
    "/v1/frameworks",
    "/v1/audit",
]


@pytest.mark.parametrize(
    "value", [{"x": 1}, 10**40, [1], 1.5, True, "\ud800", -1, None, "a\x00b"], ids=repr
)
def test_forged_cursors_are_a_422_on_every_list(shared_api, value):
    # A cursor decoding to valid JSON of the wrong kind reached the database: 500s
    # (OverflowError for a huge integer, a dict bound as a parameter, int() of a list).
    for template in LISTS:
        path = template.format(own=shared_api.cast.own)
        r = shared_api.get(path, params={"cursor": forged(value)})
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/invalid-command")


def test_cursors_handed_out_still_page(shared_api):
    cast = shared_api.cast
    for _ in range(3):
        cast.experience(cast.own, start=False)
        cast.app.publish_framework(system_actor(), framework_definition())
    shared_api.client.app.state.ledger.caught_up()  # made through the app, not over HTTP
    for template in LISTS:
        path = template.format(own=cast.own)
        first = shared_api.get(path, params={"limit": 1})
        assert first.status_code == 200, first.text
        cursor = first.json()["next_cursor"]
        assert cursor is not None, path
        second = shared_api.get(path, params={"limit": 1, "cursor": cursor})
        assert second.status_code == 200, (path, second.text)
        assert second.json()["items"] != first.json()["items"]


def test_concurrent_writes_under_one_if_match_let_exactly_one_through(shared_api):
    # If-Match was checked only before the command: requests that all read version N each
    # passed the check and each committed (seen: 4 of 4), a lost update If-Match must prevent.
    cast = shared_api.cast
    xid = cast.experience(cast.own)
    for day in (3, 4, 5):
        tag = shared_api.get(f"/v1/experiences/{xid}", "student").headers["etag"]
        barrier = threading.Barrier(4)
        statuses: list[int] = []

        def log(day: int = day, tag: str = tag, barrier=barrier, statuses=statuses) -> None:
            barrier.wait()
            r = shared_api.post(
                f"/v1/experiences/{xid}/hours",
                "student",
                json={"worked_on": f"2025-11-{day:02d}", "hours": "1", "activity": "x"},
                headers={"If-Match": tag},
            )
            statuses.append(r.status_code)

        threads = [threading.Thread(target=log) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses) == [201, 412, 412, 412], statuses
        x = cast.app.experience(xid)
        assert sum(1 for e in x.entries.values() if e[2] == f"2025-11-{day:02d}") == 1


def test_a_stale_required_version_refuses_the_command_and_writes_nothing(shared_api):
    cast = shared_api.cast
    xid = cast.experience(cast.own)
    app = cast.app
    stale = app.experience(xid).version - 1
    before = app.position()
    token = expected_versions.set({xid: frozenset({stale})})
    try:
        with pytest.raises(VersionChanged):
            cast.hours_entry(cast.own, xid, day=6)
    finally:
        expected_versions.reset(token)
    assert app.position() == before
    cast.hours_entry(cast.own, xid, day=6)  # without the requirement it goes through
