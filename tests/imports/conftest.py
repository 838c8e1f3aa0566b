"""Small CASE packages and OneRoster folders written in code, for the importers' unit tests."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Any

import pytest

DOC = "9a3c1e40-1111-4c1e-8a2b-000000000000"


def _uuid(n: int) -> str:
    return str(uuid.UUID(int=0x9A3C1E40_0000_4C1E_8A2B_000000000000 + n))


def item(n: int, code: str | None = None, **extra: Any) -> dict[str, Any]:
    d = {
        "identifier": _uuid(n),
        "uri": f"https://case.example.org/uri/{_uuid(n)}",
        "fullStatement": f"Statement {n}",
        "lastChangeDateTime": "2024-01-02T03:04:05+00:00",
    }
    if code is not None:
        d["humanCodingScheme"] = code
    d.update(extra)
    return d


def link(ident: str, title: str = "node") -> dict[str, str]:
    return {"title": title, "identifier": ident, "uri": f"https://case.example.org/uri/{ident}"}


def assoc(n: int, kind: str, origin: str, dest: str, seq: int | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "identifier": _uuid(1000 + n),
        "uri": f"https://case.example.org/uri/{_uuid(1000 + n)}",
        "associationType": kind,
        "originNodeURI": link(origin),
        "destinationNodeURI": link(dest),
        "lastChangeDateTime": "2024-01-02T03:04:05+00:00",
    }
    if seq is not None:
        d["sequenceNumber"] = seq
    return d


def case_package() -> dict[str, Any]:
    """A two-level framework: root A with children A.2, A.1 (ordered by sequenceNumber), A.1
    with one child, a second root B, and a precedes and an external exactMatchOf."""
    items = [
        item(1, "A", CFItemType="Domain"),
        item(2, "A.2", CFItemType="Standard"),
        item(3, "A.1", CFItemType="Standard"),
        item(4, "A.1.a", CFItemType="Component"),
        item(5, "B", CFItemType="Domain"),
    ]
    assocs = [
        assoc(1, "isChildOf", _uuid(1), DOC, 1),
        assoc(2, "isChildOf", _uuid(2), _uuid(1), 2),
        assoc(3, "isChildOf", _uuid(3), _uuid(1), 1),
        assoc(4, "isChildOf", _uuid(4), _uuid(3), 1),
        assoc(5, "isChildOf", _uuid(5), DOC, 2),
        assoc(6, "precedes", _uuid(3), _uuid(2)),
        assoc(7, "exactMatchOf", _uuid(4), "5b6c487e-04f1-5ba9-9722-d099849b9167"),
    ]
    return {
        "CFDocument": {
            "identifier": DOC,
            "uri": f"https://case.example.org/uri/{DOC}",
            "title": "Test Framework",
            "creator": "Tests",
            "lastChangeDateTime": "2024-01-02T03:04:05+00:00",
        },
        "CFItems": items,
        "CFAssociations": assocs,
    }


# ---------------------------------------------------------------------- OneRoster
USERS_12 = [
    "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,"
    "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
    "userMasterIdentifier,resourceSourcedIds,preferredGivenName,preferredMiddleName,"
    "preferredFamilyName,primaryOrgSourcedId,pronouns"
]


def roster_tables() -> dict[str, list[list[str]]]:
    """A OneRoster 1.2 export: one school, one class, a teacher, two students, a parent."""
    return {
        "manifest": [
            ["propertyName", "value"],
            ["manifest.version", "1.0"],
            ["oneroster.version", "1.2"],
            ["file.orgs", "bulk"],
            ["file.users", "bulk"],
            ["file.enrollments", "bulk"],
        ],
        "orgs": [
            ["sourcedId", "status", "dateLastModified", "name", "type", "identifier"],
            ["org-1", "active", "2025-08-01", "North High", "school", "3021"],
        ],
        "academicSessions": [
            ["sourcedId", "status", "title", "type", "startDate", "endDate", "schoolYear"],
            ["as-1", "active", "2025-26", "schoolYear", "2025-09-01", "2026-06-15", "2026"],
        ],
        "classes": [
            ["sourcedId", "status", "title", "schoolSourcedId", "termSourcedIds"],
            ["cls-1", "active", "Physics, period 1", "org-1", "as-1"],
        ],
        "users": [
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "username",
                "givenName",
                "familyName",
                "identifier",
                "agentSourcedIds",
                "grades",
                "primaryOrgSourcedId",
                "userIds",
            ],
            ["u-t1", "active", "2025-08-01", "tt", "Terry", "Teach", "T1", "", "", "org-1", ""],
            ["u-s1", "active", "2025-08-01", "s1", "Sam", "Student", "1001", "u-p1", "10"]
            + ["org-1", "{SSID:5123456789}"],
            ["u-s2", "", "", "s2", "Alex", "Other", "1002", "", "12", "org-1", ""],
            ["u-p1", "active", "2025-08-01", "p1", "Pat", "Parent", "", "u-s1", "", "org-1", ""],
        ],
        "roles": [
            ["sourcedId", "status", "userSourcedId", "roleType", "role", "orgSourcedId"],
            ["r1", "active", "u-t1", "primary", "teacher", "org-1"],
            ["r2", "active", "u-s1", "primary", "student", "org-1"],
            ["r3", "active", "u-s2", "primary", "student", "org-1"],
            ["r4", "active", "u-p1", "primary", "parent", "org-1"],
        ],
        "enrollments": [
            ["sourcedId", "status", "classSourcedId", "schoolSourcedId", "userSourcedId", "role"],
            ["e1", "active", "cls-1", "org-1", "u-t1", "teacher"],
            ["e2", "active", "cls-1", "org-1", "u-s1", "student"],
            ["e3", "active", "cls-1", "org-1", "u-s2", "student"],
        ],
    }


def csv_bytes(rows: list[list[str]], bom: bool = False, encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    data = buf.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def write_roster(folder: Path, tables: dict[str, list[list[str]]], **kw: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        (folder / f"{name}.csv").write_bytes(csv_bytes(rows, **kw))
    return folder


@pytest.fixture
def roster(tmp_path: Path) -> Path:
    return write_roster(tmp_path / "roster", roster_tables())
