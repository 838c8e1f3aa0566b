"""Proof bundles, and checking them offline with nothing but the bundle and the school's public
key. This module imports no database driver and nothing of the application: an auditor can run
it (``ledger verify-proof FILE``) far from our servers.

A bundle is JSON:

    {"format": "competency-ledger/proof-bundle/v1",
     "leaf_encoding": "...", "subject": {...},
     "checkpoint": {seq, tree_size, root_hash, time, last_position, origin, key_id,
                    body, signature},
     "public_key_pem": "...",
     "events": [{leaf_index, tree_size, position, originator_id, originator_version, topic,
                 state (base64, the bytes as stored), payload (state parsed, for reading),
                 leaf_hash, inclusion_proof: [hex, ...]}]}

Only the signed checkpoint ``body`` and each event's stored fields are trusted inputs; every hash
is recomputed.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ledger.errors import InvalidCommand
from ledger.integrity.keys import BadPublicKey, key_id, load_public_key
from ledger.integrity.leaves import ENCODING, Leaf
from ledger.integrity.merkle import ProofError, verify_inclusion
from ledger.integrity.note import Checkpoint, checkpoint_from_dict

FORMAT = "competency-ledger/proof-bundle/v1"


class InvalidProof(InvalidCommand):
    code = "invalid-proof"
    title = "The proof does not verify"


def payload_of(state: bytes) -> Any:
    try:
        return json.loads(state)
    except (ValueError, UnicodeDecodeError):
        return None  # compressed or encrypted state: only the bytes are shown


def event_entry(leaf: Leaf, leaf_index: int, tree_size: int, proof: list[bytes]) -> dict[str, Any]:
    return {
        "leaf_index": leaf_index,
        "tree_size": tree_size,
        "position": leaf.position,
        "originator_id": leaf.originator_id,
        "originator_version": leaf.originator_version,
        "topic": leaf.topic,
        "state": base64.b64encode(leaf.state).decode(),
        "payload": payload_of(leaf.state),
        "leaf_hash": leaf.hash().hex(),
        "inclusion_proof": [h.hex() for h in proof],
    }


def make_bundle(
    cp: Checkpoint, public_key_pem: str, events: list[dict[str, Any]], subject: dict[str, Any]
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "leaf_encoding": ENCODING,
        "subject": subject,
        "checkpoint": cp.to_dict(),
        "public_key_pem": public_key_pem,
        "events": events,
    }


def _leaf(e: dict[str, Any]) -> Leaf:
    try:
        leaf = Leaf(
            position=e["position"],
            originator_id=e["originator_id"],
            originator_version=e["originator_version"],
            topic=e["topic"],
            state=base64.b64decode(e["state"], validate=True),
        )
    except (KeyError, TypeError, ValueError, binascii.Error) as err:
        raise InvalidProof(f"an event in the bundle is incomplete: {err}") from None
    ints = (leaf.position, leaf.originator_version)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints):
        raise InvalidProof("an event's position and version are whole numbers")
    if not isinstance(leaf.originator_id, str) or not isinstance(leaf.topic, str):
        raise InvalidProof("an event's originator id and topic are text")
    return leaf


def _hex(value: Any, what: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except (TypeError, ValueError):
        raise InvalidProof(f"{what} is not hex") from None


def verify_bundle(bundle: Any, public_key_pem: str | bytes | None = None) -> dict[str, Any]:
    """Checks a proof bundle. ``public_key_pem`` is the auditor's own copy of the school's key;
    without it the key inside the bundle is used and the result says so. Raises InvalidProof."""
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise InvalidProof(f"not a {FORMAT} bundle")
    trusted = public_key_pem is not None
    try:
        pub = load_public_key(public_key_pem if trusted else bundle.get("public_key_pem") or "")
    except BadPublicKey as e:
        raise InvalidProof(e.detail) from None
    try:
        cp = checkpoint_from_dict(bundle.get("checkpoint") or {}, pub)
    except ProofError as e:
        raise InvalidProof(str(e)) from None
    events = bundle.get("events")
    if not isinstance(events, list) or not events:
        raise InvalidProof("the bundle proves no events")
    for n, e in enumerate(events):
        if not isinstance(e, dict):
            raise InvalidProof(f"event {n} in the bundle is not an object")
        leaf = _leaf(e)
        where = f"the event at log position {leaf.position}"
        if e.get("tree_size", cp.tree_size) != cp.tree_size:
            raise InvalidProof(f"{where} claims a tree of {e.get('tree_size')}, not {cp.label()}")
        if "payload" in e and e["payload"] is not None and e["payload"] != payload_of(leaf.state):
            raise InvalidProof(f"{where}: the readable payload is not the stored state")
        if "leaf_hash" in e and _hex(e["leaf_hash"], "a leaf hash") != leaf.hash():
            raise InvalidProof(f"{where}: its leaf hash is not the hash of its stored fields")
        if leaf.position > cp.last_position:
            raise InvalidProof(f"{where} is after {cp.label()}")
        proof = e.get("inclusion_proof")
        index = e.get("leaf_index")
        if not isinstance(proof, list) or not isinstance(index, int) or isinstance(index, bool):
            raise InvalidProof(f"{where} has no leaf index or inclusion proof")
        try:
            verify_inclusion(
                index,
                cp.tree_size,
                leaf.hash(),
                [_hex(p, "a proof element") for p in proof],
                cp.root,
            )
        except ProofError as err:
            raise InvalidProof(f"{where} is not in {cp.label()}: {err}") from None
    return {
        "ok": True,
        "events": len(events),
        "checkpoint": cp.to_dict(),
        "key_id": key_id(pub),
        "key_source": "given" if trusted else "bundle (not independently trusted)",
        "message": f"{len(events)} events verified in {cp.label()}, signed by key {key_id(pub)}",
    }
