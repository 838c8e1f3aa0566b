"""Who may do what, as a table: every endpoint x role x the caller's own / another student.

Expected outcomes are data (the ``EXPECT`` rows below). 404 means the caller may not know the
record exists; 403 that they may see it but not take the action. Each cell gets fresh records
(made through the application), so a cell that succeeds never changes what another sees.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

from api.schemas import FRAMEWORK_EXAMPLE
from ledger.application import system_actor
from ledger.domain import Role
from tests.api.conftest import Api, Cast
from tests.imports.conftest import case_package, csv_bytes, roster_tables

ROLES = ("admin", "registrar", "reporter", "advisor", "mentor", "guardian", "student")
OWN, OTHER = "own", "other"


def same(status: int) -> dict[str, tuple[int, int]]:
    return {r: (status, status) for r in ROLES}


def table(**cells: int | tuple[int, int]) -> dict[str, tuple[int, int]]:
    """Role -> (status on own student, status on the other student); a bare int is both."""
    out = {}
    for role in ROLES:
        v = cells[role]
        out[role] = v if isinstance(v, tuple) else (v, v)
    return out


def read(mentor: int | tuple[int, int] = 404) -> dict[str, tuple[int, int]]:
    linked = (200, 404)
    return table(
        admin=404,
        registrar=200,
        reporter=404,
        advisor=linked,
        mentor=mentor,
        guardian=linked,
        student=linked,
    )


def act(who: str, ok: int, mentor_sees: bool = False) -> dict[str, tuple[int, int]]:
    """An action on a student's record that only ``who`` may take; the others who can see the
    record get 403, those who cannot get 404."""
    sees = {"registrar": 403, "advisor": (403, 404), "guardian": (403, 404)}
    sees["student"] = (403, 404)
    sees["mentor"] = (403, 404) if mentor_sees else 404
    if who == "registrar":
        sees["registrar"] = ok
    else:
        sees[who] = (ok, 404)
    return table(admin=404, reporter=404, **sees)


def only(who: str, ok: int) -> dict[str, tuple[int, int]]:
    return {r: ((ok, ok) if r == who else (403, 403)) for r in ROLES}


Setup = Callable[[Cast, UUID], tuple[str, Any]]
_seq = itertools.count()


def _framework(c: Cast, sid: UUID) -> UUID:
    from tests.builders import framework_definition

    return UUID(c.app.publish_framework(system_actor(), framework_definition()).id)


def _student_body() -> dict:
    return {
        "local_id": f"A-{next(_seq)}",
        "given_name": "Zelda",
        "family_name": "Quixote",
        "grade_level": "11",
        "cohort": 2027,
        "school_code": "1234",
    }


HOURS = {"worked_on": "2025-10-03", "hours": "3", "activity": "bench work"}
PLAN = {
    "kind": "job_shadow",
    "title": "Shadow",
    "partner_organisation": "Acme",
    "starts_on": "2025-09-01",
    "ends_on": "2026-06-15",
}
COURSE = {
    "course_id": "ENG-11",
    "title": "English 11",
    "area": "ENG",
    "credits_earned": "1",
    "mark": "A",
    "school_year": "2025-26",
    "term": "FY",
}


def _judgment_body(c: Cast, sid: UUID) -> dict:
    return {
        "framework_id": str(c.framework_id),
        "competency_id": "CR.1",
        "level": "3",
        "evidence": [{"kind": "reflection", "id": str(c.reflection(sid))}],
        "rationale": "seen at work",
    }


def _proposal(c: Cast, sid: UUID) -> dict:
    return {
        "area": "CTE",
        "amount": "0.5",
        "title": "Career Preparation",
        "school_year": "2025-26",
        "term": "S1",
        "method": "mastery",
        "basis": {"judgments": [str(c.judgment(sid))]},
        "framework_id": str(c.framework_id),
        "rule_id": "CTE-PREP",
    }


def _artifact(c: Cast, sid: UUID) -> str:
    link = {"kind": "link", "uri": "https://example.org/a"}
    return c.app.attach_artifact(c.student_login(sid).actor, sid, **link).id


def _note(c: Cast, sid: UUID) -> str:
    xid = c.experience(sid)
    return c.app.write_mentor_note(c.mentor_of(sid).actor, xid, text="Careful.").id


def _linked(c: Cast, sid: UUID, role: Role) -> str:
    """A fresh advisor or guardian of the student, so unlinking them changes no other cell."""
    uid = UUID(c.app.add_user(system_actor(), role=role, name="Linked")[0].id)
    if role is Role.ADVISOR:
        c.app.assign_advisor(system_actor(), sid, uid)
        return f"/v1/students/{sid}/advisors/{uid}/unassign"
    c.app.link_guardian(system_actor(), sid, uid)
    return f"/v1/students/{sid}/guardians/{uid}/unlink"


def _reporter_token(c: Cast) -> dict:
    _, token = c.app.issue_token(system_actor(), UUID(c["reporter"].id))
    return {"token": token, "reason": "rotated"}


def _roster_files() -> dict[str, str]:
    return {f"{name}.csv": csv_bytes(rows).decode() for name, rows in roster_tables().items()}


def _entry(c: Cast, sid: UUID) -> str:
    xid = c.experience(sid)
    return f"/v1/experiences/{xid}/hours/{c.hours_entry(sid, xid)}"


@dataclass(frozen=True)
class Endpoint:
    method: str
    route: str
    setup: Setup
    expect: dict[str, tuple[int, int]]

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}"


E = Endpoint
ENDPOINTS = [
    # frameworks
    E(
        "POST",
        "/v1/frameworks",
        lambda c, s: ("/v1/frameworks", FRAMEWORK_EXAMPLE),
        only("admin", 201),
    ),
    E("GET", "/v1/frameworks", lambda c, s: ("/v1/frameworks", None), same(200)),
    E(
        "GET",
        "/v1/frameworks/{id}",
        lambda c, s: (f"/v1/frameworks/{c.framework_id}", None),
        same(200),
    ),
    E(
        "POST",
        "/v1/frameworks/{id}/revisions",
        lambda c, s: (
            f"/v1/frameworks/{_framework(c, s)}/revisions",
            {"definition": FRAMEWORK_EXAMPLE, "reason": "simpler"},
        ),
        only("admin", 200),
    ),
    # students and users
    E(
        "POST",
        "/v1/students",
        lambda c, s: ("/v1/students", _student_body()),
        {**only("admin", 201), "registrar": (201, 201)},
    ),
    E(
        "GET",
        "/v1/students",
        lambda c, s: ("/v1/students", None),
        table(
            admin=403,
            registrar=200,
            reporter=403,
            advisor=200,
            mentor=403,
            guardian=200,
            student=200,
        ),
    ),
    E("GET", "/v1/students/{id}", lambda c, s: (f"/v1/students/{s}", None), read()),
    E(
        "POST",
        "/v1/students/{id}/advisors",
        lambda c, s: (f"/v1/students/{s}/advisors", {"user_id": c["other_advisor"].id}),
        act("registrar", 200),
    ),
    E(
        "POST",
        "/v1/students/{id}/guardians",
        lambda c, s: (f"/v1/students/{s}/guardians", {"user_id": c["other_guardian"].id}),
        act("registrar", 200),
    ),
    E(
        "POST",
        "/v1/users",
        lambda c, s: ("/v1/users", {"role": "reporter", "name": "R"}),
        only("admin", 201),
    ),
    E(
        "GET",
        "/v1/users/{id}",
        lambda c, s: (f"/v1/users/{c['reporter'].id}", None),
        only("admin", 200),
    ),
    E("GET", "/v1/me", lambda c, s: ("/v1/me", None), same(200)),
    E(
        "POST",
        "/v1/students/{id}/advisors/{user_id}/unassign",
        lambda c, s: (_linked(c, s, Role.ADVISOR), {"reason": "left the school"}),
        act("registrar", 200),
    ),
    E(
        "POST",
        "/v1/students/{id}/guardians/{user_id}/unlink",
        lambda c, s: (_linked(c, s, Role.GUARDIAN), {"reason": "custody order"}),
        act("registrar", 200),
    ),
    E(
        "POST",
        "/v1/users/{id}/deactivate",
        lambda c, s: (
            f"/v1/users/{c.app.add_user(system_actor(), role=Role.REPORTER, name='R')[0].id}"
            "/deactivate",
            {"reason": "left"},
        ),
        only("admin", 200),
    ),
    E(
        "POST",
        "/v1/tokens/revoke",
        lambda c, s: ("/v1/tokens/revoke", _reporter_token(c)),
        {**same(404), "admin": (200, 200), "reporter": (200, 200)},
    ),
    # experiences and hours
    E(
        "POST",
        "/v1/students/{id}/experiences",
        lambda c, s: (f"/v1/students/{s}/experiences", PLAN),
        act("advisor", 201),
    ),
    E(
        "GET",
        "/v1/students/{id}/experiences",
        lambda c, s: (f"/v1/students/{s}/experiences", None),
        read(),
    ),
    E("GET", "/v1/experiences", lambda c, s: ("/v1/experiences", None), only("mentor", 200)),
    E(
        "GET",
        "/v1/experiences/{id}",
        lambda c, s: (f"/v1/experiences/{c.experience(s)}", None),
        read(mentor=(200, 404)),
    ),
    E(
        "POST",
        "/v1/experiences/{id}/start",
        lambda c, s: (f"/v1/experiences/{c.experience(s, start=False)}/start", None),
        act("advisor", 200, mentor_sees=True),
    ),
    E(
        "POST",
        "/v1/experiences/{id}/complete",
        lambda c, s: (f"/v1/experiences/{c.experience(s)}/complete", None),
        act("advisor", 200, mentor_sees=True),
    ),
    E(
        "POST",
        "/v1/experiences/{id}/withdraw",
        lambda c, s: (f"/v1/experiences/{c.experience(s)}/withdraw", {"reason": "moved"}),
        act("advisor", 200, mentor_sees=True),
    ),
    E(
        "POST",
        "/v1/experiences/{id}/hours",
        lambda c, s: (f"/v1/experiences/{c.experience(s)}/hours", HOURS),
        act("student", 201, mentor_sees=True),
    ),
    E(
        "POST",
        "/v1/experiences/{id}/hours/{entry}/verify",
        lambda c, s: (f"{_entry(c, s)}/verify", None),
        act("mentor", 200, mentor_sees=True),
    ),
    E(
        "POST",
        "/v1/experiences/{id}/hours/{entry}/dispute",
        lambda c, s: (f"{_entry(c, s)}/dispute", {"reason": "not on site"}),
        act("mentor", 200, mentor_sees=True),
    ),
    # evidence
    E(
        "POST",
        "/v1/students/{id}/reflections",
        lambda c, s: (f"/v1/students/{s}/reflections", {"text": "I asked."}),
        act("student", 201),
    ),
    E(
        "GET",
        "/v1/reflections/{id}",
        lambda c, s: (f"/v1/reflections/{c.reflection(s)}", None),
        read(),
    ),
    E(
        "POST",
        "/v1/reflections/{id}/revisions",
        lambda c, s: (f"/v1/reflections/{c.reflection(s)}/revisions", {"text": "I asked early."}),
        act("student", 200),
    ),
    E(
        "POST",
        "/v1/students/{id}/artifacts",
        lambda c, s: (f"/v1/students/{s}/artifacts", {"kind": "link", "uri": "https://x.org/a"}),
        act("student", 201),
    ),
    E("GET", "/v1/artifacts/{id}", lambda c, s: (f"/v1/artifacts/{_artifact(c, s)}", None), read()),
    E(
        "GET",
        "/v1/mentor-notes/{id}",
        lambda c, s: (f"/v1/mentor-notes/{_note(c, s)}", None),
        read(mentor=(200, 404)),
    ),
    E(
        "POST",
        "/v1/experiences/{id}/mentor-notes",
        lambda c, s: (f"/v1/experiences/{c.experience(s)}/mentor-notes", {"text": "Careful."}),
        act("mentor", 201, mentor_sees=True),
    ),
    # judgments
    E(
        "POST",
        "/v1/students/{id}/judgments",
        lambda c, s: (f"/v1/students/{s}/judgments", _judgment_body(c, s)),
        act("advisor", 201),
    ),
    E("GET", "/v1/judgments/{id}", lambda c, s: (f"/v1/judgments/{c.judgment(s)}", None), read()),
    E(
        "POST",
        "/v1/judgments/{id}/retract",
        lambda c, s: (f"/v1/judgments/{c.judgment(s)}/retract", {"reason": "mistaken"}),
        act("advisor", 200),
    ),
    # credits
    E(
        "POST",
        "/v1/students/{id}/courses",
        lambda c, s: (f"/v1/students/{s}/courses", COURSE),
        act("registrar", 201),
    ),
    E(
        "POST",
        "/v1/students/{id}/credits",
        lambda c, s: (f"/v1/students/{s}/credits", _proposal(c, s)),
        act("advisor", 201),
    ),
    E("GET", "/v1/credits/{id}", lambda c, s: (f"/v1/credits/{c.credit(s)}", None), read()),
    E(
        "POST",
        "/v1/credits/{id}/approve",
        lambda c, s: (f"/v1/credits/{c.credit(s)}/approve", None),
        act("registrar", 200),
    ),
    E(
        "POST",
        "/v1/credits/{id}/reject",
        lambda c, s: (f"/v1/credits/{c.credit(s)}/reject", {"reason": "thin"}),
        act("registrar", 200),
    ),
    E(
        "POST",
        "/v1/credits/{id}/revoke",
        lambda c, s: (f"/v1/credits/{c.credit(s, approve=True)}/revoke", {"reason": "error"}),
        act("registrar", 200),
    ),
    E(
        "POST",
        "/v1/credits/{id}/reconfirm",
        lambda c, s: (
            f"/v1/credits/{c.credit(s, approve=True, flag=True)}/reconfirm",
            {"reason": "other evidence holds"},
        ),
        act("registrar", 200),
    ),
    E(
        "POST",
        "/v1/credits/{id}/amend",
        lambda c, s: (
            f"/v1/credits/{c.credit(s)}/amend",
            {"reason": "typo", "changes": {"title": "CP"}},
        ),
        act("registrar", 200),
    ),
    # reads
    E("GET", "/v1/students/{id}/mastery", lambda c, s: (f"/v1/students/{s}/mastery", None), read()),
    E(
        "GET",
        "/v1/students/{id}/transcript",
        lambda c, s: (f"/v1/students/{s}/transcript", None),
        read(),
    ),
    E("GET", "/v1/students/{id}/hours", lambda c, s: (f"/v1/students/{s}/hours", None), read()),
    E("GET", "/v1/students/{id}/history", lambda c, s: (f"/v1/students/{s}/history", None), read()),
    E(
        "GET",
        "/v1/credits/{id}/lineage",
        lambda c, s: (f"/v1/credits/{c.credit(s, approve=True)}/lineage", None),
        read(),
    ),
    E("GET", "/v1/audit", lambda c, s: ("/v1/audit", None), only("registrar", 200)),
    # exports (a year with no credits: the header-only file, never refused for bad rows)
    E(
        "GET",
        "/v1/exports/state/grade-history",
        lambda c, s: ("/v1/exports/state/grade-history?school_year=2030-31", None),
        {**only("registrar", 200), "reporter": (200, 200)},
    ),
    E("GET", "/v1/students/{id}/clr", lambda c, s: (f"/v1/students/{s}/clr", None), read()),
    E(
        "GET",
        "/v1/students/{id}/transcript.pdf",
        lambda c, s: (f"/v1/students/{s}/transcript.pdf", None),
        read(),
    ),  # imports and integrity (their areas' own tests go deeper)
    E(
        "POST",
        "/v1/frameworks/import",
        lambda c, s: ("/v1/frameworks/import", {"package": case_package()}),
        {**same(403), "admin": (201, 200)},
    ),
    E(
        "POST",
        "/v1/rosters/import",
        lambda c, s: ("/v1/rosters/import", {"files": _roster_files()}),
        {**only("admin", 200), "registrar": (200, 200)},
    ),
    E(
        "GET",
        "/v1/ledger/verify",
        lambda c, s: ("/v1/ledger/verify", None),
        {**only("admin", 200), "registrar": (200, 200)},
    ),
    E(
        "GET",
        "/v1/credits/{id}/proof",
        lambda c, s: (f"/v1/credits/{c.credit(s, approve=True)}/proof", None),
        {**only("registrar", 200), "admin": (404, 404)},
    ),
]


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_the_table_covers_every_route(shared_api: Api) -> None:
    declared = {(e.method, _shape(e.route)) for e in ENDPOINTS}
    paths = shared_api.client.get("/openapi.json").json()["paths"]
    served = {
        (method.upper(), _shape(path))
        for path, ops in paths.items()
        if path.startswith("/v1/")
        for method in ops
    }
    assert served - declared == set(), "routes without authorization rows"
    assert declared - served == set(), "rows for routes that do not exist"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.id)
def test_authorization(shared_api: Api, endpoint: Endpoint) -> None:
    cast = shared_api.cast
    got: dict[str, tuple[int, int]] = {}
    for role in ROLES:
        statuses = []
        for target in (cast.own, cast.other):
            path, body = endpoint.setup(cast, target)
            kw = {"json": body} if body is not None else {}
            r = shared_api.call(endpoint.method, path, role, **kw)
            assert r.status_code < 500, f"{role} {endpoint.id}: {r.text}"
            statuses.append(r.status_code)
        got[role] = (statuses[0], statuses[1])
    wrong = {
        role: (got[role], endpoint.expect[role])
        for role in ROLES
        if got[role] != endpoint.expect[role]
    }
    assert not wrong, f"{endpoint.id}: role -> (got, expected) per (own, other): {wrong}"
