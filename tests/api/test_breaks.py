"""Requests found to break the API, kept as regressions (both stores)."""

from __future__ import annotations

import base64
import json

import pytest

from ledger.application import system_actor
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
