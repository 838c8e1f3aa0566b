"""Hostile input against a real server: schemathesis over every operation, then the classic
attacks by hand. Every answer is a 4xx, or the input is stored inertly (and exported
neutralised); never a 5xx, never a partial write."""

from __future__ import annotations

import json
import socket
from collections import Counter
from datetime import date
from typing import Any
from uuid import UUID

import httpx
import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from ledger.application import LedgerApplication
from ledger.domain import EvidenceRef
from tests.reliability.load import PROBLEM_JSON, head, read_until_closed
from tests.reliability.seed import SeededSchool, seed_school
from tests.reliability.server import ApiServer

pytestmark = pytest.mark.reliability

ROLES = ("registrar", "admin", "advisor", "mentor", "student")
CASES_PER_STRATEGY = 2
MIN_CASES = 1000


def real_ids(app: LedgerApplication, seeded: SeededSchool) -> dict[str, str]:
    s, p = seeded.school, seeded.pupils[0]
    entry = s.verified_hours(p.actor, p.experience_id, date(2025, 10, 1))
    reflection = s.reflection(p.actor, p.id, p.experience_id)
    judgment = s.judge(p.id, [EvidenceRef("reflection", reflection)])
    credit = s.mastery_credit(p.id, [judgment], approve=False)
    return {
        "student_id": str(p.id),
        "framework_id": str(s.framework_id),
        "experience_id": str(p.experience_id),
        "entry_id": str(entry),
        "entry": str(entry),
        "credit_id": str(credit),
        "judgment_id": str(judgment),
        "reflection_id": str(reflection),
        "user_id": s.advisor.user_id,
    }


def fuzz(strategies: list[Any], call: Any) -> int:
    """Run ``call`` on CASES_PER_STRATEGY cases of each strategy; return how many were sent."""
    sent = 0

    @settings(
        max_examples=CASES_PER_STRATEGY * len(strategies),
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def check(case: Any) -> None:
        nonlocal sent
        sent += 1
        call(case)

    check()
    return sent


def _call(
    case: Any,
    base_url: str,
    session: requests.Session,
    headers: dict,
    label: str,
    statuses: Counter,
    server_errors: list[str],
) -> None:
    r = case.call(base_url=base_url, session=session, headers=headers)
    statuses[r.status_code] += 1
    if r.status_code >= 500:
        server_errors.append(f"{label}: {r.status_code} {r.text[:200]}")


def test_schemathesis_finds_no_server_error(store_url: str, figures) -> None:
    app = LedgerApplication(database_url=store_url)
    seeded = seed_school(app, students=2)
    ids = real_ids(app, seeded)
    tokens = {**seeded.tokens, "student": seeded.pupils[0].token}
    app.close()
    server = ApiServer(store_url)
    statuses: Counter = Counter()
    server_errors: list[str] = []
    sent = operations = 0
    try:
        schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
        session = requests.Session()
        for who in ROLES:
            headers = {"Authorization": f"Bearer {tokens[who]}"}
            for result in schema.get_all_operations():
                operation = result.ok()
                operations += who == ROLES[0]
                names = {p.name for p in operation.path_parameters}
                known = {k: v for k, v in ids.items() if k in names}
                strategies = [
                    operation.as_strategy(generation_mode=mode)
                    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                ]
                if known:
                    strategies += [
                        operation.as_strategy(generation_mode=mode, path_parameters=known)
                        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                    ]

                sent += fuzz(
                    strategies,
                    lambda case, h=headers, label=f"{who} {operation.label}": _call(
                        case, server.base_url, session, h, label, statuses, server_errors
                    ),
                )
        alive = server.proc.poll() is None
    finally:
        server.close()
    assert alive
    assert sent >= MIN_CASES
    assert not server_errors, server_errors[:10]
    figures.record(
        store=store_url.split(":")[0],
        operations=operations,
        roles=len(ROLES),
        cases=sent,
        statuses=dict(sorted(statuses.items())),
        server_errors=len(server_errors),
    )


# ---------------------------------------------------------------------- by hand
SQL = [
    "'; DROP TABLE stored_events; --",
    "Robert'); DROP TABLE students;--",
    "1 OR 1=1",
    '" OR ""="',
    "x'||(SELECT pg_sleep(0))||'",
]
CSV = ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)*cmd"]


@pytest.fixture
def hostile(store_url: str):
    app = LedgerApplication(database_url=store_url)
    seeded = seed_school(app, students=1)
    server = ApiServer(store_url)
    try:
        yield app, seeded, server
    finally:
        server.close()
        app.close()


def raw_status(port: int, head_lines: list[str], token: str) -> int | None:
    """Send a hand-written request; the status line's code, or None if the server hung up."""
    lines = [*head_lines, "Host: 127.0.0.1", f"Authorization: Bearer {token}"]
    lines += ["Content-Type: application/json", "Connection: close"]
    data = ("\r\n".join(lines) + "\r\n\r\n{}").encode("latin-1")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    if not reply.startswith(b"HTTP/1.1 "):
        return None
    return int(reply.split(b" ", 2)[1])


def _refused(r: httpx.Response) -> bool:
    return 400 <= r.status_code < 500 and r.headers.get("content-type", "").startswith(PROBLEM_JSON)


def test_malformed_requests_get_a_4xx_and_write_nothing(hostile, figures) -> None:
    app, seeded, server = hostile
    p = seeded.pupils[0]
    auth = {"Authorization": f"Bearer {p.token}"}
    path = f"/v1/students/{p.id}/reflections"
    hours = f"/v1/experiences/{p.experience_id}/hours"
    json_ct = {"Content-Type": "application/json"}
    deep = "[" * 100_000 + "]" * 100_000
    deep_obj = '{"text": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}"
    attacks: dict[str, tuple[str, str, dict[str, str], bytes]] = {
        "oversized body (2 MiB)": (
            "POST",
            path,
            json_ct,
            json.dumps({"text": "x" * (2 * 1024 * 1024)}).encode(),
        ),
        "oversized, no Content-Length (chunked)": ("POST", path, json_ct, b""),
        "deeply nested array": ("POST", path, json_ct, deep.encode()),
        "deeply nested object": ("POST", path, json_ct, deep_obj.encode()),
        "text/plain": ("POST", path, {"Content-Type": "text/plain"}, b'{"text": "hi"}'),
        "form encoded": (
            "POST",
            path,
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"text=hi",
        ),
        "xml": ("POST", path, {"Content-Type": "application/xml"}, b"<text>hi</text>"),
        "multipart": (
            "POST",
            path,
            {"Content-Type": "multipart/form-data; boundary=x"},
            b'--x\r\nContent-Disposition: form-data; name="text"\r\n\r\nhi\r\n--x--\r\n',
        ),
        "no content type": ("POST", path, {}, b'{"text": "hi"}'),
        "invalid UTF-8 in JSON": ("POST", path, json_ct, b'{"text": "\xff\xfe\xc3\x28"}'),
        "lone surrogate escape": ("POST", path, json_ct, b'{"text": "\\ud800"}'),
        "NUL in text": ("POST", path, json_ct, b'{"text": "a\\u0000b"}'),
        "not JSON": ("POST", path, json_ct, b"{'text': 'single quotes'"),
        "JSON null": ("POST", path, json_ct, b"null"),
        "JSON array": ("POST", path, json_ct, b'["text"]'),
        "huge number": (
            "POST",
            hours,
            json_ct,
            b'{"worked_on": "2025-10-01", "hours": 1e999999, "activity": "a"}',
        ),
        "NaN hours": (
            "POST",
            hours,
            json_ct,
            b'{"worked_on": "2025-10-01", "hours": NaN, "activity": "a"}',
        ),
        "negative hours": (
            "POST",
            hours,
            json_ct,
            b'{"worked_on": "2025-10-01", "hours": "-4", "activity": "a"}',
        ),
        "bad date": (
            "POST",
            hours,
            json_ct,
            b'{"worked_on": "2025-02-30", "hours": "4", "activity": "a"}',
        ),
        "duplicate keys": ("POST", path, json_ct, b'{"text": "a", "text": {"b": 1}}'),
        "unknown field": ("POST", path, json_ct, b'{"text": "a", "admin": true}'),
        "id not a UUID": ("POST", "/v1/students/%27%20OR%201%3D1/reflections", json_ct, b"{}"),
        "invalid UTF-8 in path": ("GET", "/v1/students/%ff%fe/transcript", {}, b""),
        "invalid UTF-8 in query": ("GET", f"/v1/students/{p.id}/transcript?as_of=%ff", {}, b""),
        "SQL in query": (
            "GET",
            f"/v1/students/{p.id}/transcript?effective_on=1'%20OR%20'1",
            {},
            b"",
        ),
        "junk cursor": ("GET", "/v1/students?cursor=%27%3B%20DROP%20TABLE%20x%3B--", {}, b""),
    }
    before = head(app)
    answers: dict[str, int | str] = {}
    with httpx.Client(base_url=server.base_url, timeout=60) as c:
        for name, (method, url, headers, body) in attacks.items():
            if name.startswith("oversized, no Content-Length"):

                def chunks():
                    for _ in range(40):
                        yield b"x" * 65536

                r = c.post(url, content=chunks(), headers={**auth, **headers})
            else:
                r = c.request(method, url, content=body or None, headers={**auth, **headers})
            answers[name] = r.status_code
            assert _refused(r), (name, r.status_code, r.text[:300])
        # What no well-behaved client library will send: raw bytes on the socket.
        for name, head_lines in {
            "bad Content-Length": [f"POST {path} HTTP/1.1", "Content-Length: abc"],
            "raw invalid UTF-8 in path": ["GET /v1/students/\xff\xfe/transcript HTTP/1.1"],
            "Content-Length larger than body": [f"POST {path} HTTP/1.1", "Content-Length: 99"],
        }.items():
            status = raw_status(server.port, head_lines, p.token)
            answers[name] = status if status is not None else "closed"
            assert status is None or 400 <= status < 500, (name, status)
        # Headers the HTTP layer itself must survive.
        for name, headers in {
            "bearer token of junk": {"Authorization": "Bearer ' OR 1=1 --"},
            "bearer token 10 kB": {"Authorization": "Bearer " + "a" * 10_000},
            "idempotency key 10 kB": {**auth, "Idempotency-Key": "k" * 10_000},
            "If-Match junk": {**auth, "If-Match": '"; DROP TABLE x; --'},
            "X-Request-ID junk": {**auth, "X-Request-ID": "\x1b[31m" + "r" * 500},
        }.items():
            r = c.post(hours, json={"worked_on": "2025-10-01", "hours": "1", "activity": "a"},
                       headers=headers)  # fmt: skip
            answers[name] = r.status_code
            assert r.status_code < 500, (name, r.status_code, r.text[:300])
            if r.status_code < 300:
                before = head(app)  # a sane write through a junk request id is fine
            else:
                assert _refused(r), (name, r.status_code, r.text[:300])
        alive = server.proc.poll() is None
    assert alive
    assert head(app) == before, "a refused request wrote something"
    figures.record(
        attacks=len(answers),
        refused_4xx=sum(1 for s in answers.values() if s != "closed" and 400 <= s < 500),
        connection_closed_by_server=sum(1 for s in answers.values() if s == "closed"),
        accepted_2xx=sum(1 for s in answers.values() if s != "closed" and s < 300),
        server_errors=sum(1 for s in answers.values() if s != "closed" and s >= 500),
        answers=answers,
        statuses=dict(Counter(answers.values())),
    )


def raw_reply(port: int, request: bytes) -> tuple[int, str, bytes]:
    """A hand-written request (bytes, as no client library sends them): status,
    content type and body of the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    top, _, body = reply.partition(b"\r\n\r\n")
    lines = top.split(b"\r\n")
    types = [
        v for k, _, v in (ln.partition(b":") for ln in lines[1:]) if k.lower() == b"content-type"
    ]
    return int(lines[0].split(b" ", 2)[1]), b"".join(types).strip().decode(), body


def test_control_characters_in_headers_get_problem_json(hostile) -> None:
    """h11 passes most control characters on to the app, but answers a few (NUL, VT, FF, a
    bare CR, any in a header name) itself: every one of them must be a problem+json 4xx."""
    app, seeded, server = hostile
    p = seeded.pupils[0]
    before = head(app)
    path = f"/v1/students/{p.id}/reflections".encode()
    for name, line in {
        "ESC": b"X-Request-ID: a\x1bb",
        "SOH": b"X-Request-ID: a\x01b",
        "DEL": b"X-Request-ID: a\x7fb",
        "NUL": b"X-Request-ID: a\x00b",
        "vertical tab": b"X-Request-ID: a\x0bb",
        "form feed": b"X-Request-ID: a\x0cb",
        "bare CR": b"X-Request-ID: a\rb",
        "control character in a name": b"X-Re\x01quest: a",
        "NUL in the token": f"Authorization: Bearer {p.token}\x00".encode(),
    }.items():
        request = b"\r\n".join(
            [b"POST " + path + b" HTTP/1.1", b"Host: 127.0.0.1", line,
             b"Content-Type: application/json", b"Content-Length: 2", b"Connection: close", b""]
        ) + b"\r\n{}"  # fmt: skip
        status, ctype, body = raw_reply(server.port, request)
        assert 400 <= status < 500 and ctype.startswith(PROBLEM_JSON), (name, status, ctype, body)
        assert json.loads(body)["status"] == status, name
    assert server.proc.poll() is None
    assert head(app) == before, "a refused request wrote something"


def test_injection_strings_are_stored_inertly_and_exported_neutralised(hostile, figures) -> None:
    app, seeded, server = hostile
    p = seeded.pupils[0]
    registrar = {"Authorization": f"Bearer {seeded.tokens['registrar']}"}
    student = {"Authorization": f"Bearer {p.token}"}
    stored = 0
    with httpx.Client(base_url=server.base_url, timeout=60) as c:
        for text in SQL + CSV:
            r = c.post(f"/v1/students/{p.id}/reflections", json={"text": text}, headers=student)
            assert r.status_code == 201, r.text
            rid = r.json()["resource"]["id"]
            (submitted,) = app.events.get(UUID(rid))
            assert submitted.text == text
            stored += 1
        r = c.post(
            f"/v1/experiences/{p.experience_id}/hours",
            json={"worked_on": "2025-10-01", "hours": "1", "activity": SQL[0]},
            headers=student,
        )
        assert r.status_code == 201, r.text
        stored += 1
        # The store is intact: a write and a read after the attempts still work.
        assert c.get(f"/v1/students/{p.id}/transcript", headers=registrar).status_code == 200

        # Free text that reaches an export: a student with an SSID, classes titled as formulas.
        enrolled = c.post(
            "/v1/students",
            json={
                "local_id": "=1+1",
                "given_name": CSV[0],
                "family_name": SQL[1],
                "grade_level": "11",
                "cohort": 2027,
                "school_code": "1234",
                "state_student_id": "5300000009",
            },
            headers=registrar,
        )
        assert enrolled.status_code == 201, enrolled.text
        sid = enrolled.json()["resource"]["id"]
        assert app.student(sid).given_name == CSV[0]
        for n, title in enumerate(CSV):
            r = c.post(
                f"/v1/students/{sid}/courses",
                json={
                    "course_id": f"C{n}",
                    "title": title,
                    "area": "ENG",
                    "credits_earned": "1",
                    "mark": "A",
                    "school_year": "2025-26",
                    "term": "FY",
                    "state_course_code": "01003",
                },
                headers=registrar,
            )
            assert r.status_code == 201, r.text
            stored += 1
        export = c.get(
            "/v1/exports/state/grade-history",
            params={"school_year": "2025-26"},
            headers=registrar,
        )
    assert export.status_code == 200, export.text
    cells = [cell for line in export.text.split("\r\n") for cell in line.split("\t")]
    raw = [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]
    assert raw == [], raw
    neutralised = [cell for cell in cells if cell.lstrip("'") in CSV]
    assert sorted(x.lstrip("'") for x in neutralised) == sorted(CSV)
    assert all(x.startswith("'") for x in neutralised)
    figures.record(
        injection_strings=len(SQL) + len(CSV),
        stored_inertly=stored,
        export_cells=len(cells),
        formula_cells_neutralised=len(neutralised),
        formula_cells_raw=len(raw),
    )


def test_a_huge_request_head_is_refused_before_it_is_read_whole(hostile) -> None:
    """h11 stopped at 16 KiB of head; httptools buffers a head of any size: a 200 MB header was
    read whole into the server's memory (500 MB peak) and answered 200. Past the limit the
    request must be refused in problem+json, and heads of a sane size still pass."""
    app, seeded, server = hostile
    registrar = seeded.tokens["registrar"]
    transcript = f"/v1/students/{seeded.pupils[0].id}/transcript".encode()
    head_start = b"GET " + transcript + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    auth = f"Authorization: Bearer {registrar}\r\n".encode()

    def reply_to(padding: int, split: bool) -> tuple[int, str, bytes]:
        junk = b"X-Junk: " + b"a" * padding + b"\r\n"
        request = head_start + auth + junk + b"Connection: close\r\n\r\n"
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            try:
                if split:  # as a slow client sends it: many reads of one head
                    for at in range(0, len(request), 4096):
                        sock.sendall(request[at : at + 4096])
                else:
                    sock.sendall(request)
            except OSError:  # refused and closed while we were still sending
                pass
            reply, closed = read_until_closed(sock)
        assert closed
        top, _, body = reply.partition(b"\r\n\r\n")
        lines = top.split(b"\r\n")
        types = [
            v
            for k, _, v in (ln.partition(b":") for ln in lines[1:])
            if k.lower() == b"content-type"
        ]
        return int(lines[0].split(b" ", 2)[1]), b"".join(types).strip().decode(), body

    for split in (False, True):
        assert reply_to(4_000, split)[0] == 200, split
        status, ctype, body = reply_to(4 * 1024 * 1024, split)
        assert 400 <= status < 500 and ctype.startswith(PROBLEM_JSON), (split, status, ctype)
        assert json.loads(body)["status"] == status
    assert server.proc.poll() is None
