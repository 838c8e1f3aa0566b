"""schemathesis against the API's own OpenAPI schema, in process (ASGI), on both stores.

Each operation gets valid and invalid requests, with random ids and with ids of real records,
signed in as a registrar and as an admin. Every answer must be below 500 and match the schema
(status code, content type, headers, body). Bounded: CASES_PER_OPERATION per operation, per
mode, per role; the run asserts how many cases it sent. ``-m fuzz`` runs many more.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import Api, open_api

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CASES_PER_OPERATION = int(os.environ.get("LEDGER_FUZZ_CASES", "2"))


@pytest.fixture
def fuzz_api(store_url: str) -> Iterator[Api]:
    yield from open_api(store_url)


def real_ids(api: Api) -> dict[str, str]:
    c = api.cast
    xid = c.experience(c.own)
    entry = c.hours_entry(c.own, xid)
    return {
        "student_id": str(c.own),
        "framework_id": str(c.framework_id),
        "experience_id": str(xid),
        "entry_id": str(entry),
        "credit_id": str(c.credit(c.own)),
        "judgment_id": str(c.judgment(c.own)),
        "reflection_id": str(c.reflection(c.own)),
        "user_id": c["advisor"].id,
    }


def run(api: Api, who: str, cases_per_operation: int) -> int:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    ids = real_ids(api)
    api.client.app.state.ledger.caught_up()
    headers = api.cast[who].headers
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        known = {k: v for k, v in ids.items() if k in names}
        strategies = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies.append(operation.as_strategy(generation_mode=mode))
            if known:
                strategies.append(
                    operation.as_strategy(generation_mode=mode, path_parameters=known)
                )

        @settings(
            max_examples=cases_per_operation * len(strategies),
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(strategies))
        def check(case: Any) -> None:
            nonlocal sent
            sent += 1
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
    return sent


@pytest.mark.parametrize("who", ["registrar", "admin"])
def test_schema_conformance(fuzz_api: Api, who: str) -> None:
    sent = run(fuzz_api, who, CASES_PER_OPERATION)
    # 45 operations, 2 to 4 strategies each: well over the 200 cases asked for, per role.
    assert sent >= 200


@pytest.mark.fuzz
@pytest.mark.parametrize("who", ["registrar", "admin", "advisor", "student", "mentor"])
def test_schema_conformance_long(fuzz_api: Api, who: str) -> None:
    assert run(fuzz_api, who, 50) >= 2000
