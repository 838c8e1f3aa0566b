"""RFC 6962 / RFC 9162 Merkle trees: hashing, proofs and their verification. Pure: no I/O.

The tree over n leaves splits at the largest power of two below n. A range of leaves [lo, hi) is
hashed by ``RangeHasher`` in one streaming pass that keeps only the hashes it will need later:
the aligned power-of-two blocks between "cuts" (tree sizes and proved leaves). Memory grows with
the number of cuts times log n, never with the number of leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

RangeHash = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof does not verify, or is malformed."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def naive_root(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes by the RFC's recursive definition (tests and small trees)."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = split_point(len(hashes))
    return node_hash(naive_root(hashes[:k]), naive_root(hashes[k:]))


class Frontier:
    """The O(log n) perfect-subtree hashes of a growing tree: append leaves, read the root."""

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self.size = size
        self.hashes = list(hashes)  # largest subtree first, one per set bit of size
        if len(self.hashes) != bin(size).count("1"):
            raise ProofError("a frontier holds one hash per set bit of the tree size")

    def append(self, h: bytes) -> None:
        size = self.size
        while size & 1:
            h = node_hash(self.hashes.pop(), h)
            size >>= 1
        self.hashes.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = node_hash(h, r)
        return r

    def blocks(self) -> list[tuple[int, int, bytes]]:
        """(start, end, hash) of each perfect subtree, left to right."""
        out, start = [], 0
        bits = [1 << b for b in range(self.size.bit_length() - 1, -1, -1) if self.size >> b & 1]
        for width, h in zip(bits, self.hashes, strict=True):
            out.append((start, start + width, h))
            start += width
        return out


def dyadic_blocks(lo: int, hi: int) -> list[tuple[int, int]]:
    """[lo, hi) cut greedily into aligned power-of-two blocks, left to right."""
    out = []
    while lo < hi:
        width = lo & -lo if lo else 1 << ((hi - lo).bit_length() - 1)
        while width > hi - lo:
            width >>= 1
        out.append((lo, lo + width))
        lo += width
    return out


class RangeHasher:
    """Streams leaf hashes from ``start`` to ``size`` and answers ``mth(lo, hi)`` for any tree
    node needed by roots, inclusion and consistency proofs whose sizes and leaves are ``cuts``.

    Leaves before ``start`` are represented by a seeded frontier (their perfect subtrees).
    """

    def __init__(self, size: int, cuts: Iterable[int] = (), seed: Frontier | None = None) -> None:
        self.size = size
        self.start = seed.size if seed else 0
        self.known: dict[tuple[int, int], bytes] = {}
        if seed:
            for lo, hi, h in seed.blocks():
                self.known[(lo, hi)] = h
        points = sorted({p for p in cuts if self.start < p < size} | {self.start, size})
        self._pieces: list[tuple[int, int]] = []
        for a, b in zip(points, points[1:], strict=False):
            self._pieces.extend(dyadic_blocks(a, b))
        self._next = 0
        self._acc = Frontier()
        self.count = self.start

    def add(self, h: bytes) -> None:
        if self.count >= self.size:
            raise ProofError("more leaves than the tree holds")
        self._acc.append(h)
        self.count += 1
        lo, hi = self._pieces[self._next]
        if self.count == hi:
            self.known[(lo, hi)] = self._acc.root()
            self._acc = Frontier()
            self._next += 1

    def mth(self, lo: int, hi: int) -> bytes:
        if hi <= lo:
            return EMPTY_ROOT
        h = self.known.get((lo, hi))
        if h is not None:
            return h
        if hi - lo == 1 or hi > self.count:
            raise ProofError(f"the hash of leaves [{lo}, {hi}) is not available")
        k = split_point(hi - lo)
        h = node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))
        self.known[(lo, hi)] = h
        return h

    def frontier(self, size: int) -> Frontier:
        blocks = dyadic_blocks(0, size)
        return Frontier(size, [self.mth(lo, hi) for lo, hi in blocks])


# ---------------------------------------------------------------------- building proofs
def inclusion_proof(index: int, size: int, mth: RangeHash) -> list[bytes]:
    """RFC 6962 PATH(index, D[0:size]), leaf-most sibling first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            path.append(mth(lo + k, hi))
            hi = lo + k
        else:
            path.append(mth(lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


def consistency_proof(old: int, new: int, mth: RangeHash) -> list[bytes]:
    """RFC 6962 PROOF(old, D[0:new])."""
    if not 0 < old <= new:
        raise ProofError(f"no consistency proof from {old} to {new}")
    out: list[bytes] = []

    def sub(m: int, lo: int, hi: int, complete: bool) -> None:
        n = hi - lo
        if m == n:
            if not complete:
                out.append(mth(lo, hi))
            return
        k = split_point(n)
        if m <= k:
            sub(m, lo, lo + k, complete)
            out.append(mth(lo + k, hi))
        else:
            sub(m - k, lo + k, hi, False)
            out.append(mth(lo, lo + k))

    sub(old, 0, new, True)
    return out


# ---------------------------------------------------------------------- verifying proofs
def _check_hash(h: bytes, what: str) -> None:
    if not isinstance(h, bytes) or len(h) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte hash")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.3.2: the root implied by a leaf hash and its inclusion proof."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash(leaf, "the leaf hash")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        _check_hash(p, "a proof element")
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes] | None, root: bytes
) -> None:
    """Raises ProofError unless ``leaf`` is at ``index`` in the tree of ``size`` with ``root``."""
    if root_from_inclusion(index, size, leaf, proof or ()) != root:
        raise ProofError("the inclusion proof does not lead to the root")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes] | None
) -> None:
    """RFC 9162 2.1.4.2: raises ProofError unless tree ``size2`` extends tree ``size1``."""
    proof = list(proof or ())
    if size1 < 0 or size2 < size1:
        raise ProofError(f"a tree of {size2} cannot extend one of {size1}")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if size1 == 0 and root1 != EMPTY_ROOT:
            raise ProofError("the empty tree's root is SHA-256 of nothing")
        if root1 != root2:
            raise ProofError("equal sizes but different roots")
        return
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if not proof:
        raise ProofError("the consistency proof is empty")
    for p in proof:
        _check_hash(p, "a proof element")
    if size1 & (size1 - 1) == 0:
        proof.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != root1:
        raise ProofError("the consistency proof does not lead to the old root")
    if sr != root2:
        raise ProofError("the consistency proof does not lead to the new root")
