"""Checkpoint and verify stream the log: their peak memory does not grow with its length.

The default run uses 20,000 synthetic stored events (rows written straight into the events
table: the leaves are the stored bytes, whatever the domain). The 1M-event run is marked
``reliability``.
"""

from __future__ import annotations

import tracemalloc

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import LedgerApplication
from ledger.integrity.checkpoints import checkpoint
from ledger.integrity.merkle import Frontier, RangeHasher, leaf_hash
from ledger.integrity.verify import verify_ledger
from tests.integrity.conftest import Tamper


def peak_of(fn) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_from_2k_to_20k_events(
    app: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    tamper.synthesize(2_000)
    (cp, _), small_cp = peak_of(lambda: checkpoint(app, key=key))
    report, small_verify = peak_of(lambda: verify_ledger(app, public_key=key.public_key()))
    assert cp.tree_size == 2_000 and report.ok

    tamper.synthesize(18_000, start=2_000)
    (cp, _), big_cp = peak_of(lambda: checkpoint(app, key=key))
    report, big_verify = peak_of(lambda: verify_ledger(app, public_key=key.public_key()))
    assert cp.tree_size == 20_000 and report.ok and report.verified == 20_000
    # Ten times the events (and nine times the new leaves for the checkpoint): the peak may not
    # follow. The payloads alone are ~6 MB; a page of rows is ~0.7 MB.
    assert big_cp < 2 * small_cp + 1_000_000, (small_cp, big_cp)
    assert big_verify < 2 * small_verify + 1_000_000, (small_verify, big_verify)
    assert big_verify < 4_000_000

    victim = tamper.positions()[17_345]
    tamper.flip_byte(victim)
    problem = verify_ledger(app, public_key=key.public_key()).problem
    assert (problem.position, problem.leaf_index, problem.exact) == (victim, 17_345, True)


def test_the_range_hasher_keeps_only_its_pieces() -> None:
    n = 1 << 16
    hasher = RangeHasher(n + 123, cuts=[1000, 1001, 40_000])
    frontier = Frontier()
    for i in range(n + 123):
        h = leaf_hash(i.to_bytes(4, "big"))
        hasher.add(h)
        frontier.append(h)
    assert len(hasher.known) < 80  # about log2(n) per cut, not n
    assert len(frontier.hashes) == bin(n + 123).count("1")
    assert hasher.mth(0, n + 123) == frontier.root()


@pytest.mark.reliability
def test_a_million_events_verify_in_flat_memory(
    sqlite_url: str, key: Ed25519PrivateKey, clock
) -> None:
    app = LedgerApplication(database_url=sqlite_url, clock=clock)
    try:
        tamper = Tamper(app)
        tamper.synthesize(1_000_000)
        (cp, _), cp_peak = peak_of(lambda: checkpoint(app, key=key))
        report, verify_peak = peak_of(lambda: verify_ledger(app, public_key=key.public_key()))
        assert cp.tree_size == 1_000_000 and report.ok
        assert cp_peak < 8_000_000 and verify_peak < 8_000_000, (cp_peak, verify_peak)
    finally:
        app.close()
