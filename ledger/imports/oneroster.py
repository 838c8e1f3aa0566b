"""1EdTech OneRoster CSV (1.2, and 1.1 where it differs little) -> a roster plan, without writing.

Tolerated and reported: misspelled headers from real exports, missing optional columns, empty
``status``, ``M/DD/YYYY`` dates, byte-order marks, CRLF, quoted commas, Windows-1252 text,
trailing empty header columns, identical duplicate rows. Rejected with ``file:line``: duplicate
sourcedIds with different data, references to rows that do not exist, a student without a
name, a school, or a cohort, and slash dates that could be read either way in a file that uses
both orders.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from ledger.domain import Role
from ledger.domain.student import check_state_student_id
from ledger.errors import InvalidCommand
from ledger.imports.plan import PersonPlan, RosterPlan, StudentPlan, roster_user_id
from ledger.imports.report import InvalidImport, Normalisations

FILES = ("manifest", "orgs", "academicSessions", "classes", "users", "roles", "enrollments")
IGNORED = ("userProfiles", "demographics", "courses", "categories", "lineItems", "results")
# Headers real exports misspell (the Moodle plugin's fixtures among them).
MISSPELLED = {
    "prefferedgivenname": "preferredGivenName",
    "prefferedmiddlename": "preferredMiddleName",
    "prefferedfamilyname": "preferredFamilyName",
    "datalastmodified": "dateLastModified",
    "sourceid": "sourcedId",
    "agentsourceid": "agentSourcedIds",
    "orgsourceid": "orgSourcedIds",
}
_HEADER_WORDS = (
    "sourcedId status dateLastModified title type startDate endDate parentSourcedId "
    "schoolYear name identifier grades courseSourcedId classCode classType location "
    "schoolSourcedId termSourcedIds subjects subjectCodes periods enabledUser username "
    "userIds givenName familyName middleName email sms phone agentSourcedIds password "
    "userMasterIdentifier resourceSourcedIds preferredGivenName preferredMiddleName "
    "preferredFamilyName primaryOrgSourcedId pronouns role orgSourcedIds userSourcedId "
    "roleType orgSourcedId userProfile classSourcedId primary beginDate propertyName value "
    "birthDate sex"
)
KNOWN_HEADERS = {h.lower(): h for h in _HEADER_WORDS.split()}
REQUIRED = {
    "orgs": ("sourcedId",),
    "academicSessions": ("sourcedId",),
    "classes": ("sourcedId", "schoolSourcedId"),
    "users": ("sourcedId",),
    "roles": ("userSourcedId", "role"),
    "enrollments": ("sourcedId", "classSourcedId", "schoolSourcedId", "userSourcedId", "role"),
}
DATE_COLUMNS = ("dateLastModified", "startDate", "endDate", "beginDate", "birthDate")
STUDENT_ROLES = {"student"}
ADVISOR_ROLES = {"teacher"}
GUARDIAN_ROLES = {"parent", "guardian", "relative"}
GRADE_OFFSETS = {"KG": 0, "TK": -1, "PK": -1, "PR": -2, "IT": -3}
MAX_UNPACKED = 200 * 1024 * 1024
# What a damaged or unusual zip raises (encrypted members raise RuntimeError).
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    ValueError,
    EOFError,
    NotImplementedError,
    RuntimeError,
)
_SLASH_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_USER_ID = re.compile(r"\{\s*([^:{}]+?)\s*:\s*([^{}]*?)\s*\}")


@dataclass
class Row:
    file: str
    line: int
    values: dict[str, str]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def get(self, key: str) -> str:
        return self.values.get(key, "").strip()


@dataclass
class RosterOptions:
    # Which column is the student's local id; sourcedId stands in where it is empty.
    local_id: str = "identifier"
    # Used when a student's grade cannot give a graduation year (no grade, "UG", "13"...).
    default_cohort: int | None = None
    # The ending year of the school year (2026 for 2025-26), if academicSessions do not say.
    school_year: int | None = None


@dataclass
class _Files:
    texts: dict[str, tuple[str, bytes]] = field(default_factory=dict)


# ---------------------------------------------------------------------- reading the files
def _gather(source: Path | bytes | Mapping[str, bytes]) -> dict[str, tuple[str, bytes]]:
    """{logical name: (file name, bytes)} from a folder, a zip file, zip bytes, or a mapping of
    file names to their bytes (the HTTP form)."""
    found: dict[str, tuple[str, bytes]] = {}
    wanted = {n.lower(): n for n in FILES + IGNORED}
    if isinstance(source, Mapping):
        for name, data in source.items():
            stem = name.rsplit("/", 1)[-1].lower().removesuffix(".csv")
            if stem in wanted:
                if wanted[stem] in found:
                    raise InvalidImport(f"{name} is given twice")
                base = name.rsplit("/", 1)[-1]
                found[wanted[stem]] = (
                    base if base.lower().endswith(".csv") else f"{base}.csv",
                    data,
                )
        return found
    if isinstance(source, Path) and source.is_dir():
        entries = [(p.name, p) for p in sorted(source.iterdir()) if p.is_file()]
        for name, p in entries:
            stem = name.lower().removesuffix(".csv")
            if name.lower().endswith(".csv") and stem in wanted:
                found[wanted[stem]] = (name, p.read_bytes())
        return found
    try:
        zf = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise InvalidImport(f"not a OneRoster folder or zip file: {e}") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if sum(i.file_size for i in infos) > MAX_UNPACKED:
            raise InvalidImport(f"the zip unpacks to more than {MAX_UNPACKED // 2**20} MiB")
        for info in infos:
            name = info.filename.rsplit("/", 1)[-1]
            stem = name.lower().removesuffix(".csv")
            if name.lower().endswith(".csv") and stem in wanted:
                if wanted[stem] in found:
                    raise InvalidImport(f"the zip holds {name} twice")
                try:
                    found[wanted[stem]] = (name, zf.read(info))
                except ZIP_ERRORS as e:
                    raise InvalidImport(f"{name}: cannot unpack ({e})") from None
    return found


def _text(name: str, data: bytes, notes: Normalisations) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        notes.note("byte-order mark (removed)", name)
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        notes.note("UTF-16 file (decoded)", name)
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise InvalidImport(f"{name}: not valid UTF-16 text") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise InvalidImport(f"{name}: not UTF-8 (nor Windows-1252) text") from None
    notes.note("not UTF-8: read as Windows-1252", name)
    return text


def _rows(logical: str, name: str, data: bytes, notes: Normalisations) -> list[Row]:
    text = _text(name, data, notes)
    if "\x00" in text:
        raise InvalidImport(f"{name}: holds NUL characters; not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidImport(f"{name}:1: the file is empty (a header row is required)")
        columns: list[str | None] = []
        for raw in header:
            h = raw.strip().lstrip("\ufeff")
            if not h:
                columns.append(None)
                continue
            fixed = MISSPELLED.get(h.lower())
            if fixed:
                notes.note("misspelled header (mapped)", f"{name}: {h} -> {fixed}")
                h = fixed
            elif h.lower() in KNOWN_HEADERS and KNOWN_HEADERS[h.lower()] != h:
                notes.note("header in other letter case (mapped)", f"{name}: {h}")
                h = KNOWN_HEADERS[h.lower()]
            columns.append(h)
        named = [c for c in columns if c is not None]
        if len(set(named)) != len(named):
            dup = next(c for c in named if named.count(c) > 1)
            raise InvalidImport(f"{name}:1: column {dup!r} appears twice")
        if None in columns:
            notes.note("empty header column (ignored)", name)
        for need in REQUIRED.get(logical, ()):
            if need not in named:
                raise InvalidImport(f"{name}:1: required column {need!r} is missing")
        rows = []
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(columns) and any(v.strip() for v in values[len(columns) :]):
                raise InvalidImport(f"{name}:{line}: more values than the header has columns")
            if len(values) < len(named):
                notes.note("row shorter than the header (padded)", f"{name}:{line}")
            row = {
                col: values[i] if i < len(values) else ""
                for i, col in enumerate(columns)
                if col is not None
            }
            if any(v.strip() for c, v in zip(columns, values, strict=False) if c is None):
                raise InvalidImport(f"{name}:{line}: a value under an empty header column")
            rows.append(Row(name, line, row))
    except csv.Error as e:
        raise InvalidImport(f"{name}:{reader.line_num}: {e}") from None
    return rows


# ---------------------------------------------------------------------- values
def _check_dates(rows: list[Row], notes: Normalisations) -> None:
    """ISO dates pass; slash dates are M/D/YYYY unless the file shows D/M (a first part over
    12). A file using both orders makes every date with both parts <= 12 ambiguous."""
    orders: set[str] = set()
    ambiguous: list[tuple[Row, str]] = []
    slashed: list[tuple[Row, str, int, int, int]] = []
    for row in rows:
        for col in DATE_COLUMNS:
            v = row.get(col)
            if not v:
                continue
            m = _SLASH_DATE.fullmatch(v)
            if m:
                a, b, y = (int(g) for g in m.groups())
                if a > 12:
                    orders.add("D/M")
                elif b > 12:
                    orders.add("M/D")
                else:
                    ambiguous.append((row, col))
                slashed.append((row, col, a, b, y))
                continue
            try:
                if len(v) <= 10:
                    date.fromisoformat(v)
                else:
                    datetime.fromisoformat(v)
            except ValueError:
                raise InvalidImport(f"{row.where}: {col} {v!r} is not a date") from None
    if not slashed:
        return
    if len(orders) == 2 and ambiguous:
        row, col = ambiguous[0]
        raise InvalidImport(
            f"{row.where}: {col} {row.get(col)!r} could be day/month or month/day, and "
            f"{row.file} uses both orders"
        )
    day_first = orders == {"D/M"}
    for row, col, a, b, y in slashed:
        month, day = (b, a) if day_first else (a, b)
        try:
            date(y, month, day)
        except ValueError:
            raise InvalidImport(f"{row.where}: {col} {row.get(col)!r} is not a date") from None
        notes.note(f"{'D/MM/YYYY' if day_first else 'M/DD/YYYY'} date (read)", row.where)


def _status(row: Row, notes: Normalisations) -> str:
    s = row.get("status")
    if not s:
        if "status" in row.values:
            notes.note("empty status (read as active)", row.where)
        return "active"
    low = s.lower()
    if low not in ("active", "tobedeleted", "inactive"):
        raise InvalidImport(f"{row.where}: status {s!r} is not active or tobedeleted")
    return low


def _index(rows: list[Row], key: str, notes: Normalisations) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for row in rows:
        ident = row.get(key)
        if not ident:
            raise InvalidImport(f"{row.where}: {key} is empty")
        if ident in out:
            first = out[ident]
            if _comparable(first) != _comparable(row):
                raise InvalidImport(
                    f"{row.where}: {key} {ident} appears twice (line {first.line}) "
                    "with different data"
                )
            notes.note("row listed twice (kept once)", row.where)
            continue
        out[ident] = row
    return out


def _comparable(row: Row) -> dict[str, str]:
    return {k: v.strip() for k, v in row.values.items() if v.strip()}


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


# ---------------------------------------------------------------------- the roster
def parse_oneroster(
    source: Path | bytes | Mapping[str, bytes], options: RosterOptions | None = None
) -> RosterPlan:
    """Reads a OneRoster folder or zip into a plan. Raises InvalidImport, nothing else."""
    options = options or RosterOptions()
    if options.local_id not in ("identifier", "sourcedId"):
        raise InvalidImport("the local id is read from 'identifier' or 'sourcedId'")
    notes = Normalisations()
    if isinstance(source, Path) and not source.exists():
        raise InvalidImport(f"{source} does not exist")
    files = _gather(source)
    if "users" not in files:
        raise InvalidImport("not a OneRoster export: no users.csv")
    for ignored in IGNORED:
        if ignored in files:
            notes.note("file not imported (ignored)", files[ignored][0])
    tables: dict[str, list[Row]] = {}
    for logical in FILES:
        if logical in files:
            name, data = files[logical]
            tables[logical] = _rows(logical, name, data, notes)
            _check_dates(tables[logical], notes)
        else:
            tables[logical] = []

    version = "1.2"
    manifest = {r.get("propertyName"): r.get("value") for r in tables["manifest"]}
    if not tables["manifest"]:
        notes.note("no manifest.csv (read as OneRoster 1.2)", "manifest.csv")
    else:
        version = manifest.get("oneroster.version") or "1.2"
        if version not in ("1.1", "1.2"):
            raise InvalidImport(f"manifest.csv: oneroster.version {version!r} is not 1.1 or 1.2")
        for logical in FILES[1:]:
            mode = manifest.get(f"file.{logical}", "").lower()
            if mode in ("bulk", "delta") and logical not in files:
                raise InvalidImport(f"manifest.csv: file.{logical} is {mode} but it is missing")
            if mode == "delta":
                notes.note("delta file (rows applied as given)", f"{logical}.csv")

    orgs = _index(tables["orgs"], "sourcedId", notes)
    sessions = _index(tables["academicSessions"], "sourcedId", notes)
    classes = _index(tables["classes"], "sourcedId", notes)
    users = _index(tables["users"], "sourcedId", notes)
    enrollments = _index(tables["enrollments"], "sourcedId", notes)
    for row in [*orgs.values(), *sessions.values(), *classes.values(), *users.values()]:
        _status(row, notes)

    def school_code(org_id: str, where: str) -> str:
        org = orgs.get(org_id)
        if org is None:
            raise InvalidImport(f"{where}: org {org_id} is not in orgs.csv")
        code = org.get("identifier")
        if not code:
            notes.note("org without identifier (its sourcedId is the school code)", org.where)
            return org_id
        return code

    for c in classes.values():
        if c.get("schoolSourcedId") not in orgs:
            raise InvalidImport(f"{c.where}: school {c.get('schoolSourcedId')} is not in orgs.csv")

    # -- roles: 1.2 has roles.csv; 1.1 a role column in users.csv
    roles: dict[str, list[tuple[str, str, str, Row]]] = {}
    for r in tables["roles"]:
        if _status(r, notes) == "tobedeleted":
            continue
        uid = r.get("userSourcedId")
        if uid not in users:
            raise InvalidImport(f"{r.where}: user {uid} is not in users.csv")
        roles.setdefault(uid, []).append(
            (r.get("role"), r.get("roleType").lower(), r.get("orgSourcedId"), r)
        )
    for u in users.values():
        if u.get("role"):
            orgs_of = _split(u.get("orgSourcedIds"))
            roles.setdefault(u.get("sourcedId"), []).append(
                (u.get("role"), "primary", orgs_of[0] if orgs_of else "", u)
            )

    school_year = options.school_year or _school_year(sessions)
    plan = RosterPlan(version=version, normalisations=notes)
    kinds: dict[str, set[Role]] = {}
    skipped = {"tobedeleted": 0, "other roles": 0}
    student_rows: dict[str, StudentPlan] = {}
    for sid, u in users.items():
        if _status(u, notes) == "tobedeleted":
            skipped["tobedeleted"] += 1
            continue
        names = {r for r, _t, _o, _row in roles.get(sid, [])}
        mine: set[Role] = set()
        if names & STUDENT_ROLES:
            mine.add(Role.STUDENT)
        if names & ADVISOR_ROLES:
            mine.add(Role.ADVISOR)
        if names & GUARDIAN_ROLES:
            mine.add(Role.GUARDIAN)
        if Role.STUDENT in mine and len(mine) > 1:
            raise InvalidImport(f"{u.where}: user {sid} is a student and a {sorted(names)[0]}")
        if not names:
            notes.note("user without a role (not imported)", u.where)
        if not mine:
            skipped["other roles"] += 1
        kinds[sid] = mine
        if Role.STUDENT in mine:
            student_rows[sid] = _student(u, roles[sid], options, school_year, school_code, notes)
        for role in sorted(mine - {Role.STUDENT}):
            plan.people.append(_person(u, role))

    # -- enrolments: teachers of a student's classes advise that student
    teachers_of: dict[str, list[str]] = {}
    students_of: dict[str, list[tuple[str, Row]]] = {}
    ignored_enrolments = 0
    for e in enrollments.values():
        cls_id, user_id, school_id = (
            e.get("classSourcedId"),
            e.get("userSourcedId"),
            e.get("schoolSourcedId"),
        )
        if cls_id not in classes:
            raise InvalidImport(f"{e.where}: class {cls_id} is not in classes.csv")
        if user_id not in users:
            raise InvalidImport(f"{e.where}: user {user_id} is not in users.csv")
        if school_id not in orgs:
            raise InvalidImport(f"{e.where}: school {school_id} is not in orgs.csv")
        status = _status(e, notes)
        if status == "tobedeleted" or _status(classes[cls_id], Normalisations()) == "tobedeleted":
            notes.note("enrolment to be deleted, or in a class to be deleted (skipped)", e.where)
            ignored_enrolments += 1
            continue
        role = e.get("role").lower()
        mine = kinds.get(user_id, set())
        if role == "teacher" and Role.STUDENT not in mine and user_id in kinds:
            if Role.ADVISOR not in mine:
                mine.add(Role.ADVISOR)
                plan.people.append(_person(users[user_id], Role.ADVISOR))
            teachers_of.setdefault(cls_id, []).append(user_id)
        elif role == "student" and Role.STUDENT in mine:
            students_of.setdefault(cls_id, []).append((user_id, e))
        elif role in ("teacher", "student"):
            notes.note(f"enrolled as {role} but not a {role} in the roster (skipped)", e.where)
            ignored_enrolments += 1
        else:
            ignored_enrolments += 1

    for cls_id, members in students_of.items():
        for user_id, _e in members:
            sid = student_rows[user_id].student_id
            for t in teachers_of.get(cls_id, []):
                links = plan.advisors.setdefault(sid, [])
                tid = roster_user_id(t, Role.ADVISOR)
                if tid not in links:
                    links.append(tid)

    # -- guardians, through agentSourcedIds from either side
    for sid, u in users.items():
        if sid not in kinds:
            continue
        for agent in _split(u.get("agentSourcedIds")):
            if agent not in users:
                raise InvalidImport(f"{u.where}: agentSourcedIds names unknown user {agent}")
            pair = None
            if Role.STUDENT in kinds[sid] and Role.GUARDIAN in kinds.get(agent, set()):
                pair = (sid, agent)
            elif Role.GUARDIAN in kinds[sid] and Role.STUDENT in kinds.get(agent, set()):
                pair = (agent, sid)
            if pair is None:
                notes.note("agent that is not a student's parent or guardian (not linked)", u.where)
                continue
            student = student_rows[pair[0]].student_id
            links = plan.guardians.setdefault(student, [])
            gid = roster_user_id(pair[1], Role.GUARDIAN)
            if gid not in links:
                links.append(gid)

    plan.students = list(student_rows.values())
    seen_students: dict = {}
    for s in plan.students:
        if s.student_id in seen_students:
            raise InvalidImport(
                f"{s.where}: local id {s.local_id} at school {s.school_code} is also "
                f"{seen_students[s.student_id]}"
            )
        seen_students[s.student_id] = s.where
    plan.counts = {
        "version": version,
        "orgs": len(orgs),
        "classes": len(classes),
        "users": len(users),
        "students": len(plan.students),
        "advisors": sum(1 for p in plan.people if p.role is Role.ADVISOR),
        "guardians": sum(1 for p in plan.people if p.role is Role.GUARDIAN),
        "advisor_links": sum(len(v) for v in plan.advisors.values()),
        "guardian_links": sum(len(v) for v in plan.guardians.values()),
        "users_skipped": dict(skipped),
        "enrolments_skipped": ignored_enrolments,
    }
    return plan


def _school_year(sessions: dict[str, Row]) -> int | None:
    years = []
    for s in sessions.values():
        y = s.get("schoolYear")
        if re.fullmatch(r"[0-9]{4}", y):
            years.append((s.get("type") == "schoolYear", int(y)))
    if not years:
        return None
    flagged = [y for is_year, y in years if is_year]
    return max(flagged or [y for _f, y in years])


def _person(u: Row, role: Role) -> PersonPlan:
    sid = u.get("sourcedId")
    name = " ".join(p for p in (u.get("givenName"), u.get("familyName")) if p)
    return PersonPlan(
        user_id=roster_user_id(sid, role),
        role=role,
        name=name or u.get("username") or sid,
        external_id=f"oneroster:{sid}",
        where=u.where,
    )


def _student(u, role_rows, options, school_year, school_code, notes) -> StudentPlan:
    sid = u.get("sourcedId")
    where = u.where
    given = u.get("givenName") or u.get("preferredGivenName")
    family = u.get("familyName") or u.get("preferredFamilyName")
    if not given and not family:
        raise InvalidImport(f"{where}: student {sid} has no name")
    if not given or not family:
        raise InvalidImport(f"{where}: student {sid} needs a given and a family name")
    if given != u.get("givenName") or family != u.get("familyName"):
        notes.note("preferred name used where the legal name is empty", where)
    local = u.get(options.local_id)
    if not local:
        notes.note("student without identifier (sourcedId is the local id)", where)
        local = sid
    org_id = u.get("primaryOrgSourcedId")
    if not org_id:
        student_orgs = [o for r, _t, o, _row in role_rows if r == "student" and o]
        primary = [o for r, t, o, _row in role_rows if r == "student" and o and t == "primary"]
        org_id = (primary or student_orgs or [""])[0]
    if not org_id:
        raise InvalidImport(f"{where}: student {sid} names no school")
    code = school_code(org_id, where)
    grades = sorted(set(_split(u.get("grades"))))
    if len(grades) > 1:
        raise InvalidImport(f"{where}: student {sid} has several grades {grades}")
    grade = grades[0].upper() if grades else ""
    numeric = re.fullmatch(r"[0-9]{1,2}", grade) is not None
    if numeric:
        grade = f"{int(grade):02d}"
    cohort = None
    if numeric and 1 <= int(grade) <= 12:
        offset = 12 - int(grade)
    else:
        offset = 12 - GRADE_OFFSETS[grade] if grade in GRADE_OFFSETS else None
    if offset is not None and school_year is not None:
        cohort = school_year + offset
    elif options.default_cohort is not None:
        notes.note("no usable grade (the default cohort used)", where)
        cohort = options.default_cohort
    else:
        if offset is None:
            hint = "pass --school-year YEAR (its ending year, e.g. 2026) or --default-cohort YEAR"
            why = "no academicSessions schoolYear"
        else:
            hint = "pass --default-cohort YEAR (the graduation year to give such students)"
            why = f"grade {grade!r}"
        raise InvalidImport(
            f"{where}: student {sid}: cannot tell the graduation year ({why}); {hint}"
        )
    if not 1900 < cohort < 2200:
        raise InvalidImport(f"{where}: student {sid}: cohort {cohort} is not a graduation year")
    ssid = None
    for label, value in _USER_ID.findall(u.get("userIds")):
        if label.strip().lower() in ("ssid", "stateid", "state_student_id", "wa-ssid"):
            try:
                check_state_student_id(value)
            except InvalidCommand:
                notes.note("state student id not 10 digits (not imported)", where)
                continue
            ssid = value
    return StudentPlan(
        local_id=local,
        school_code=code,
        given_name=given,
        family_name=family,
        grade_level=grade,
        cohort=cohort,
        state_student_id=ssid,
        external_id=f"oneroster:{sid}",
        where=where,
    )
