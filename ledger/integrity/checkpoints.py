"""Taking signed checkpoints: incrementally, from the last checkpoint's frontier.

A checkpoint reads only the events recorded since the previous one: the previous frontier (its
O(log n) perfect-subtree hashes, checked against its signed root) stands for everything before.
The same pass writes each new leaf's hash to ``integrity_leaves`` (so verify can name the exact
first event that differs, and proofs need not re-read every payload) and the RFC 6962
consistency proof from the previous checkpoint (so anyone holding two checkpoints can check that
the second extends the first).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import StateConflict
from ledger.integrity.db import TILE, IntegrityDB
from ledger.integrity.keys import SigningKeyUnavailable, load_private_key
from ledger.integrity.merkle import Frontier, RangeHasher, consistency_proof
from ledger.integrity.note import Checkpoint, CheckpointInvalid, open_checkpoint, sign_checkpoint
from ledger.settings import get_settings

log = structlog.get_logger(__name__)

CHUNK = 50_000  # events per checkpoint transaction when catching up a backlog


class CheckpointRefused(StateConflict):
    """The stored state the next checkpoint would build on does not match its signature."""

    code = "checkpoint-refused"
    title = "The previous checkpoint does not hold; run `ledger verify`"


def origin() -> str:
    s = get_settings()
    return f"competency-ledger/{s.district_code}/{s.school_code}"


def _key(key: Ed25519PrivateKey | None, key_path: Path | str | None) -> Ed25519PrivateKey:
    if key is not None:
        return key
    return load_private_key(key_path or get_settings().signing_key_path)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Tiles:
    """Hashes of each aligned block of TILE leaves, so proofs need not read every leaf hash."""

    def __init__(self, db: IntegrityDB, start: int) -> None:
        self.db = db
        self.rows: list[tuple[int, bytes]] = []
        self.acc: Frontier | None = Frontier()
        begin = start - start % TILE
        if begin < start:  # finish the tile the previous checkpoint left open
            known = db.index_range(begin, start)
            if len(known) == start - begin:
                for h in known:
                    self.acc.append(h)
            else:
                self.acc = None  # the index has holes: leave this tile to the leaf hashes

    def add(self, index: int, h: bytes) -> None:
        if self.acc is not None:
            self.acc.append(h)
        if (index + 1) % TILE == 0:
            if self.acc is not None:
                self.rows.append((index // TILE, self.acc.root()))
            self.acc = Frontier()
            if len(self.rows) >= 2000:
                self.flush()

    def flush(self) -> None:
        self.db.add_tiles(self.rows)
        self.rows = []


def checkpoint(
    app: Any,
    *,
    key: Ed25519PrivateKey | None = None,
    key_path: Path | str | None = None,
    now: Callable[[], datetime] | None = None,
    chunk: int = CHUNK,
) -> tuple[Checkpoint | None, bool]:
    """Sign a checkpoint over every event stored now, timed by ``now`` (default the
    application's clock). Returns (checkpoint, made): the new checkpoint, or the latest one with
    made=False when no event arrived since it (None, False for an empty log).

    A backlog longer than ``chunk`` events is signed in several checkpoints of ``chunk`` events,
    one short transaction each: on SQLite a checkpoint holds the write lock while it reads."""
    signer = _key(key, key_path)
    clock = now or getattr(app, "clock", _utc_now)
    with IntegrityDB(app) as db:
        target = db.max_position()  # what "now" means: later writes wait for the next one
    made = False
    while True:
        cp, made_now = _checkpoint_once(app, signer, clock, chunk, target)
        made = made or made_now
        if not made_now or cp is None or cp.last_position >= target:
            return cp, made


def _checkpoint_once(
    app: Any, signer: Ed25519PrivateKey, clock: Callable[[], datetime], chunk: int, target: int
) -> tuple[Checkpoint | None, bool]:
    public = signer.public_key()
    with IntegrityDB(app) as db, db.write():
        prev_row = db.latest_checkpoint()
        try:
            prev = open_checkpoint(prev_row.body, prev_row.signature, public) if prev_row else None
        except CheckpointInvalid as e:
            raise CheckpointRefused(str(e)) from None
        seed = Frontier()
        if prev_row is not None and prev is not None:
            if prev.tree_size != prev_row.tree_size or prev.last_position != prev_row.last_position:
                raise CheckpointRefused(f"checkpoint {prev.seq}'s columns differ from its note")
            seed = prev_row.seeded_frontier()
            if seed.root() != prev.root:
                raise CheckpointRefused(f"checkpoint {prev.seq}'s stored frontier is not its root")
        after = prev.last_position if prev else 0
        upto = min(db.position_after(after, chunk), target)
        new = db.count_between(after, upto) if upto > after else 0
        if new == 0:
            return prev, False
        old = seed.size
        size = old + new
        hasher = RangeHasher(size, cuts=(old,), seed=seed if old else None)
        tiles = _Tiles(db, old)
        batch: list[tuple[int, int, bytes]] = []
        last = after
        for leaf in db.leaves(after, upto):
            if hasher.count == size:  # a row committed late, below ids we counted
                raise CheckpointRefused("the events table changed while it was being read")
            h = leaf.hash()
            batch.append((hasher.count, leaf.position, h))
            tiles.add(hasher.count, h)
            hasher.add(h)
            last = leaf.position
            if len(batch) >= 2000:
                db.add_index(batch)
                batch = []
        db.add_index(batch)
        tiles.flush()
        if hasher.count != size:  # rows vanished between the count and the read
            raise CheckpointRefused("the events table changed while it was being read")
        proof = consistency_proof(old, size, hasher.mth) if old else []
        cp = sign_checkpoint(
            signer,
            origin=prev.origin if prev else origin(),
            seq=(prev.seq + 1) if prev else 1,
            tree_size=size,
            root=hasher.mth(0, size),
            time=clock(),
            last_position=last,
        )
        db.add_checkpoint(cp, hasher.frontier(size), proof, cp.time)
    log.info("integrity.checkpoint", seq=cp.seq, tree_size=cp.tree_size, root=cp.root.hex())
    return cp, True


def maybe_checkpoint(
    app: Any,
    *,
    interval: int | None = None,
    key: Ed25519PrivateKey | None = None,
    key_path: Path | str | None = None,
) -> Checkpoint | None:
    """Checkpoint when at least ``interval`` (Settings.checkpoint_interval) events arrived since
    the last one. Cheap when not due: two indexed queries. Never raises for a missing key: it logs
    ``integrity.no_signing_key`` and returns None, so a worker loop can call it on every batch."""
    every = interval or get_settings().checkpoint_interval
    with IntegrityDB(app) as db:
        prev = db.latest_checkpoint()
        after = prev.last_position if prev else 0
        # Ids have gaps (PITFALLS 10) so max - after only bounds the count from above.
        if db.max_position() - after < every or db.count_after(after) < every:
            return None
    try:
        cp, made = checkpoint(app, key=key, key_path=key_path)
    except SigningKeyUnavailable as e:
        log.warning("integrity.no_signing_key", detail=e.detail)
        return None
    return cp if made else None


def latest_checkpoint(
    app: Any, *, public_key: Any | None = None, key_path: Path | str | None = None
) -> Checkpoint | None:
    """The newest signed checkpoint (what exports name: ``cp.tree_size``, ``cp.root.hex()``),
    checked against the school's key; None before the first checkpoint."""
    pub = public_key or load_private_key(key_path or get_settings().signing_key_path).public_key()
    with IntegrityDB(app) as db:
        row = db.latest_checkpoint()
    if row is None:
        return None
    try:
        return open_checkpoint(row.body, row.signature, pub)
    except CheckpointInvalid as e:
        raise CheckpointRefused(str(e)) from None
