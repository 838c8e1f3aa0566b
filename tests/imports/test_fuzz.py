"""Mutated files never crash an importer and never leave a partial import.

Each example takes a good file, breaks it (a field dropped, a type changed, a reference broken,
the encoding changed, bytes cut), and imports it: either it imports, or only a LedgerError
escapes and the log has not moved. The default run is small; ``-m fuzz`` runs many more.
"""

from __future__ import annotations

import copy
import io
import json
import uuid
import zipfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.application import system_actor
from ledger.errors import LedgerError
from ledger.imports.case import parse_case
from ledger.imports.oneroster import RosterOptions, parse_oneroster
from tests.imports.conftest import case_package, csv_bytes, roster_tables

QUICK = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
LONG = settings(QUICK, max_examples=600)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1", "cp1252", "ascii")


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path] if path else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _parent(doc: Any, path: tuple) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


def mutate_json(data: st.DataObject, doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = _paths(doc)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent = _parent(doc, path)
        op = data.draw(st.sampled_from(["drop", "retype", "reference", "duplicate"]), label="op")
        if op == "drop":
            del parent[path[-1]]
        elif op == "retype":
            parent[path[-1]] = data.draw(json_values, label="value")
        elif op == "reference":
            parent[path[-1]] = data.draw(
                st.sampled_from([str(uuid.uuid4()), str(uuid.uuid4()).upper(), "urn:x", ""])
            )
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
    return doc


def encode(data: st.DataObject, text: str) -> bytes:
    enc = data.draw(st.sampled_from(ENCODINGS), label="encoding")
    raw = text.encode(enc, errors="replace")
    # Cut short one time in five: a truncated file is one failure, not the only one to test.
    if data.draw(st.integers(0, 4), label="truncate?") == 0:
        return raw[: data.draw(st.integers(0, len(raw)), label="cut")]
    return raw


def check_case(app, data: st.DataObject) -> None:
    doc = mutate_json(data, case_package())
    raw = encode(data, json.dumps(doc))
    before = app.position()
    try:
        plan = parse_case(raw)
        app.import_framework(system_actor(), plan.framework_id, plan.definition, "fuzz")
    except LedgerError:
        assert app.position() == before


def mutate_tables(data: st.DataObject) -> dict[str, list[list[str]]]:
    tables = roster_tables()
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        name = data.draw(st.sampled_from(sorted(tables)), label="file")
        rows = tables[name]
        op = data.draw(
            st.sampled_from(["drop column", "cell", "drop row", "duplicate row", "swap"]),
            label="op",
        )
        if not rows or not rows[0]:
            continue
        r = data.draw(st.integers(0, len(rows) - 1), label="row")
        c = data.draw(st.integers(0, len(rows[0]) - 1), label="col")
        if op == "drop column":
            for row in rows:
                if c < len(row):
                    del row[c]
        elif op == "cell" and c < len(rows[r]):
            rows[r][c] = data.draw(
                st.sampled_from(["", "u-s1", "cls-9", "13/13/2025", "3/4/2025", "tobedeleted"])
                | st.text(max_size=8),
                label="value",
            )
        elif op == "drop row" and len(rows) > 1:
            del rows[r]
        elif op == "duplicate row":
            rows.append(list(rows[r]))
        elif op == "swap" and len(rows) > 2:
            rows[1], rows[-1] = rows[-1], rows[1]
    return tables


def check_roster(app, data: st.DataObject) -> None:
    tables = mutate_tables(data)
    buf = io.BytesIO()
    recoded = data.draw(st.sampled_from(sorted(tables)), label="re-encoded file")
    with zipfile.ZipFile(buf, "w") as zf:
        for name, rows in tables.items():
            raw = csv_bytes(rows)
            zf.writestr(f"{name}.csv", encode(data, raw.decode()) if name == recoded else raw)
    raw = buf.getvalue()
    if data.draw(st.integers(0, 9), label="damage zip?") == 0:
        at = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :]
    before = app.position()
    try:
        plan = parse_oneroster(raw, RosterOptions(default_cohort=2027))
        app.import_roster(system_actor(), plan)
    except LedgerError:
        assert app.position() == before


@QUICK
@given(data=st.data())
def test_mutated_case_packages_never_crash_nor_half_import(app, data):
    check_case(app, data)


@QUICK
@given(data=st.data())
def test_mutated_rosters_never_crash_nor_half_import(app, data):
    check_roster(app, data)


@pytest.mark.fuzz
@LONG
@given(data=st.data())
def test_mutated_case_packages_long(app, data):
    check_case(app, data)


@pytest.mark.fuzz
@LONG
@given(data=st.data())
def test_mutated_rosters_long(app, data):
    check_roster(app, data)
