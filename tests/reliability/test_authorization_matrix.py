"""The API's authorization table (tests/api/test_authorization.py), every endpoint x role x own
or other student, run against a PostgreSQL server of this module's own."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from tests.api.conftest import Api, open_api
from tests.api.test_authorization import ENDPOINTS, ROLES
from tests.reliability.pg_instance import PrivatePostgres, postgres_bin

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def private_api() -> Iterator[Api]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.fail("no PostgreSQL server binaries found (set LEDGER_PG_BIN to their folder)")
    server = PrivatePostgres(bin_dir)
    try:
        server.start()
        yield from open_api(server.url)
    finally:
        server.close()


def test_authorization_table_on_postgres(private_api: Api, figures) -> None:
    """Every row of the table; the mismatches of all rows are reported together."""
    cast = private_api.cast
    cells: Counter = Counter()
    wrong: dict[str, dict] = {}
    for endpoint in ENDPOINTS:
        got: dict[str, tuple[int, int]] = {}
        for role in ROLES:
            statuses = []
            for target in (cast.own, cast.other):
                path, body = endpoint.setup(cast, target)
                kw = {"json": body} if body is not None else {}
                r = private_api.call(endpoint.method, path, role, **kw)
                assert r.status_code < 500, f"{role} {endpoint.id}: {r.text}"
                statuses.append(r.status_code)
                cells[r.status_code] += 1
            got[role] = (statuses[0], statuses[1])
        mismatch = {r: (got[r], endpoint.expect[r]) for r in ROLES if got[r] != endpoint.expect[r]}
        if mismatch:
            wrong[endpoint.id] = mismatch
    assert not wrong, f"role -> (got, expected) per (own, other): {wrong}"
    figures.record(
        endpoints=len(ENDPOINTS),
        roles=len(ROLES),
        cells=sum(cells.values()),
        mismatches=len(wrong),
        statuses=dict(sorted(cells.items())),
    )
