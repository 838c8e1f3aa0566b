"""GET /v1/ledger/verify and GET /v1/credits/{id}/proof through HTTP, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.integrity.bundle import verify_bundle
from ledger.integrity.keys import public_key_pem
from tests.api.conftest import Api, open_api
from tests.integrity.conftest import Tamper


@pytest.fixture
def api(store_url: str, clock: Any, key: Ed25519PrivateKey) -> Iterator[Api]:
    yield from open_api(store_url, clock)


def test_a_registrar_gets_a_proof_an_auditor_can_check(api: Api, key: Ed25519PrivateKey) -> None:
    cid = api.cast.credit(api.cast.own, approve=True)
    r = api.get(f"/v1/credits/{cid}/proof")
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert bundle["subject"] == {"kind": "credit", "id": str(cid)}
    assert verify_bundle(bundle, public_key_pem(key))["ok"]
    for who in ("advisor", "student", "guardian", "reporter"):
        assert api.get(f"/v1/credits/{cid}/proof", who).status_code == 403
    missing = api.get("/v1/credits/00000000-0000-0000-0000-000000000000/proof")
    assert missing.status_code == 404


def test_verify_reports_the_first_changed_event(api: Api) -> None:
    api.cast.credit(api.cast.own)
    first = api.get("/v1/ledger/verify").json()
    assert first["ok"] and first["message"].startswith("no checkpoint yet")
    cid = api.cast.credit(api.cast.own)
    assert api.get(f"/v1/credits/{cid}/proof").status_code == 200  # took a checkpoint
    report = api.get("/v1/ledger/verify").json()
    assert report["ok"] and report["message"] == (
        f"verified {api.app.position()} events up to checkpoint 1"
    )
    assert api.get("/v1/ledger/verify", "advisor").status_code == 403

    tamper = Tamper(api.app)
    lineage = api.get(f"/v1/credits/{cid}/lineage").json()["events"]
    victim = lineage[len(lineage) // 2]["position"]
    tamper.flip_byte(victim)
    report = api.get("/v1/ledger/verify").json()
    assert not report["ok"]
    assert report["problem"]["position"] == victim and report["problem"]["kind"] == "altered"
    r = api.get(f"/v1/credits/{cid}/proof")
    assert r.status_code == 409 and r.json()["type"].endswith("/proof-unavailable")
    assert f"log position {victim}" in r.json()["detail"]
