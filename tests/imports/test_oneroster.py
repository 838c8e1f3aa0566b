"""OneRoster imports on both stores: the shared Moodle fixtures, tolerances, rejections,
re-imports that only record differences, and chunked saves."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest

from ledger.application import system_actor
from ledger.domain import Role, Student, student_id_for
from ledger.imports.oneroster import RosterOptions, parse_oneroster
from ledger.imports.plan import roster_user_id
from ledger.imports.report import InvalidImport
from tests.imports.conftest import csv_bytes, roster_tables, write_roster

SETS = ("v1p2_full_dataset", "Test_minimal_data_set")


def run(app, source, options=None):
    plan = parse_oneroster(source, options)
    return plan, app.import_roster(system_actor(), plan)


def read_csv(folder: Path, name: str) -> list[dict[str, str]]:
    path = next((p for p in folder.iterdir() if p.name.lower() == f"{name.lower()}.csv"), None)
    if path is None:
        return []
    text = path.read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def expected_roster(folder: Path) -> dict:
    """Students, teachers and advisor links straight from the CSV files."""
    users = {u["sourcedId"]: u for u in read_csv(folder, "users")}
    roles: dict[str, set[str]] = {}
    for r in read_csv(folder, "roles"):
        roles.setdefault(r["userSourcedId"], set()).add(r["role"])
    for u in users.values():
        if u.get("role"):
            roles.setdefault(u["sourcedId"], set()).add(u["role"])
    orgs = {o["sourcedId"]: o for o in read_csv(folder, "orgs")}
    classes = {c["sourcedId"]: c for c in read_csv(folder, "classes")}
    students = {
        sid: u
        for sid, u in users.items()
        if "student" in roles.get(sid, ()) and u.get("status") != "tobedeleted"
    }
    live = [
        e
        for e in read_csv(folder, "enrollments")
        if e.get("status") != "tobedeleted"
        and classes[e["classSourcedId"]].get("status") != "tobedeleted"
    ]
    advisors: dict[str, set[str]] = {}
    for e in live:
        if e["role"] == "student" and e["userSourcedId"] in students:
            for t in live:
                if t["role"] == "teacher" and t["classSourcedId"] == e["classSourcedId"]:
                    advisors.setdefault(e["userSourcedId"], set()).add(t["userSourcedId"])
    guardians: dict[str, set[str]] = {}
    kin = {sid for sid, rs in roles.items() if rs & {"parent", "guardian", "relative"}}
    for sid, u in users.items():
        for agent in filter(None, (a.strip() for a in u.get("agentSourcedIds", "").split(","))):
            if sid in students and agent in kin:
                guardians.setdefault(sid, set()).add(agent)
            elif sid in kin and agent in students:
                guardians.setdefault(agent, set()).add(sid)
    return {
        "users": users,
        "orgs": orgs,
        "students": students,
        "advisors": advisors,
        "guardians": guardians,
    }


def school_of(u: dict, orgs: dict) -> str:
    org = u.get("primaryOrgSourcedId") or u.get("orgSourcedIds", "").split(",")[0]
    return orgs[org].get("identifier") or org


@pytest.mark.parametrize("name", SETS)
def test_shared_rosters_import_and_reimport_changes_nothing(app, shared_data, name):
    folder = shared_data / "oneroster" / name
    exp = expected_roster(folder)
    options = RosterOptions(default_cohort=2027)
    plan, result = run(app, folder, options)
    assert result.value["students"]["created"] == len(exp["students"]) > 0
    for sid, u in exp["students"].items():
        local = u.get("identifier") or sid
        s = app.student(student_id_for(school_of(u, exp["orgs"]), local))
        assert (s.given_name, s.family_name) == (u["givenName"], u["familyName"])
        want = {str(roster_user_id(t, Role.ADVISOR)) for t in exp["advisors"].get(sid, ())}
        assert set(s.advisors) == want
        kin = {str(roster_user_id(g, Role.GUARDIAN)) for g in exp["guardians"].get(sid, ())}
        assert set(s.guardians) == kin
    for t in {t for ts in exp["advisors"].values() for t in ts}:
        assert app.user(roster_user_id(t, Role.ADVISOR)).role is Role.ADVISOR
    before = app.position()
    _, again = run(app, folder, options)
    assert again.event_count == 0 and app.position() == before
    assert again.value["students"]["unchanged"] == len(exp["students"])


def test_v12_quirks_are_tolerated_and_reported(shared_data):
    plan = parse_oneroster(shared_data / "oneroster" / "v1p2_full_dataset")
    counts = plan.normalisations.counts
    assert counts["misspelled header (mapped)"] >= 3
    assert counts["empty status (read as active)"] >= 1
    assert counts["file not imported (ignored)"] == 1  # userprofiles.csv
    slash = [k for k in counts if k.endswith("YYYY date (read)")]
    assert slash, counts
    # John Doe is a teacher (primary) and a guardian (secondary): two ledger users
    roles = {p.role for p in plan.people if p.external_id == "oneroster:usr-222-123456"}
    assert roles == {Role.ADVISOR, Role.GUARDIAN}
    assert plan.counts["guardian_links"] >= 1


def test_roster_creates_students_advisors_and_guardians(app, roster):
    plan, result = run(app, roster)
    v = result.value
    assert v["students"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert v["users"]["created"] == 2 and v["advisor_links"] == 2 and v["guardian_links"] == 1
    s1 = app.student(student_id_for("3021", "1001"))
    assert s1.grade_level == "10" and s1.cohort == 2028
    assert s1.state_student_id == "5123456789"
    assert s1.advisors == [str(roster_user_id("u-t1", Role.ADVISOR))]
    assert s1.guardians == [str(roster_user_id("u-p1", Role.GUARDIAN))]
    assert app.student(student_id_for("3021", "1002")).cohort == 2026


def test_a_changed_roster_records_only_the_differences(app, tmp_path, roster):
    run(app, roster)
    tables = roster_tables()
    tables["users"][2][5] = "Studentson"  # u-s1's family name
    tables["users"][3][7] = "u-p1"  # u-s2 now has the parent too
    changed = write_roster(tmp_path / "v2", tables)
    before = app.position()
    _, result = run(app, changed)
    assert result.value["students"] == {"created": 0, "updated": 1, "unchanged": 1}
    assert result.value["users"] == {"created": 0, "unchanged": 2}
    assert result.value["guardian_links"] == 1 and result.value["advisor_links"] == 0
    assert result.event_count == 2 and app.position() > before
    sid = student_id_for("3021", "1001")
    events = list(app.repository.event_store.get(sid))
    assert isinstance(events[-1], Student.DetailsCorrected)
    assert events[-1].changes == {"family_name": "Studentson"}


def test_zip_bom_quoted_commas_misspelled_headers_and_slash_dates(app, tmp_path):
    tables = roster_tables()
    tables["users"][0][4] = "prefferedGivenName"  # a real export's spelling, for givenName
    tables["users"][0] = [h.upper() if h == "grades" else h for h in tables["users"][0]]
    tables["users"][1][2] = "1/05/2025"
    tables["users"][2][2] = "3/28/2025"
    tables["classes"][1][2] = 'Physics, "honors", period 1'
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, rows in tables.items():
            zf.writestr(f"export/{name}.csv", csv_bytes(rows, bom=True))
    plan, result = run(app, buf.getvalue())
    counts = plan.normalisations.counts
    assert counts["byte-order mark (removed)"] == len(tables)
    assert counts["misspelled header (mapped)"] == 1
    assert counts["header in other letter case (mapped)"] == 1
    assert counts["M/DD/YYYY date (read)"] == 2
    assert result.value["students"]["created"] == 2


def test_windows_1252_and_missing_optional_columns(app, tmp_path):
    tables = roster_tables()
    tables["users"][2][4] = "Zoë"
    for t in ("users",):
        header = tables[t][0]
        keep = [i for i, h in enumerate(header) if h not in ("dateLastModified", "userIds")]
        tables[t] = [[r[i] for i in keep] for r in tables[t]]
    folder = write_roster(tmp_path / "r", tables, encoding="cp1252")
    plan, result = run(app, folder)
    assert plan.normalisations.counts["not UTF-8: read as Windows-1252"] == 1
    assert app.student(student_id_for("3021", "1001")).given_name == "Zoë"


def _broken(tables_fix):
    tables = roster_tables()
    tables_fix(tables)
    return tables


@pytest.mark.parametrize(
    ("fix", "message"),
    [
        (
            lambda t: t["users"].append(["u-s1", "active", "2025-08-01"] + ["x"] * 8),
            "users.csv:6: sourcedId u-s1 appears twice (line 3) with different data",
        ),
        (
            lambda t: t["enrollments"].append(["e9", "", "cls-9", "org-1", "u-s1", "student"]),
            "enrollments.csv:5: class cls-9 is not in classes.csv",
        ),
        (
            lambda t: t["enrollments"].append(["e9", "", "cls-1", "org-1", "u-x", "student"]),
            "enrollments.csv:5: user u-x is not in users.csv",
        ),
        (
            lambda t: t["users"][2].__setitem__(4, "") or t["users"][2].__setitem__(5, ""),
            "users.csv:3: student u-s1 has no name",
        ),
        (
            lambda t: (
                t["users"][1].__setitem__(2, "13/01/2025"),
                t["users"][2].__setitem__(2, "01/13/2025"),
                t["users"][4].__setitem__(2, "02/03/2025"),
            ),
            "users.csv:5: dateLastModified '02/03/2025' could be day/month or month/day",
        ),
        (
            lambda t: t["users"][2].__setitem__(7, "u-nobody"),
            "users.csv:3: agentSourcedIds names unknown user u-nobody",
        ),
        (lambda t: t["users"][2].__setitem__(1, "deleted"), "users.csv:3: status 'deleted'"),
        (lambda t: t["users"][3].__setitem__(2, "2025-13-01"), "users.csv:4: dateLastModified"),
        (lambda t: t["users"][0].__setitem__(0, "id"), "users.csv:1: required column"),
        (lambda t: t["users"][2].__setitem__(8, "09,10"), "users.csv:3: student u-s1 has sev"),
    ],
)
def test_ambiguous_rosters_are_rejected_with_file_and_line(app, tmp_path, fix, message):
    folder = write_roster(tmp_path / "bad", _broken(fix))
    before = app.position()
    with pytest.raises(InvalidImport) as e:
        run(app, folder)
    assert message in e.value.detail
    assert app.position() == before


def test_not_a_roster():
    with pytest.raises(InvalidImport, match="not a OneRoster"):
        parse_oneroster(b"PK\x03\x04 broken")
    with pytest.raises(InvalidImport, match="no users.csv"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("readme.txt", "hi")
        parse_oneroster(buf.getvalue())


def test_a_big_roster_saves_in_chunks_and_reimport_is_a_no_op(app, tmp_path):
    tables = roster_tables()
    for n in range(60):
        tables["users"].append(
            [f"u-b{n}", "active", "", "", f"Given{n}", f"Family{n}", f"2{n:03d}", "", "11"]
            + ["org-1", ""]
        )
        tables["roles"].append([f"rb{n}", "active", f"u-b{n}", "primary", "student", "org-1"])
        tables["enrollments"].append([f"eb{n}", "active", "cls-1", "org-1", f"u-b{n}", "student"])
    folder = write_roster(tmp_path / "big", tables)
    plan = parse_oneroster(folder)
    seen = []
    result = app.import_roster(
        system_actor(), plan, chunk_events=25, progress=lambda d, t: seen.append((d, t))
    )
    total = result.event_count
    assert result.value["students"]["created"] == 62
    assert result.value["chunks"] >= max(2, -(-total // 25))
    assert seen[-1] == (total, total)
    before = app.position()
    again = app.import_roster(system_actor(), parse_oneroster(folder), chunk_events=25)
    assert again.event_count == 0 and app.position() == before
