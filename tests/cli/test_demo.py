"""The demo school: what the generator writes, that it repeats itself, and `ledger demo`."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from typer.testing import CliRunner

from cli.demo import build_if_empty
from cli.demo_school import (
    LOGIN_ROLES,
    WBL_RULE,
    DemoSize,
    SchoolClock,
    build_demo_school,
    mint_demo_tokens,
)
from cli.main import app as cli
from ledger.application import LedgerApplication
from ledger.domain import Role
from ledger.errors import LedgerError
from ledger.settings import get_settings

SMALL = DemoSize(students=8, experiences_per_student=2, hours_per_experience=4)
TOKEN_LINE = re.compile(r"^\s+(\w+)\s+(clt_[A-Za-z0-9_-]+)\s+user\s+([0-9a-f-]{36})$", re.M)


def events_of(app: LedgerApplication) -> list:
    out, start = [], 1
    while True:
        page = app.recorder.select_notifications(start=start, limit=1000)
        if not page:
            return out
        out += [app.mapper.to_domain_event(n) for n in page]
        start = page[-1].id + 1


def kind(event) -> str:
    return type(event).__qualname__


def story(app: LedgerApplication) -> list[tuple]:
    """What must repeat for one seed: event types, recorded and effective times, in log order
    (ids are the ledger's own uuid4s and do not repeat)."""
    return [(kind(e), e.timestamp, e.effective_on) for e in events_of(app)]


@pytest.fixture(autouse=True)
def _key_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # `ledger demo` makes a checkpoint signing key if missing: keep it out of the repository.
    monkeypatch.setenv("LEDGER_SIGNING_KEY_PATH", str(tmp_path / "key.pem"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_demo_year_has_every_story_a_registrar_must_defend(app: LedgerApplication) -> None:
    summary = build_demo_school(app, clock=SchoolClock())
    events = events_of(app)
    n = Counter(kind(e) for e in events)

    assert summary.events == len(events) == sum(n.values())
    assert n["Framework.Published"] == 1
    assert n["Student.Enrolled"] == len(summary.student_ids) == 30
    assert n["Student.AdvisorAssigned"] == 30 and n["Student.GuardianLinked"] == 30
    assert n["User.Registered"] == n["ApiToken.Issued"] == summary.acts["add_user"]
    assert n["Experience.Planned"] == n["Experience.Started"] == 90
    assert n["Experience.Completed"] + n["Experience.Withdrawn"] == 90
    assert n["Experience.HoursLogged"] == summary.acts["log_hours"] >= 90 * 12
    assert (
        n["Experience.HoursVerified"] + n["Experience.HoursDisputed"]
        == (n["Experience.HoursLogged"])
    )
    assert 0 < n["Experience.HoursDisputed"] < n["Experience.HoursVerified"] / 5
    assert 0 < n["Reflection.Revised"] < n["Reflection.Submitted"]
    assert n["Artifact.Attached"] > 0 and n["MentorNote.Written"] > 0
    assert 0 < n["Judgment.Superseded"] < n["Judgment.Recorded"]
    assert n["Judgment.Retracted"] >= 2
    assert n["Credit.Revoked"] == 1 and n["Credit.Flagged"] == 1
    assert n["Credit.Rejected"] >= 1
    assert n["Credit.Approved"] + n["Credit.Rejected"] == n["Credit.Proposed"]

    # Mentor notes carry rubric ratings; some judgments mark insufficient evidence.
    notes = [e for e in events if kind(e) == "MentorNote.Written"]
    assert all(e.ratings for e in notes)
    judged = [e for e in events if kind(e) == "Judgment.Recorded"]
    assert any(e.level == "IE" for e in judged)

    # The paid work-based learning rule: 0.5 credit for 180 verified hours, approved.
    proposed = {e.originator_id: e for e in events if kind(e) == "Credit.Proposed"}
    wbl = [e for e in proposed.values() if e.rule_id == WBL_RULE]
    assert wbl and all(e.amount == Decimal("0.5") and e.method == "hours" for e in wbl)
    for e in wbl:
        assert app.credit(e.originator_id).status == "approved"
        (xid,) = e.basis["experiences"]
        assert app.experience(xid).verified_hours >= 180
    assert sum(1 for e in proposed.values() if e.method == "course") == 30 * 6

    # The approved credit whose basis was retracted stays approved and is flagged.
    flagged = app.credit(summary.flagged_credit_id)
    assert flagged.status == "approved" and flagged.is_flagged
    (jid,) = flagged.basis["judgments"]
    assert app.judgment(jid).status == "retracted"
    assert app.credit(summary.revoked_credit_id).status == "revoked"

    # Recorded time follows the school year and never goes back along the log.
    times = [e.timestamp for e in events]
    assert times == sorted(times)
    assert (
        datetime(2025, 8, 1, tzinfo=UTC) < times[0] < times[-1] < datetime(2026, 8, 1, tzinfo=UTC)
    )
    assert {e.actor_role for e in events} >= {"admin", "registrar", "advisor", "mentor", "student"}


def test_the_same_seed_gives_the_same_year_on_either_store(
    app: LedgerApplication, tmp_path: Path
) -> None:
    build_demo_school(app, size=SMALL, seed=7, clock=SchoolClock())
    reference = LedgerApplication(database_url=f"sqlite:///{tmp_path / 'reference.sqlite'}")
    other = LedgerApplication(database_url=f"sqlite:///{tmp_path / 'other-seed.sqlite'}")
    try:
        # One transaction per command here, chunks above: the year must not depend on it.
        build_demo_school(reference, size=SMALL, seed=7, clock=SchoolClock(), chunk_events=None)
        build_demo_school(other, size=SMALL, seed=8, clock=SchoolClock())
        assert story(app) == story(reference)
        assert len(story(app)) > 300
        assert story(other) != story(app)
    finally:
        reference.close()
        other.close()


def test_a_second_build_beside_the_first_and_fresh_tokens(app: LedgerApplication) -> None:
    first = build_demo_school(app, size=SMALL, clock=SchoolClock())
    second = build_demo_school(app, size=SMALL)
    assert (first.run, second.run) == (0, 1)
    assert not set(first.student_ids) & set(second.student_ids)
    minted = mint_demo_tokens(app)
    assert minted is not None and set(minted) == set(LOGIN_ROLES)
    for role, login in minted.items():
        assert login.user_id == second.logins[role].user_id
        actor = app.authenticate(login.token)
        assert actor is not None and actor.role is role


def run_demo(url: str, *args: str):
    return CliRunner().invoke(cli, ["demo", "--database-url", url, *args])


def test_ledger_demo_prints_a_working_token_per_role_and_refuses_a_full_store(
    sqlite_url: str,
) -> None:
    result = run_demo(sqlite_url, "--students", "6", "--experiences", "2", "--hours", "3")
    assert result.exit_code == 0, result.output
    assert "students" in result.stdout and "events" in result.stdout
    lines = TOKEN_LINE.findall(result.stdout)
    assert [role for role, _t, _u in lines] == [str(r) for r in LOGIN_ROLES]

    with LedgerApplication(database_url=sqlite_url) as app:
        actors = {}
        for role, token, user_id in lines:
            actor = app.authenticate(token)
            assert actor is not None and actor.role is Role(role) and actor.user_id == user_id
            actors[Role(role)] = actor
        # The logins belong together: the student's guardian, advisor and mentor.
        student = app.student(actors[Role.STUDENT].student_id)
        assert actors[Role.GUARDIAN].user_id in student.guardians
        assert actors[Role.ADVISOR].user_id in student.advisors
        mentored = [
            e
            for e in events_of(app)
            if kind(e) == "Experience.Planned" and e.student_id == student.id
        ]
        assert any(e.mentor_id == actors[Role.MENTOR].user_id for e in mentored)
        before = app.position()

    refused = run_demo(sqlite_url, "--students", "6")
    assert refused.exit_code != 0
    assert refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1
    assert "not empty" in refused.stderr and "clt_" not in refused.stdout
    with LedgerApplication(database_url=sqlite_url) as app:
        assert app.position() == before

    forced = run_demo(
        sqlite_url, "--students", "3", "--experiences", "1", "--hours", "2", "--force"
    )
    assert forced.exit_code == 0, forced.output
    assert len(TOKEN_LINE.findall(forced.stdout)) == 7
    assert "build 1" in forced.stdout


def test_serve_demo_if_empty_builds_once_then_mints_fresh_tokens(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    build_if_empty(sqlite_url)
    first = TOKEN_LINE.findall(capsys.readouterr().out)
    build_if_empty(sqlite_url)
    out = capsys.readouterr().out
    again = TOKEN_LINE.findall(out)
    assert "fresh tokens" in out and len(first) == len(again) == 7
    with LedgerApplication(database_url=sqlite_url) as app:
        assert next(r for r in events_of(app) if kind(r) == "Student.Enrolled")
        users = {UUID(u) for _r, _t, u in first}
        assert users == {UUID(u) for _r, _t, u in again}
        for role, token, _u in first + again:
            actor = app.authenticate(token)
            assert actor is not None and actor.role is Role(role)
        assert sum(1 for e in events_of(app) if kind(e) == "Student.Enrolled") == 30


def test_bulk_writes_in_chunks_and_a_failed_command_inside_changes_nothing(
    app: LedgerApplication,
) -> None:
    """The generator's big path: `LedgerApplication.bulk` commits chunk by chunk."""
    with app.bulk(chunk_events=50):
        summary = build_demo_school(app, size=DemoSize(3, 1, 20), chunk_events=None)
        # Chunks already committed while the block is still open.
        assert app.position() > 0
        login = summary.logins[Role.MENTOR]
        actor = app.authenticate(login.token)
        experience = next(
            e for e in reversed(events_of(app)) if kind(e) == "Experience.HoursVerified"
        )
        xid, entry = experience.originator_id, experience.entry_id
        with pytest.raises(LedgerError):
            app.verify_hours(actor, xid, entry)  # already verified: refused, writes nothing
        before = app.experience(xid)
    after = app.experience(xid)
    assert (after.version, after.verified_hours) == (before.version, before.verified_hours)
    assert sum(1 for e in events_of(app) if kind(e) == "Student.Enrolled") == 3
