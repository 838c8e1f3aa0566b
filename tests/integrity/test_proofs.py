"""Proof bundles on both stores: a credit's lineage proved against the latest checkpoint,
checked offline with only the bundle and the public key; forgeries fail."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import LedgerApplication, system_actor
from ledger.domain import EvidenceRef
from ledger.integrity.bundle import InvalidProof, verify_bundle
from ledger.integrity.checkpoints import checkpoint
from ledger.integrity.keys import public_key_pem
from ledger.integrity.proofs import ProofUnavailable, credit_proof, proof_bundle
from ledger.integrity.verify import verify_ledger
from projections import ReadModels
from tests.builders import School
from tests.integrity.conftest import Tamper


@pytest.fixture
def credited(app: LedgerApplication) -> tuple[LedgerApplication, str]:
    school = School.build(app)
    sid, student = school.enroll("P1")
    xid = school.experience(sid)
    entry = school.verified_hours(student, xid, date(2025, 10, 1))
    rid = school.reflection(student, sid, xid)
    judgment = school.judge(
        sid, [EvidenceRef("reflection", rid), EvidenceRef("hours", xid, entry_id=entry)]
    )
    cid = school.mastery_credit(sid, [judgment])
    school.enroll("P2")  # later events the proof does not need
    return app, str(cid)


@pytest.fixture
def bundle(credited, key: Ed25519PrivateKey) -> dict:
    app, cid = credited
    rm = ReadModels(app)
    try:
        rm.catch_up()
        lineage = rm.lineage(cid)
    finally:
        rm.close()
    return json.loads(json.dumps(credit_proof(app, lineage, key=key)))


def pem(key: Ed25519PrivateKey) -> str:
    return public_key_pem(key)


def test_a_credit_proof_round_trips(credited, bundle: dict, key: Ed25519PrivateKey) -> None:
    app, cid = credited
    result = verify_bundle(bundle, pem(key))
    assert result["ok"] and result["key_source"] == "given"
    assert bundle["subject"] == {"kind": "credit", "id": cid}
    topics = {e["topic"] for e in bundle["events"]}
    assert {"competency-ledger/Credit.Proposed", "competency-ledger/Credit.Approved"} <= topics
    assert any(t.startswith("competency-ledger/Judgment.") for t in topics)
    assert any(t.startswith("competency-ledger/Reflection.") for t in topics)
    # The proof was taken under a checkpoint made for it, which covers the whole log.
    assert bundle["checkpoint"]["tree_size"] == app.position()
    assert result["events"] == len(bundle["events"]) >= 5
    for e in bundle["events"]:
        assert json.loads(base64.b64decode(e["state"])) == e["payload"]


def test_without_the_auditor_key_the_bundle_key_is_used_and_said(bundle: dict) -> None:
    assert verify_bundle(bundle)["key_source"].startswith("bundle")


def _flip_hex(value: str) -> str:
    return ("0" if value[0] != "0" else "1") + value[1:]


def forgeries(bundle: dict) -> dict[str, dict]:
    out = {}

    def forge(name, change):
        b = copy.deepcopy(bundle)
        change(b)
        out[name] = b

    def changed_leaf(b):
        e = b["events"][0]
        state = bytearray(base64.b64decode(e["state"]))
        state[5] ^= 1
        e["state"] = base64.b64encode(bytes(state)).decode()
        e.pop("payload")
        e.pop("leaf_hash")

    def changed_sibling(b):
        proof = b["events"][1]["inclusion_proof"]
        proof[len(proof) // 2] = _flip_hex(proof[len(proof) // 2])

    def wrong_tree_size(b):
        b["events"][0]["tree_size"] += 1

    def wrong_checkpoint_size(b):
        lines = b["checkpoint"]["body"].split("\n")
        lines[1] = str(int(lines[1]) + 1)
        b["checkpoint"]["body"] = "\n".join(lines)

    def bad_signature(b):
        sig = bytearray(base64.b64decode(b["checkpoint"]["signature"]))
        sig[0] ^= 1
        b["checkpoint"]["signature"] = base64.b64encode(bytes(sig)).decode()

    def other_leaf_index(b):
        b["events"][0]["leaf_index"] = b["events"][1]["leaf_index"]

    def payload_rewritten(b):
        b["events"][0]["payload"] = {"forged": True}

    def moved_position(b):
        b["events"][0]["position"] += 1
        del b["events"][0]["leaf_hash"]

    def nothing_proved(b):
        b["events"] = []

    for fn in (
        changed_leaf,
        changed_sibling,
        wrong_tree_size,
        wrong_checkpoint_size,
        bad_signature,
        other_leaf_index,
        payload_rewritten,
        moved_position,
        nothing_proved,
    ):
        forge(fn.__name__, fn)
    return out


def test_forged_bundles_fail(bundle: dict, key: Ed25519PrivateKey) -> None:
    cases = forgeries(bundle)
    assert len(cases) == 9
    rejected = []
    for name, forged in cases.items():
        with pytest.raises(InvalidProof):
            verify_bundle(forged, pem(key))
        rejected.append(name)
    assert rejected == list(cases)


def test_a_bundle_re_signed_by_another_key_fails_under_the_schools_key(
    bundle: dict, key: Ed25519PrivateKey
) -> None:
    from ledger.integrity.note import sign_checkpoint

    other = Ed25519PrivateKey.generate()
    cp = bundle["checkpoint"]
    forged_cp = sign_checkpoint(
        other,
        origin=cp["origin"],
        seq=cp["seq"],
        tree_size=cp["tree_size"],
        root=bytes.fromhex(cp["root_hash"]),
        time=__import__("datetime").datetime.fromisoformat(cp["time"]),
        last_position=cp["last_position"],
    )
    forged = {**bundle, "checkpoint": forged_cp.to_dict(), "public_key_pem": pem(other)}
    assert verify_bundle(forged)["ok"]  # self-consistent: that is why auditors bring the key
    with pytest.raises(InvalidProof, match="signed by key"):
        verify_bundle(forged, pem(key))


def test_no_proof_for_a_tampered_event(credited, key: Ed25519PrivateKey, tamper: Tamper) -> None:
    app, _ = credited
    checkpoint(app, key=key)
    victim = tamper.positions()[3]
    tamper.flip_byte(victim)
    with pytest.raises(ProofUnavailable, match=f"log position {victim}"):
        proof_bundle(app, [victim], key=key)
    with pytest.raises(ProofUnavailable, match="not a stored event"):
        proof_bundle(app, [0], key=key, fresh=False)
    with pytest.raises(ProofUnavailable, match="is after checkpoint"):
        proof_bundle(app, [10**9], key=key)
    with pytest.raises(ProofUnavailable):
        proof_bundle(app, [], key=key)


def test_without_fresh_only_covered_events_are_proved(credited, key: Ed25519PrivateKey) -> None:
    app, _ = credited
    with pytest.raises(ProofUnavailable, match="no checkpoint"):
        proof_bundle(app, [1], key=key, fresh=False)
    checkpoint(app, key=key)
    app.enroll_student(
        system_actor(),
        local_id="late",
        given_name="Given",
        family_name="Family",
        grade_level="11",
        cohort=2027,
        school_code="1234",
    )
    with pytest.raises(ProofUnavailable, match="after checkpoint"):
        proof_bundle(app, [app.position()], key=key, fresh=False)
    assert verify_bundle(proof_bundle(app, [1, 2], key=key, fresh=False), pem(key))["ok"]


def test_the_offline_verifier_imports_no_database_code(tmp_path: Path) -> None:
    code = (
        "import sys, ledger.integrity.bundle as b;"
        "bad = [m for m in ('sqlite3','psycopg','eventsourcing','ledger.application',"
        "'ledger.integrity.db','projections') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def long_log(app: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper) -> LedgerApplication:
    """2,000 events under checkpoints that end mid-tile (tiles are 256 leaves)."""
    done = 0
    for size in (300, 777, 1500, 2000):
        tamper.synthesize(size - done, start=done)
        checkpoint(app, key=key)
        done = size
    return app


def test_proofs_over_many_tiles_round_trip(
    long_log: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    positions = tamper.positions()
    wanted = [positions[i] for i in (0, 255, 256, 299, 300, 776, 1023, 1024, 1500, 1999)]
    bundle = proof_bundle(long_log, wanted, key=key)
    assert bundle["checkpoint"]["tree_size"] == 2000
    assert [e["leaf_index"] for e in bundle["events"]] == [
        0, 255, 256, 299, 300, 776, 1023, 1024, 1500, 1999
    ]  # fmt: skip
    assert verify_bundle(json.loads(json.dumps(bundle)), pem(key))["events"] == 10
    tiles = tamper.run("SELECT COUNT(*) FROM {p}integrity_tiles")[0][0]
    assert tiles == 2000 // 256


def test_a_lost_tile_is_rebuilt_and_a_forged_one_refused(
    long_log: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    positions = tamper.positions()
    tamper.run("DELETE FROM {p}integrity_tiles WHERE tile_index = 2")
    assert verify_bundle(proof_bundle(long_log, [positions[600]], key=key), pem(key))["ok"]
    tamper.run("UPDATE {p}integrity_tiles SET tile_hash = ? WHERE tile_index = 4", (b"\0" * 32,))
    with pytest.raises(ProofUnavailable, match="leaf index does not match"):
        proof_bundle(long_log, [positions[600]], key=key)


def test_an_event_and_its_indexed_hash_rewritten_together_get_no_proof(
    long_log: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    from ledger.integrity.leaves import Leaf

    victim = tamper.positions()[1100]
    tamper.flip_byte(victim)
    row = tamper.run(
        "SELECT {id}, originator_id, originator_version, topic, state FROM {events} WHERE {id} = ?",
        (victim,),
    )[0]
    forged = Leaf(row[0], str(uuid.UUID(str(row[1]))), row[2], row[3], bytes(row[4]))
    tamper.run(
        "UPDATE {p}integrity_leaves SET leaf_hash = ? WHERE position = ?", (forged.hash(), victim)
    )
    with pytest.raises(ProofUnavailable):
        proof_bundle(long_log, [victim], key=key)
    # With the index forged in step, verify can only name the checkpoint span that holds it.
    problem = verify_ledger(long_log, public_key=key.public_key()).problem
    assert (problem.kind, problem.exact, problem.leaf_range) == ("changed", False, (777, 1500))
    assert problem.position_range[0] <= victim <= problem.position_range[1]
