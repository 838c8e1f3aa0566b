"""Building proof bundles: the events behind a credit, with inclusion proofs against the latest
signed checkpoint (see ``bundle`` for the format and the offline check)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import StateConflict
from ledger.integrity.bundle import event_entry, make_bundle
from ledger.integrity.checkpoints import _key, checkpoint
from ledger.integrity.db import TILE, IntegrityDB
from ledger.integrity.keys import public_key_pem
from ledger.integrity.merkle import (
    ProofError,
    inclusion_proof,
    naive_root,
    node_hash,
    split_point,
    verify_inclusion,
)
from ledger.integrity.note import CheckpointInvalid, open_checkpoint


class ProofUnavailable(StateConflict):
    code = "proof-unavailable"
    title = "No proof can be given for these events"


class _TiledTree:
    """MTH of any node of the tree of ``size``, from stored tile hashes (one per TILE leaves)
    and, inside a tile or past the last full one, the leaf hashes themselves. A proof then
    reads n/TILE tile rows plus a few tiles of leaves, not every leaf hash. A missing tile is
    rebuilt from its leaves; a wrong one shows as a root that does not match the checkpoint."""

    def __init__(self, db: IntegrityDB, size: int) -> None:
        self.db = db
        self.size = size
        self.tiles = db.tiles(size // TILE)
        self.memo: dict[tuple[int, int], bytes] = {}

    def __call__(self, lo: int, hi: int) -> bytes:
        key = (lo, hi)
        h = self.memo.get(key)
        if h is None:
            h = self._compute(lo, hi)
            self.memo[key] = h
        return h

    def _leaves(self, lo: int, hi: int) -> list[bytes]:
        hashes = self.db.index_range(lo, hi)
        if len(hashes) != hi - lo:
            raise ProofUnavailable(
                f"the leaf index lacks leaves {lo}..{hi - 1}: run `ledger verify`"
            )
        return hashes

    def _compute(self, lo: int, hi: int) -> bytes:
        if hi - lo == TILE and lo % TILE == 0:
            tile = self.tiles.get(lo // TILE)
            if tile is not None:
                return tile
        if hi - lo <= TILE:
            return naive_root(self._leaves(lo, hi))
        k = split_point(hi - lo)
        return node_hash(self(lo, lo + k), self(lo + k, hi))


def positions_of(events: Any) -> list[int]:
    """Log positions from a lineage (``ReadModels.lineage``: its ``events``), a list of event
    dicts with ``position``, or plain positions."""
    if isinstance(events, dict):
        events = events.get("events") or []
    try:
        return sorted({int(e["position"]) if isinstance(e, dict) else int(e) for e in events})
    except (KeyError, TypeError, ValueError):
        raise ProofUnavailable("events are named by their log position") from None


def proof_bundle(
    app: Any,
    positions: Iterable[int],
    *,
    subject: dict[str, Any] | None = None,
    key: Ed25519PrivateKey | None = None,
    key_path: Path | str | None = None,
    fresh: bool = True,
) -> dict[str, Any]:
    """A bundle proving the events at ``positions``. With ``fresh`` (the default) a checkpoint is
    taken first when the latest one does not yet cover them."""
    wanted = sorted(set(positions))
    if not wanted:
        raise ProofUnavailable("there are no events to prove")
    signer = _key(key, key_path)
    pub = signer.public_key()
    with IntegrityDB(app) as db:
        row = db.latest_checkpoint()
    if fresh and (row is None or wanted[-1] > row.last_position):
        checkpoint(app, key=signer)
    with IntegrityDB(app) as db, db.snapshot():
        row = db.latest_checkpoint()
        if row is None:
            raise ProofUnavailable("no checkpoint covers these events yet")
        try:
            cp = open_checkpoint(row.body, row.signature, pub)
        except CheckpointInvalid as e:
            raise ProofUnavailable(f"{e}: run `ledger verify`") from None
        if wanted[-1] > cp.last_position:
            raise ProofUnavailable(f"log position {wanted[-1]} is after {cp.label()}")
        indices = db.leaf_indices(wanted)
        leaves = db.leaves_at(wanted)
        for p in wanted:
            if p not in indices or p not in leaves:
                raise ProofUnavailable(f"log position {p} is not a stored event")
        by_index = {indices[p]: p for p in wanted}
        mth = _TiledTree(db, cp.tree_size)
        if mth(0, cp.tree_size) != cp.root:
            raise ProofUnavailable(
                f"the leaf index does not match {cp.label()}: run `ledger verify`"
            )
        entries = []
        for i, p in sorted(by_index.items()):
            leaf = leaves[p]
            if leaf.hash() != mth(i, i + 1):
                raise ProofUnavailable(
                    f"the event at log position {p} differs from what {cp.label()} signed"
                )
            proof = inclusion_proof(i, cp.tree_size, mth)
            try:  # never hand out a bundle that would not verify
                verify_inclusion(i, cp.tree_size, leaf.hash(), proof, cp.root)
            except ProofError:
                raise ProofUnavailable(
                    f"the leaf index around log position {p} does not match {cp.label()}:"
                    " run `ledger verify`"
                ) from None
            entries.append(event_entry(leaf, i, cp.tree_size, proof))
    return make_bundle(cp, public_key_pem(pub), entries, subject or {})


def credit_proof(
    app: Any,
    lineage_or_events: Any,
    *,
    credit_id: str | None = None,
    key: Ed25519PrivateKey | None = None,
    key_path: Path | str | None = None,
    fresh: bool = True,
) -> dict[str, Any]:
    """The proof bundle for a credit: pass ``ReadModels.lineage(credit_id)`` (or its event list,
    or positions)."""
    if credit_id is None and isinstance(lineage_or_events, dict):
        credit = lineage_or_events.get("credit") or {}
        credit_id = credit.get("id") if isinstance(credit, dict) else None
    subject = {"kind": "credit", "id": str(credit_id)} if credit_id else {"kind": "events"}
    return proof_bundle(
        app,
        positions_of(lineage_or_events),
        subject=subject,
        key=key,
        key_path=key_path,
        fresh=fresh,
    )
