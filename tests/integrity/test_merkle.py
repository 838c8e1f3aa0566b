"""RFC 6962 hashing and proofs: the published transparency-dev vectors, and our own trees checked
against the RFC's recursive definition written out naively here."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.integrity.merkle import (
    EMPTY_ROOT,
    Frontier,
    ProofError,
    RangeHasher,
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
ROOT_OF_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
# Roots of every prefix of the 8 documented leaves, as published with RFC 6962's test data
# (certificate-transparency's merkle_tree_test and transparency-dev's testdata).
PREFIX_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    ROOT_OF_8,
]


def h(hexdata: str) -> bytes:
    return bytes.fromhex(hexdata)


def naive_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def naive_mth(data: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 6962 section 2.1 writes it, over leaf data."""
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return naive_leaf(data[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(data[:k]) + naive_mth(data[k:])).digest()


def naive_path(m: int, data: list[bytes]) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return naive_path(m, data[:k]) + [naive_mth(data[k:])]
    return naive_path(m - k, data[k:]) + [naive_mth(data[:k])]


def naive_proof(m: int, data: list[bytes]) -> list[bytes]:
    def sub(m: int, d: list[bytes], b: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if b else [naive_mth(d)]
        k = 1
        while k * 2 < n:
            k *= 2
        if m <= k:
            return sub(m, d[:k], b) + [naive_mth(d[k:])]
        return sub(m - k, d[k:], False) + [naive_mth(d[:k])]

    return sub(m, data, True)


def streamed(data: list[bytes], cuts: list[int]) -> RangeHasher:
    hasher = RangeHasher(len(data), cuts=cuts)
    for d in data:
        hasher.add(naive_leaf(d))
    return hasher


# ---------------------------------------------------------------------- published vectors
def _cases(shared_data: Path, kind: str) -> list[tuple[Path, dict]]:
    folder = shared_data / "rfc6962" / kind
    cases = [(p, json.loads(p.read_text())) for p in sorted(folder.rglob("*.json"))]
    assert cases, f"no vectors under {folder}"
    return cases


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def test_every_inclusion_vector_is_judged_as_published(shared_data: Path) -> None:
    cases = _cases(shared_data, "inclusion")
    happy = 0
    for path, case in cases:
        args = (
            case["leafIdx"],
            case["treeSize"],
            _b64(case["leafHash"]),
            [_b64(p) for p in case["proof"] or []],
            _b64(case["root"]),
        )
        if case["wantErr"]:
            with pytest.raises(ProofError):
                verify_inclusion(*args)
        else:
            verify_inclusion(*args)
            happy += path.name == "happy-path.json"
    assert happy == 5  # folders 0-4
    assert sum(c["wantErr"] for _, c in cases) > 50


def test_every_consistency_vector_is_judged_as_published(shared_data: Path) -> None:
    cases = _cases(shared_data, "consistency")
    happy = 0
    for path, case in cases:
        args = (
            case["size1"],
            case["size2"],
            _b64(case["root1"]),
            _b64(case["root2"]),
            [_b64(p) for p in case["proof"] or []],
        )
        if case["wantErr"]:
            with pytest.raises(ProofError):
                verify_consistency(*args)
        else:
            verify_consistency(*args)
            happy += path.name == "happy-path.json"
    assert happy == 5
    assert sum(c["wantErr"] for _, c in cases) > 50


def test_happy_path_proofs_are_the_ones_we_build(shared_data: Path) -> None:
    data = [h(x) for x in LEAVES]
    for path, case in _cases(shared_data, "inclusion"):
        if path.name != "happy-path.json":
            continue
        i, n = case["leafIdx"], case["treeSize"]
        built = inclusion_proof(i, n, streamed(data[:n], [i, i + 1]).mth)
        assert [base64.b64encode(p).decode() for p in built] == (case["proof"] or [])
    for path, case in _cases(shared_data, "consistency"):
        if path.name != "happy-path.json":
            continue
        m, n = case["size1"], case["size2"]
        built = consistency_proof(m, n, streamed(data[:n], [m]).mth)
        assert [base64.b64encode(p).decode() for p in built] == (case["proof"] or [])


# ---------------------------------------------------------------------- our own trees
def test_roots_of_the_eight_documented_leaves_and_every_prefix() -> None:
    data = [h(x) for x in LEAVES]
    assert naive_mth(data).hex() == ROOT_OF_8
    for n in range(1, 9):
        assert naive_mth(data[:n]).hex() == PREFIX_ROOTS[n - 1]
        frontier = Frontier()
        for d in data[:n]:
            frontier.append(naive_leaf(d))
        assert frontier.root().hex() == PREFIX_ROOTS[n - 1]
        assert streamed(data[:n], []).mth(0, n).hex() == PREFIX_ROOTS[n - 1]
    assert Frontier().root() == EMPTY_ROOT == naive_mth([])


def test_proofs_match_the_naive_definition_for_all_small_trees() -> None:
    for n in range(1, 40):
        data = [i.to_bytes(2, "big") for i in range(n)]
        root = naive_mth(data)
        for m in range(n):
            built = inclusion_proof(m, n, streamed(data, [m, m + 1]).mth)
            assert built == naive_path(m, data)
            verify_inclusion(m, n, naive_leaf(data[m]), built, root)
        for m in range(1, n + 1):
            built = consistency_proof(m, n, streamed(data, [m]).mth)
            assert built == naive_proof(m, data)
            verify_consistency(m, n, naive_mth(data[:m]), root, built)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=300),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=6),
)
def test_streamed_hashes_from_a_seeded_frontier_equal_a_full_pass(n: int, cuts: list[int]) -> None:
    data = [i.to_bytes(2, "big") for i in range(n)]
    old = min(cuts[0], n) if cuts else n // 2
    seed = Frontier()
    for d in data[:old]:
        seed.append(naive_leaf(d))
    assert seed.root() == naive_mth(data[:old])
    hasher = RangeHasher(n, cuts=[old, *cuts], seed=seed if old else None)
    for d in data[old:]:
        hasher.add(naive_leaf(d))
    assert hasher.mth(0, n) == naive_mth(data)
    assert hasher.frontier(n).root() == naive_mth(data)
    if old:
        assert consistency_proof(old, n, hasher.mth) == naive_proof(old, data)


def test_forged_proofs_fail() -> None:
    data = [i.to_bytes(2, "big") for i in range(13)]
    root = naive_mth(data)
    proof = inclusion_proof(5, 13, streamed(data, [5, 6]).mth)
    leaf = naive_leaf(data[5])
    verify_inclusion(5, 13, leaf, proof, root)
    flipped = bytes([proof[1][0] ^ 1]) + proof[1][1:]
    forgeries = [
        (5, 13, naive_leaf(b"forged"), proof, root),  # changed leaf
        (5, 13, leaf, [proof[0], flipped, *proof[2:]], root),  # changed sibling
        # Wrong tree size: only sizes that change the path's shape are caught by the proof alone
        # (9..16 all accept it); the signed checkpoint is what binds the size.
        (5, 7, leaf, proof, root),
        (5, 17, leaf, proof, root),
        (4, 13, leaf, proof, root),  # wrong index
        (5, 13, leaf, proof[:-1], root),  # truncated
        (5, 13, leaf, [*proof, proof[0]], root),  # padded
    ]
    for args in forgeries:
        with pytest.raises(ProofError):
            verify_inclusion(*args)


def test_a_hasher_refuses_what_it_cannot_know() -> None:
    hasher = RangeHasher(4, cuts=[2])
    hasher.add(naive_leaf(b"a"))
    with pytest.raises(ProofError):
        hasher.mth(0, 4)
    for d in (b"b", b"c", b"d"):
        hasher.add(naive_leaf(d))
    with pytest.raises(ProofError):
        hasher.add(naive_leaf(b"e"))
    with pytest.raises(ProofError):
        inclusion_proof(4, 4, hasher.mth)
    with pytest.raises(ProofError):
        consistency_proof(0, 4, hasher.mth)
