"""POST /v1/frameworks/import and /v1/rosters/import over HTTP, on both stores."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from fastapi.testclient import TestClient

from api import create_app
from ledger.application import system_actor
from ledger.domain import Role, student_id_for
from ledger.imports.case import framework_id_for
from tests.imports.conftest import DOC, _uuid, case_package, csv_bytes, roster_tables


@pytest.fixture
def http(store_url, clock):
    fastapi_app = create_app(store_url, clock=clock)
    with TestClient(fastapi_app, raise_server_exceptions=False) as client:
        app = fastapi_app.state.ledger.app
        tokens = {}
        for role in (Role.ADMIN, Role.REGISTRAR, Role.ADVISOR):
            _, tokens[role] = app.add_user(system_actor(), role=role, name=str(role))
        client.app_ledger = app
        client.as_role = {r: {"Authorization": f"Bearer {t}"} for r, t in tokens.items()}
        yield client


def test_case_import_over_http(http):
    body = {"package": case_package(), "mapping": {"graduation_area": "CTE"}}
    first = http.post("/v1/frameworks/import", json=body, headers=http.as_role[Role.ADMIN])
    assert first.status_code == 201, first.text
    res = first.json()["resource"]
    assert res["status"] == "published" and res["counts"]["items"] == 5
    assert first.headers["Location"] == f"/v1/frameworks/{framework_id_for(DOC)}"
    before = http.app_ledger.position()
    again = http.post("/v1/frameworks/import", json=body, headers=http.as_role[Role.ADMIN])
    assert again.status_code == 200 and again.json()["resource"]["status"] == "unchanged"
    assert http.app_ledger.position() == before


def test_case_import_rejections_over_http(http):
    pkg = case_package()
    pkg["CFAssociations"][1]["destinationNodeURI"]["identifier"] = _uuid(404)
    pkg["CFAssociations"][1]["destinationNodeURI"]["uri"] = "urn:nowhere"
    before = http.app_ledger.position()
    bad = http.post(
        "/v1/frameworks/import", json={"package": pkg}, headers=http.as_role[Role.ADMIN]
    )
    assert bad.status_code == 422
    assert "CFAssociations[1]" in bad.json()["detail"]
    denied = http.post(
        "/v1/frameworks/import",
        json={"package": case_package()},
        headers=http.as_role[Role.ADVISOR],
    )
    assert denied.status_code == 403
    assert http.app_ledger.position() == before


def test_roster_import_over_http_as_files_and_as_zip(http):
    tables = roster_tables()
    files = {f"{name}.csv": csv_bytes(rows).decode() for name, rows in tables.items()}
    first = http.post(
        "/v1/rosters/import", json={"files": files}, headers=http.as_role[Role.REGISTRAR]
    )
    assert first.status_code == 200, first.text
    assert first.json()["resource"]["students"]["created"] == 2
    assert http.app_ledger.student(student_id_for("3021", "1001")).family_name == "Student"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    body = {"zip_base64": base64.b64encode(buf.getvalue()).decode()}
    before = http.app_ledger.position()
    again = http.post("/v1/rosters/import", json=body, headers=http.as_role[Role.REGISTRAR])
    assert again.status_code == 200
    assert again.json()["resource"]["students"]["unchanged"] == 2
    assert http.app_ledger.position() == before


def test_roster_rejections_over_http(http):
    files = {f"{n}.csv": csv_bytes(rows).decode() for n, rows in roster_tables().items()}
    files["enrollments.csv"] += "e9,active,cls-1,org-1,u-ghost,student\r\n"
    before = http.app_ledger.position()
    bad = http.post(
        "/v1/rosters/import", json={"files": files}, headers=http.as_role[Role.REGISTRAR]
    )
    assert bad.status_code == 422
    assert "enrollments.csv:5: user u-ghost is not in users.csv" in bad.json()["detail"]
    neither = http.post("/v1/rosters/import", json={}, headers=http.as_role[Role.REGISTRAR])
    assert neither.status_code == 422
    denied = http.post(
        "/v1/rosters/import", json={"files": files}, headers=http.as_role[Role.ADVISOR]
    )
    assert denied.status_code in (403, 422)
    assert http.app_ledger.position() == before
