"""An API over a real store, and a cast of users holding bearer tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from api import create_app
from ledger.application import LedgerApplication, system_actor
from ledger.domain import Actor, EvidenceRef, Role
from tests.builders import framework_definition
from tests.conftest import POSTGRES_URL, _with_query, require_postgres


@dataclass
class Login:
    actor: Actor
    token: str

    @property
    def id(self) -> str:
        return self.actor.user_id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Cast:
    """A small school, made through the application: everyone who can call the API, and two
    students ("own" is the one the advisor, mentor, guardian and student logins belong to)."""

    app: LedgerApplication
    logins: dict[str, Login] = field(default_factory=dict)
    framework_id: UUID = None  # type: ignore[assignment]
    own: UUID = None  # type: ignore[assignment]
    other: UUID = None  # type: ignore[assignment]

    def login(self, name: str, role: Role, student_id: UUID | None = None) -> Login:
        result, token = self.app.add_user(
            system_actor(), role=role, name=name.title(), student_id=student_id
        )
        self.logins[name] = Login(Actor(result.id, role, student_id), token)
        return self.logins[name]

    def __getitem__(self, name: str) -> Login:
        return self.logins[name]

    @classmethod
    def build(cls, app: LedgerApplication) -> Cast:
        c = cls(app)
        sys = system_actor()
        c.framework_id = UUID(app.publish_framework(sys, framework_definition()).id)
        for name, role in [
            ("admin", Role.ADMIN),
            ("registrar", Role.REGISTRAR),
            ("reporter", Role.REPORTER),
            ("advisor", Role.ADVISOR),
            ("other_advisor", Role.ADVISOR),
            ("mentor", Role.MENTOR),
            ("other_mentor", Role.MENTOR),
            ("guardian", Role.GUARDIAN),
            ("other_guardian", Role.GUARDIAN),
        ]:
            c.login(name, role)
        c.own = c.enroll("S-1", "advisor", "guardian")
        c.other = c.enroll("S-2", "other_advisor", "other_guardian")
        c.login("student", Role.STUDENT, c.own)
        c.login("other_student", Role.STUDENT, c.other)
        return c

    def enroll(self, local_id: str, advisor: str, guardian: str) -> UUID:
        sys = system_actor()
        sid = UUID(
            self.app.enroll_student(
                sys,
                local_id=local_id,
                given_name="Zelda",
                family_name="Quixote",
                grade_level="11",
                cohort=2027,
                school_code="1234",
            ).id
        )
        self.app.assign_advisor(sys, sid, UUID(self[advisor].id))
        self.app.link_guardian(sys, sid, UUID(self[guardian].id))
        return sid

    # ---- records the authorization table and the flows act on (made through the app) ----
    def student_login(self, sid: UUID) -> Login:
        return self["student"] if sid == self.own else self["other_student"]

    def advisor_of(self, sid: UUID) -> Login:
        return self["advisor"] if sid == self.own else self["other_advisor"]

    def mentor_of(self, sid: UUID) -> Login:
        return self["mentor"] if sid == self.own else self["other_mentor"]

    def experience(self, sid: UUID, *, start: bool = True) -> UUID:
        xid = UUID(
            self.app.plan_experience(
                self.advisor_of(sid).actor,
                sid,
                kind="internship",
                title="Lab assistant",
                partner_organisation="Acme",
                mentor_id=UUID(self.mentor_of(sid).id),
                starts_on=date(2025, 9, 1),
                ends_on=date(2026, 6, 15),
                target_competencies=["CR.1"],
            ).id
        )
        if start:
            self.app.start_experience(self.advisor_of(sid).actor, xid)
        return xid

    def hours_entry(self, sid: UUID, xid: UUID, day: int = 2, verify: bool = False) -> UUID:
        entry = UUID(
            self.app.log_hours(
                self.student_login(sid).actor,
                xid,
                worked_on=date(2025, 10, day),
                hours=Decimal(4),
                activity="bench work",
            ).id
        )
        if verify:
            self.app.verify_hours(self.mentor_of(sid).actor, xid, entry)
        return entry

    def reflection(self, sid: UUID) -> UUID:
        return UUID(
            self.app.submit_reflection(
                self.student_login(sid).actor, sid, text="I learned to ask.", competencies=["CR.1"]
            ).id
        )

    def judgment(self, sid: UUID, level: str = "3") -> UUID:
        return UUID(
            self.app.record_judgment(
                self.advisor_of(sid).actor,
                sid,
                framework_id=self.framework_id,
                competency_id="CR.1",
                level=level,
                evidence=[EvidenceRef("reflection", self.reflection(sid))],
                rationale="observed at work",
            ).id
        )

    def credit(self, sid: UUID, *, approve: bool = False, flag: bool = False) -> UUID:
        jid = self.judgment(sid)
        cid = UUID(
            self.app.propose_credit(
                self.advisor_of(sid).actor,
                sid,
                area="CTE",
                amount=Decimal("0.5"),
                title="Career Preparation",
                school_year="2025-26",
                term="S1",
                method="mastery",
                basis={"judgments": [str(jid)]},
                framework_id=self.framework_id,
                rule_id="CTE-PREP",
            ).id
        )
        if approve:
            self.app.approve_credit(self["registrar"].actor, cid)
        if flag:
            self.app.retract_judgment(self.advisor_of(sid).actor, jid, "mistaken")
        return cid


@dataclass
class Api:
    client: TestClient
    cast: Cast

    @property
    def app(self) -> LedgerApplication:
        return self.cast.app

    def call(self, method: str, path: str, who: str | None, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        if who is not None:
            headers.update(self.cast[who].headers)
        return self.client.request(method, path, headers=headers, **kw)

    def get(self, path: str, who: str | None = "registrar", **kw: Any) -> Any:
        return self.call("GET", path, who, **kw)

    def post(self, path: str, who: str | None = "registrar", **kw: Any) -> Any:
        return self.call("POST", path, who, **kw)


def open_api(url: str, clock: Any = None) -> Iterator[Api]:
    kw = {"clock": clock} if clock is not None else {}
    fastapi_app = create_app(url, **kw)
    with TestClient(fastapi_app, raise_server_exceptions=False) as client:
        cast = Cast.build(fastapi_app.state.ledger.app)
        fastapi_app.state.ledger.caught_up()
        yield Api(client, cast)


@pytest.fixture
def api(store_url: str, clock: Any) -> Iterator[Api]:
    yield from open_api(store_url, clock)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared_api(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Api]:
    """One API and cast per store for a whole module, for tests that make their own records
    and so cannot disturb one another (setting up a cast per test dominated their run time)."""
    if request.param == "postgres":
        require_postgres()
        schema = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield from open_api(_with_query(POSTGRES_URL, schema=schema))
        finally:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    else:
        yield from open_api(f"sqlite:///{tmp_path_factory.mktemp('api') / 'ledger.sqlite'}")
