"""The signed checkpoint: a C2SP-style checkpoint note, signed with Ed25519. Pure.

    <origin>
    <tree size>
    <root hash, base64>
    time <ISO 8601 UTC>
    seq <checkpoint number, from 1>
    last-position <notification id of the last leaf, 0 when empty>
    key <key id>

The signature covers exactly these bytes; readers parse the fields back out of the signed text and
never trust a copy kept beside it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.integrity.keys import key_id, signature_valid
from ledger.integrity.merkle import HASH_SIZE, ProofError


class CheckpointInvalid(ProofError):
    """The checkpoint's text or signature does not hold."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    seq: int
    tree_size: int
    root: bytes
    time: str
    last_position: int
    key_id: str
    body: str
    signature: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "tree_size": self.tree_size,
            "root_hash": self.root.hex(),
            "time": self.time,
            "last_position": self.last_position,
            "origin": self.origin,
            "key_id": self.key_id,
            "body": self.body,
            "signature": base64.b64encode(self.signature).decode(),
        }

    def label(self) -> str:
        return f"checkpoint {self.seq} (size {self.tree_size}, root {self.root.hex()})"


def sign_checkpoint(
    key: Ed25519PrivateKey,
    *,
    origin: str,
    seq: int,
    tree_size: int,
    root: bytes,
    time: datetime,
    last_position: int,
) -> Checkpoint:
    if "\n" in origin or not origin:
        raise ValueError("the origin is one non-empty line")
    kid = key_id(key)
    stamp = time.isoformat().replace("+00:00", "Z")
    body = (
        f"{origin}\n{tree_size}\n{base64.b64encode(root).decode()}\n"
        f"time {stamp}\nseq {seq}\nlast-position {last_position}\nkey {kid}\n"
    )
    sig = key.sign(body.encode())
    return Checkpoint(origin, seq, tree_size, root, stamp, last_position, kid, body, sig)


def _parse(body: str) -> dict[str, Any]:
    lines = body.split("\n")
    if len(lines) != 8 or lines[-1] != "":
        raise CheckpointInvalid("a checkpoint note has seven lines")
    origin, size, root64, *ext = lines[:7]
    fields: dict[str, str] = {}
    for line, name in zip(ext, ("time", "seq", "last-position", "key"), strict=True):
        tag, _, value = line.partition(" ")
        if tag != name or not value:
            raise CheckpointInvalid(f"expected the {name!r} line in the checkpoint note")
        fields[name] = value
    try:
        root = base64.b64decode(root64, validate=True)
        out = {
            "origin": origin,
            "tree_size": int(size),
            "root": root,
            "time": fields["time"],
            "seq": int(fields["seq"]),
            "last_position": int(fields["last-position"]),
            "key_id": fields["key"],
        }
    except (ValueError, binascii.Error) as e:
        raise CheckpointInvalid(f"unreadable checkpoint note: {e}") from None
    if len(root) != HASH_SIZE or out["tree_size"] < 0 or out["seq"] < 1:
        raise CheckpointInvalid("the checkpoint note's size, root or number is out of range")
    if not size.isdigit() or str(out["tree_size"]) != size:
        raise CheckpointInvalid("the tree size is not a plain decimal")
    return out


def open_checkpoint(body: str, signature: bytes, public_key: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint the signed text states; raises CheckpointInvalid otherwise."""
    fields = _parse(body)
    if fields["key_id"] != key_id(public_key):
        raise CheckpointInvalid(
            f"checkpoint {fields['seq']} is signed by key {fields['key_id']}, "
            f"not by key {key_id(public_key)}"
        )
    if not signature_valid(public_key, signature, body.encode()):
        raise CheckpointInvalid(f"checkpoint {fields['seq']} has a bad signature")
    return Checkpoint(body=body, signature=signature, **fields)


def checkpoint_from_dict(data: dict[str, Any], public_key: Ed25519PublicKey) -> Checkpoint:
    try:
        body = data["body"]
        signature = base64.b64decode(data["signature"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error) as e:
        raise CheckpointInvalid(
            f"the checkpoint needs a body and a base64 signature: {e}"
        ) from None
    if not isinstance(body, str):
        raise CheckpointInvalid("the checkpoint body is text")
    return open_checkpoint(body, signature, public_key)
