"""CASE imports on both stores: the shared OpenSALT files, leniency, rejections, revisions."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from ledger.application import system_actor
from ledger.domain import Framework
from ledger.errors import LedgerError
from ledger.imports.case import associations_of, framework_id_for, parse_case
from ledger.imports.report import InvalidImport
from ledger.imports.settings import (
    AreaRule,
    FrameworkOptions,
    parse_area,
    parse_method,
    parse_scale,
    read_mapping,
)
from tests.imports.conftest import DOC, _uuid, assoc, case_package, item


def import_pkg(app, pkg, options=None):
    plan = parse_case(pkg if isinstance(pkg, (bytes, str)) else json.dumps(pkg), options)
    result = app.import_framework(system_actor(), plan.framework_id, plan.definition, "test")
    return plan, result


def shared_case_files(shared_data: Path) -> list[Path]:
    files = sorted(p for p in (shared_data / "case").glob("*.json") if "schema" not in p.name)
    assert files, "no CASE files in the shared data"
    return files


def _ident(link) -> str:
    return (link["identifier"] if isinstance(link, dict) else link.rsplit("/", 1)[-1]).lower()


def expected_tree(pkg: dict) -> dict[str, tuple[str | None, int]]:
    """{item id: (parent id, rank among siblings)} straight from the file's isChildOf rows."""
    doc = pkg["CFDocument"]["identifier"].lower()
    order = {i["identifier"].lower(): n for n, i in enumerate(pkg["CFItems"])}
    parent: dict[str, tuple[str | None, float]] = {}
    for a in pkg["CFAssociations"]:
        if a["associationType"] != "isChildOf":
            continue
        child, dest = _ident(a["originNodeURI"]), _ident(a["destinationNodeURI"])
        seq = a.get("sequenceNumber")
        parent.setdefault(child, (None if dest == doc else dest, float(seq or "inf")))
    siblings: dict[str | None, list[str]] = {}
    for child, (p, _s) in parent.items():
        siblings.setdefault(p, []).append(child)
    out = {}
    for p, kids in siblings.items():
        kids.sort(key=lambda k: (parent[k][1], order[k]))
        for rank, k in enumerate(kids, 1):
            out[k] = (p, rank)
    return out


def test_every_shared_case_file_imports_with_its_hierarchy_order_and_codes(app, shared_data):
    for path in shared_case_files(shared_data):
        raw = json.loads(path.read_bytes())
        plan, result = import_pkg(app, path.read_bytes())
        assert result.value["status"] == "published", path.name
        fw = app.framework(framework_id_for(raw["CFDocument"]["identifier"].lower()))
        d = fw.definition
        assert d.title == raw["CFDocument"]["title"]
        assert len(d.competencies) == len(raw["CFItems"])
        by_id = {c.id: c for c in d.competencies}
        for it in raw["CFItems"]:
            c = by_id[it["identifier"].lower()]
            assert c.code == it.get("humanCodingScheme"), path.name
            assert c.statement == it["fullStatement"].strip()
            assert c.uri == it["uri"]
            assert c.external_id == it["identifier"]
            assert c.item_type == it.get("CFItemType")
        tree = expected_tree(raw)
        assert {c.id: (c.parent_id, c.sequence) for c in d.competencies} == tree, path.name
        # listed depth first: every parent before its children
        seen: set[str] = set()
        for c in d.competencies:
            assert c.parent_id is None or c.parent_id in seen
            seen.add(c.id)
        others = [a for a in raw["CFAssociations"] if a["associationType"] != "isChildOf"]
        assert len(d.associations) == len(others)
        assert sorted(a.type for a in d.associations) == sorted(
            a["associationType"] for a in others
        )
        before = app.position()
        _, again = import_pkg(app, path.read_bytes())
        assert again.value["status"] == "unchanged" and app.position() == before, path.name


def test_shared_files_that_break_the_schema_report_what_was_normalised(shared_data):
    schema = json.loads((shared_data / "case" / "case-v1p0-cfpackage-schema.json").read_text())
    validator = jsonschema.Draft4Validator(schema)
    for path in shared_case_files(shared_data):
        raw = json.loads(path.read_bytes())
        plan = parse_case(path.read_bytes())
        if list(validator.iter_errors(raw)):
            assert plan.normalisations.counts, path.name


def test_ccss_quirks_are_reported(shared_data):
    plan = parse_case((shared_data / "case" / "ccss-math-grade6-ratios.json").read_bytes())
    counts = plan.normalisations.counts
    assert counts["LinkURI given as a string"] >= 1
    assert counts["timestamp without a zone (read as UTC)"] >= 1
    assert counts["null for an optional field (treated as absent)"] >= 1
    assert plan.definition.source["package_uri"].startswith("http")
    # exactMatchOf points into the official CCSS framework: kept, with its URI
    crosswalks = [a for a in plan.definition.associations if a.type == "exactMatchOf"]
    assert crosswalks and all(a.destination_uri for a in crosswalks)


def test_smartlevel_non_rfc_identifiers_are_kept_and_reported(shared_data):
    raw = (shared_data / "case" / "smartlevel.json").read_bytes()
    plan = parse_case(raw)
    assert plan.normalisations.counts["identifier not an RFC 4122 UUID (kept)"] > 0
    assert all(c.code is None for c in plan.definition.competencies)


def test_reimport_is_a_no_op_and_a_changed_package_records_a_revision(app):
    pkg = case_package()
    plan, first = import_pkg(app, pkg)
    assert first.value["revision"] == 1
    before = app.position()
    _, again = import_pkg(app, copy.deepcopy(pkg))
    assert again.value["status"] == "unchanged" and again.event_count == 0
    assert app.position() == before

    changed = copy.deepcopy(pkg)
    changed["CFItems"][1]["fullStatement"] = "A new statement"  # A.2 changed
    changed["CFItems"] = [i for i in changed["CFItems"] if i["humanCodingScheme"] != "B"]
    changed["CFAssociations"] = [
        a for a in changed["CFAssociations"] if a["originNodeURI"]["identifier"] != _uuid(5)
    ]
    changed["CFItems"].append(item(6, "A.3"))
    changed["CFAssociations"].append(assoc(8, "isChildOf", _uuid(6), _uuid(1), 3))
    _, revised = import_pkg(app, changed)
    assert revised.value["status"] == "revised" and revised.event_count == 1
    assert revised.value["changes"] == {
        "added": [_uuid(6)],
        "removed": [_uuid(5)],
        "changed": [_uuid(2)],
    }
    fw = app.framework(plan.framework_id)
    assert fw.revision == 2
    events = list(app.repository.event_store.get(plan.framework_id))
    assert isinstance(events[-1], Framework.Revised)
    assert events[-1].changes == revised.value["changes"]


def test_order_follows_sequence_numbers_not_file_order():
    d = parse_case(case_package()).definition
    assert [c.code for c in d.competencies] == ["A", "A.1", "A.1.a", "A.2", "B"]
    assert {c.code: c.sequence for c in d.competencies} == {
        "A": 1,
        "A.1": 1,
        "A.1.a": 1,
        "A.2": 2,
        "B": 2,
    }


def test_lenient_inputs_are_normalised_and_counted():
    pkg = case_package()
    pkg["CFDocument"]["identifier"] = DOC.upper()
    pkg["CFDocument"]["description"] = None
    pkg["CFDocument"]["lastChangeDateTime"] = "2024-01-02T03:04:05"
    pkg["CFItems"][0]["identifier"] = "https://case.example.org/uri/" + _uuid(1).upper()
    pkg["CFAssociations"][1]["destinationNodeURI"] = pkg["CFItems"][0]["uri"]
    pkg["CFAssociations"][1]["sequenceNumber"] = "2"
    plan = parse_case(pkg)
    counts = plan.normalisations.counts
    assert counts["upper-case or unhyphenated UUID (lower-cased)"] >= 1
    assert counts["URL as identifier (its UUID taken)"] == 1
    assert counts["null for an optional field (treated as absent)"] == 1
    assert counts["timestamp without a zone (read as UTC)"] == 1
    assert counts["LinkURI given as a string"] == 1
    assert counts["sequenceNumber given as text"] == 1
    assert plan.framework_id == framework_id_for(DOC)
    assert plan.definition.source["last_change"] == "2024-01-02T03:04:05+00:00"
    a2 = next(c for c in plan.definition.competencies if c.code == "A.2")
    assert a2.parent_id == _uuid(1) and a2.sequence == 2
    assert plan.definition.competency(_uuid(1)).external_id.startswith("https://")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.pop("CFDocument"), "not a CASE CFPackage"),
        (
            lambda p: p["CFAssociations"][2]["destinationNodeURI"].update(
                identifier=_uuid(99), uri="urn:x"
            ),
            f"CFAssociations[2] (identifier {_uuid(1003)}): destinationNodeURI points at no item",
        ),
        (
            lambda p: p["CFAssociations"][5]["originNodeURI"].update(
                identifier=_uuid(99), uri="https://elsewhere/x"
            ),
            f"CFAssociations[5] (identifier {_uuid(1006)}): originNodeURI points at no item",
        ),
        (
            lambda p: p["CFItems"].append(item(2, "A.2", fullStatement="other")),
            f"CFItems[5] (identifier {_uuid(2)}): identifier appears twice",
        ),
        (
            lambda p: p["CFAssociations"][0]["destinationNodeURI"].update(identifier=_uuid(4)),
            "isChildOf makes a cycle",
        ),
        (lambda p: p["CFItems"][3].pop("fullStatement"), "CFItems[3]"),
        (lambda p: p["CFItems"].__setitem__(0, "x"), "CFItems[0] must be an object"),
    ],
)
def test_bad_packages_are_rejected_naming_the_element_and_write_nothing(app, mutate, message):
    pkg = case_package()
    mutate(pkg)
    before = app.position()
    with pytest.raises(InvalidImport) as e:
        import_pkg(app, pkg)
    assert message in e.value.detail
    assert app.position() == before


def test_not_json_and_wrong_encodings_are_rejected():
    for raw in (b"\x89PNG\r\n", b'{"CFDocument": ', "[1, 2]".encode("utf-16"), b"[" * 100000):
        with pytest.raises(InvalidImport):
            parse_case(raw)
    # UTF-16 with a BOM is still JSON
    assert parse_case(json.dumps(case_package()).encode("utf-16")).counts["items"] == 5


def test_mapping_file_sets_scale_method_and_areas(tmp_path):
    toml = tmp_path / "map.toml"
    toml.write_text(
        """
graduation_area = "CTE"
method = { name = "n_mastery", parameter = 2 }
[[scale]]
code = "IE"
label = "Insufficient evidence"
[[scale]]
code = "NY"
value = 0
[[scale]]
code = "M"
value = 1
mastery = true
[[areas]]
prefix = "A.1"
area = "MATH"
[[areas]]
item = "ITEM"
area = "SCI"
""".replace("ITEM", _uuid(5).upper())
    )
    opts = read_mapping(toml)
    d = parse_case(case_package(), opts).definition
    assert [lv.code for lv in d.scale.levels] == ["IE", "NY", "M"]
    assert d.method.name == "n_mastery" and d.method.parameter == 2
    assert d.graduation_area == "CTE"
    areas = {c.code: d.area_of(c.id) for c in d.competencies}
    assert areas == {"A": "CTE", "A.1": "MATH", "A.1.a": "MATH", "A.2": "CTE", "B": "SCI"}
    as_json = tmp_path / "map.json"
    as_json.write_text(json.dumps({"scale": "met-not-met", "method": "latest"}))
    opts = read_mapping(as_json)
    assert opts.method.name == "latest" and opts.scale.level("M").mastery


def test_option_specs():
    scale = parse_scale("?IE=Insufficient evidence,1=Beginning,2=Developing,3=Proficient*")
    assert [(lv.code, lv.value, lv.mastery) for lv in scale.levels][1:] == [
        ("1", 1, False),
        ("2", 2, False),
        ("3", 3, True),
    ]
    assert scale.levels[0].value is None
    assert parse_method("decaying_average:0.5").parameter == pytest.approx(0.5)
    assert parse_area("MATH") == "MATH"
    assert parse_area("CCSS.Math=MATH") == AreaRule("MATH", prefix="CCSS.Math")
    assert parse_area("id:abc=SCI") == AreaRule("SCI", item="abc")


def test_an_area_rule_matching_nothing_is_rejected():
    with pytest.raises(InvalidImport, match="matches no item"):
        parse_case(case_package(), FrameworkOptions(areas=(AreaRule("MATH", prefix="Z"),)))


def test_a_scale_that_breaks_the_domain_rules_is_rejected():
    with pytest.raises(LedgerError, match="mastery"):
        parse_case(case_package(), FrameworkOptions(scale=parse_scale("1,2,3")))


def test_associations_are_queryable_by_competency_and_type():
    d = parse_case(case_package()).definition
    a1 = associations_of(d, _uuid(3).upper())
    assert {(r["type"], r["direction"], r["other"]) for r in a1} == {
        ("isChildOf", "out", _uuid(1)),
        ("isChildOf", "in", _uuid(4)),
        ("precedes", "out", _uuid(2)),
    }
    matches = associations_of(d, _uuid(4), "exactMatchOf")
    assert len(matches) == 1 and matches[0]["uri"].endswith("d099849b9167")
    assert not matches[0]["in_framework"]
    with pytest.raises(InvalidImport):
        associations_of(d, "nope")
