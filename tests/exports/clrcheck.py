"""Checks a CLR against 1EdTech's published JSON Schemas (read in place from ../shared)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from jsonschema import Draft4Validator


def validator(shared_data: Path, name: str) -> Draft4Validator:
    schema = json.loads((shared_data / "credentials" / name).read_text())
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def clr_validator(shared_data: Path) -> Draft4Validator:
    return validator(shared_data, "clr_v2p0_clrcredential_schema.json")


def ob_validator(shared_data: Path) -> Draft4Validator:
    return validator(shared_data, "ob_v3p0_achievementcredential_schema.json")


def errors_of(v: Draft4Validator, doc: dict) -> list[str]:
    return sorted(f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(doc))


def assert_valid_clr(shared_data: Path, clr: dict) -> None:
    """The CLR schema, the OB 3.0 schema on every assertion, and what draft-04 leaves
    unchecked here (date-time formats: no RFC 3339 checker is installed)."""
    assert errors_of(clr_validator(shared_data), clr) == []
    ob = ob_validator(shared_data)
    stamps = [clr["issuanceDate"]]
    for vc in clr["credentialSubject"]["verifiableCredential"]:
        assert errors_of(ob, vc) == []
        stamps.append(vc["issuanceDate"])
    for s in stamps:
        assert s.endswith("Z") and datetime.fromisoformat(s).tzinfo is not None
