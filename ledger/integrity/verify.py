"""`ledger verify`: recompute the tree from the stored events and hold it against every
signed checkpoint.

One streaming pass over the events table (in log order) and the leaf index, side by side. At each
checkpoint's size the recomputed root must equal the signed root; successive checkpoints must be
linked by their stored RFC 6962 consistency proofs. The first checkpoint whose root fails bounds
the damage to the leaves since the checkpoint before it; the leaf index, when its own root still
matches that signed root, names the exact first leaf that differs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.integrity.db import IntegrityDB
from ledger.integrity.keys import load_private_key
from ledger.integrity.leaves import Leaf
from ledger.integrity.merkle import ProofError, RangeHasher, verify_consistency
from ledger.integrity.note import Checkpoint, CheckpointInvalid, open_checkpoint
from ledger.settings import get_settings


@dataclass
class Problem:
    kind: str  # altered | missing | inserted | changed | checkpoint | consistency
    detail: str
    checkpoint: int | None = None  # seq of the first checkpoint that fails
    leaf_index: int | None = None  # first affected leaf (0-based), when known exactly
    position: int | None = None  # its log position (notification id)
    exact: bool = False
    leaf_range: tuple[int, int] | None = None  # [lo, hi) holding the first difference
    position_range: tuple[int, int] | None = None


@dataclass
class VerifyReport:
    ok: bool
    message: str
    events: int  # events stored now
    verified: int  # events covered by the last checkpoint that held
    checkpoints: int
    checkpoint: dict[str, Any] | None = None  # the last checkpoint verified
    consistency_proofs: int = 0
    uncovered: int = 0  # events recorded after the last checkpoint
    problem: Problem | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Diff:
    leaf_index: int
    leaf: Leaf | None
    indexed: tuple[int, bytes]  # (position, leaf hash) the leaf index holds


def _public_key(public_key: Ed25519PublicKey | None, key_path: Path | str | None):
    if public_key is not None:
        return public_key
    return load_private_key(key_path or get_settings().signing_key_path).public_key()


def _classify(d: _Diff, cp: Checkpoint) -> Problem:
    at = f"leaf {d.leaf_index}"
    ipos, _ = d.indexed
    if d.leaf is None:
        return Problem(
            "missing",
            f"the event at log position {ipos} ({at}) and every later one covered by "
            f"{cp.label()} are missing",
            cp.seq,
            d.leaf_index,
            ipos,
            True,
        )
    if d.leaf.position == ipos:
        return Problem(
            "altered",
            f"the event at log position {ipos} ({at}) differs from what {cp.label()} signed",
            cp.seq,
            d.leaf_index,
            ipos,
            True,
        )
    if d.leaf.position > ipos:
        return Problem(
            "missing",
            f"the event at log position {ipos} ({at}) is missing",
            cp.seq,
            d.leaf_index,
            ipos,
            True,
        )
    return Problem(
        "inserted",
        f"an event at log position {d.leaf.position} ({at}) was not in {cp.label()}",
        cp.seq,
        d.leaf_index,
        d.leaf.position,
        True,
    )


def verify_ledger(
    app: Any,
    *,
    public_key: Ed25519PublicKey | None = None,
    key_path: Path | str | None = None,
) -> VerifyReport:
    pub = _public_key(public_key, key_path)
    with IntegrityDB(app) as db, db.snapshot():
        rows = list(db.checkpoints())
        upto = db.max_position()
        events = db.count_after(0)
        cps: list[Checkpoint] = []
        proofs = 0

        def fail(problem: Problem, verified: Checkpoint | None) -> VerifyReport:
            return VerifyReport(
                ok=False,
                message=problem.detail,
                events=events,
                verified=verified.tree_size if verified else 0,
                checkpoints=len(rows),
                checkpoint=verified.to_dict() if verified else None,
                consistency_proofs=proofs,
                problem=problem,
            )

        # The checkpoint chain on its own: signatures, numbering, append-only growth. The data
        # is then checked against the checkpoints before the first broken link.
        chain_problem: Problem | None = None
        for row in rows:
            prev = cps[-1] if cps else None
            expected = prev.seq + 1 if prev else 1
            try:
                cp = open_checkpoint(row.body, row.signature, pub)
            except CheckpointInvalid as e:
                chain_problem = Problem("checkpoint", str(e), row.seq)
                break
            if cp.seq != row.seq or cp.seq != expected:
                chain_problem = Problem("checkpoint", f"checkpoint {expected} is missing", expected)
                break
            if prev is not None:
                try:
                    verify_consistency(
                        prev.tree_size, cp.tree_size, prev.root, cp.root, row.consistency
                    )
                except ProofError as e:
                    chain_problem = Problem(
                        "consistency", f"{cp.label()} does not extend {prev.label()}: {e}", cp.seq
                    )
                    break
                proofs += 1
            cps.append(cp)

        target = cps[-1].tree_size if cps else 0
        covered = min(events, target)
        rec = RangeHasher(covered, cuts=[c.tree_size for c in cps])
        idx = RangeHasher(target, cuts=[c.tree_size for c in cps])
        by_size: dict[int, list[Checkpoint]] = {}
        for c in cps:
            by_size.setdefault(c.tree_size, []).append(c)
        good: Checkpoint | None = None
        seg_start, seg_first_pos, diff = 0, None, None
        index_ok = True
        warnings: list[str] = []
        pending = list(cps)

        def evaluate(size: int, last_pos: int | None) -> Problem | None:
            nonlocal good
            for c in by_size.get(size, ()):
                pending.remove(c)
                rec_ok = rec.count >= size and rec.mth(0, size) == c.root
                idx_ok = index_ok and idx.count >= size and idx.mth(0, size) == c.root
                if rec_ok:
                    if not idx_ok and not warnings:
                        warnings.append(
                            f"the leaf index does not match {c.label()}: exact positions "
                            "of later damage cannot be named"
                        )
                    good = c
                    continue
                if idx_ok and diff is not None:
                    return _classify(diff, c)
                lo_pos = seg_first_pos
                if rec.count < size:
                    return Problem(
                        "missing",
                        f"the log holds {rec.count} of the {size} events {c.label()} covered;"
                        " the leaf index cannot say which are missing",
                        c.seq,
                        leaf_range=(seg_start, size),
                    )
                return Problem(
                    "changed",
                    f"an event among leaves {seg_start}..{size - 1}"
                    + (f" (log positions {lo_pos}..{last_pos})" if lo_pos and last_pos else "")
                    + f" differs from what {c.label()} signed; the leaf index cannot say which",
                    c.seq,
                    leaf_range=(seg_start, size),
                    position_range=(lo_pos, last_pos) if lo_pos and last_pos else None,
                )
            return None

        last_pos: int | None = None
        stream = zip_longest(db.leaves(0, upto), db.index(target))
        for i, (leaf, entry) in enumerate(stream):
            if i >= target and leaf is not None:
                break  # the rest is after the last checkpoint: count it, don't hash it
            if leaf is None and entry is None:
                break
            h = leaf.hash() if leaf is not None else None
            if leaf is not None:
                rec.add(h)
                last_pos = leaf.position
                if seg_first_pos is None:
                    seg_first_pos = leaf.position
            if entry is not None:
                if entry[0] != i:
                    index_ok = False
                elif index_ok:
                    idx.add(entry[2])
            if entry is None:
                index_ok = False
            elif diff is None and h != entry[2]:
                diff = _Diff(i, leaf, (entry[1], entry[2]))
            if i + 1 in by_size:
                problem = evaluate(i + 1, last_pos)
                if problem is not None:
                    return fail(problem, good)
                seg_start, seg_first_pos, diff = i + 1, None, None
        for size in sorted({c.tree_size for c in pending}):
            problem = evaluate(size, last_pos)
            if problem is not None:
                return fail(problem, good)

    if chain_problem is not None:
        return fail(chain_problem, good)
    uncovered = max(0, events - target)
    if good is None:
        message = f"no checkpoint yet: {events} events not covered"
    else:
        message = f"verified {good.tree_size} events up to checkpoint {good.seq}"
        if uncovered:
            message += f"; {uncovered} later events not yet checkpointed"
    return VerifyReport(
        ok=True,
        message=message,
        events=events,
        verified=good.tree_size if good else 0,
        checkpoints=len(cps),
        checkpoint=good.to_dict() if good else None,
        consistency_proofs=proofs,
        uncovered=uncovered,
        warnings=warnings,
    )
