"""Checkpoints and `verify` on both stores: untouched logs verify; a flipped byte, a deleted row
and swapped payloads are each named at their first affected log position."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import LedgerApplication
from ledger.integrity.checkpoints import (
    CheckpointRefused,
    checkpoint,
    latest_checkpoint,
    maybe_checkpoint,
)
from ledger.integrity.keys import SigningKeyUnavailable
from ledger.integrity.verify import verify_ledger
from tests.builders import School
from tests.integrity.conftest import Tamper


def grow(school: School, students: int, tag: str) -> None:
    for n in range(students):
        school.enroll(f"{tag}{n}")


@pytest.fixture
def logged(app: LedgerApplication, key: Ed25519PrivateKey) -> LedgerApplication:
    """Three checkpoints over a small school, then a few events no checkpoint covers yet."""
    school = School.build(app)
    checkpoint(app, key=key)
    grow(school, 2, "a")
    checkpoint(app, key=key)
    grow(school, 2, "b")
    checkpoint(app, key=key)
    grow(school, 1, "c")
    return app


def verify(app: LedgerApplication, key: Ed25519PrivateKey):
    return verify_ledger(app, public_key=key.public_key())


def test_an_untouched_log_verifies_up_to_its_last_checkpoint(
    logged: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    report = verify(logged, key)
    total = len(tamper.positions())
    assert report.ok, report.message
    assert report.checkpoints == 3 and report.consistency_proofs == 2
    assert report.verified == 29 and report.uncovered == total - 29 == 5
    assert (
        report.message
        == "verified 29 events up to checkpoint 3; 5 later events not yet checkpointed"
    )
    assert report.checkpoint["tree_size"] == 29 and report.problem is None


def test_a_checkpoint_without_new_events_is_the_latest_one(
    logged: LedgerApplication, key: Ed25519PrivateKey
) -> None:
    cp, made = checkpoint(logged, key=key)
    assert made and cp.seq == 4 and cp.tree_size == 34
    again, made = checkpoint(logged, key=key)
    assert not made and again == cp
    assert latest_checkpoint(logged, public_key=key.public_key()) == cp
    assert verify(logged, key).message == "verified 34 events up to checkpoint 4"


def test_a_flipped_byte_is_named_at_its_position(
    logged: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    positions = tamper.positions()
    victim = positions[15]  # inside the second checkpoint's span (leaves 9..18)
    tamper.flip_byte(victim)
    report = verify(logged, key)
    assert not report.ok
    p = report.problem
    assert (p.kind, p.position, p.leaf_index, p.exact, p.checkpoint) == (
        "altered",
        victim,
        15,
        True,
        2,
    )
    assert f"log position {victim}" in report.message
    assert report.verified == 9  # checkpoint 1 still holds


def test_a_deleted_row_is_named_at_its_position(
    logged: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    positions = tamper.positions()
    victim = positions[20]
    tamper.delete(victim)
    p = verify(logged, key).problem
    assert (p.kind, p.position, p.leaf_index, p.exact, p.checkpoint) == (
        "missing",
        victim,
        20,
        True,
        3,
    )


def test_deleting_the_last_checkpointed_rows_is_named(
    app: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    grow(School.build(app), 1, "z")
    checkpoint(app, key=key)
    positions = tamper.positions()
    for victim in positions[-2:]:
        tamper.delete(victim)
    p = verify(app, key).problem
    assert (p.kind, p.position, p.leaf_index, p.exact) == (
        "missing",
        positions[-2],
        len(positions) - 2,
        True,
    )


def test_swapped_payloads_are_named_at_the_first(
    logged: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    positions = tamper.positions()
    tamper.swap_states(positions[4], positions[12])
    p = verify(logged, key).problem
    assert (p.kind, p.position, p.leaf_index, p.exact, p.checkpoint) == (
        "altered",
        positions[4],
        4,
        True,
        1,
    )
    assert verify(logged, key).verified == 0


def test_an_inserted_row_is_named(
    logged: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    positions = tamper.positions()
    # Reuse the id of a deleted row: the attacker puts a different event in its place.
    victim = positions[7]
    row = tamper.run(
        "SELECT originator_id, originator_version, topic, state FROM {events} WHERE {id} = ?",
        (victim,),
    )[0]
    tamper.delete(victim)
    tamper.run(
        "INSERT INTO {events} (originator_id, originator_version, topic, state, {id})"
        " VALUES (?, ?, ?, ?, ?)",
        (row[0], row[1] + 1000, row[2], row[3], victim),
    )
    p = verify(logged, key).problem
    assert (p.kind, p.position, p.leaf_index, p.exact) == ("altered", victim, 7, True)


def test_when_the_leaf_index_is_tampered_too_the_span_is_named(
    logged: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    positions = tamper.positions()
    victim = positions[12]
    tamper.flip_byte(victim)
    tamper.run("DELETE FROM {p}integrity_leaves WHERE leaf_index = 3")
    report = verify(logged, key)
    p = report.problem
    assert (p.kind, p.exact, p.checkpoint, p.leaf_range) == ("changed", False, 2, (9, 19))
    assert p.position_range == (positions[9], positions[18])
    assert positions[9] <= victim <= positions[18]


def test_an_altered_checkpoint_fails_its_signature(
    logged: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    for seq, verified in ((3, 19), (2, 9)):
        body = tamper.run("SELECT body FROM {p}integrity_checkpoints WHERE seq = ?", (seq,))[0][0]
        lines = body.split("\n")
        lines[1] = str(int(lines[1]) + 1)
        tamper.run(
            "UPDATE {p}integrity_checkpoints SET body = ? WHERE seq = ?", ("\n".join(lines), seq)
        )
        report = verify(logged, key)
        assert (report.problem.kind, report.problem.checkpoint) == ("checkpoint", seq)
        assert "bad signature" in report.message and report.verified == verified
        # The latest checkpoint is what the next one builds on: refuse to sign on top of it.
        with pytest.raises(CheckpointRefused):
            checkpoint(logged, key=key)


def test_a_removed_checkpoint_is_noticed(
    logged: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    tamper.run("DELETE FROM {p}integrity_checkpoints WHERE seq = 2")
    report = verify(logged, key)
    assert (report.problem.kind, report.problem.checkpoint) == ("checkpoint", 2)
    assert report.message == "checkpoint 2 is missing"


def test_a_forged_consistency_proof_is_noticed(
    logged: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    tamper.run("UPDATE {p}integrity_checkpoints SET consistency = '[]' WHERE seq = 3")
    report = verify(logged, key)
    assert (report.problem.kind, report.problem.checkpoint) == ("consistency", 3)
    assert report.consistency_proofs == 1


def test_another_key_cannot_vouch_for_the_checkpoints(
    logged: LedgerApplication, key: Ed25519PrivateKey
) -> None:
    report = verify_ledger(logged, public_key=Ed25519PrivateKey.generate().public_key())
    assert not report.ok and report.problem.kind == "checkpoint"
    assert "signed by key" in report.message


def test_gaps_in_notification_ids_are_not_damage(
    app: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    school = School.build(app)
    # A rolled-back transaction leaves a gap (PITFALLS 10): burn ids the way it does.
    if app.store.kind == "postgres":
        seq = tamper.run("SELECT pg_get_serial_sequence(?, 'notification_id')", (tamper.events,))
        tamper.run("SELECT setval(?, nextval(?) + 40)", (seq[0][0], seq[0][0]))
        grow(school, 1, "g")
    else:
        # SQLite reuses max(rowid) + 1, so its ids only gap where rows went missing before any
        # checkpoint covered them: a gap all the same.
        grow(school, 8, "g")
        for p in tamper.positions()[10:45]:
            tamper.delete(p)
    positions = tamper.positions()
    assert positions[-1] - positions[0] >= len(positions) + 30
    cp, _ = checkpoint(app, key=key)
    assert cp.tree_size == len(positions) and cp.last_position == positions[-1]
    assert verify(app, key).ok


def test_an_empty_log_and_a_log_without_checkpoints(
    app: LedgerApplication, key: Ed25519PrivateKey
) -> None:
    assert checkpoint(app, key=key) == (None, False)
    assert verify(app, key).message == "no checkpoint yet: 0 events not covered"
    School.build(app)
    report = verify(app, key)
    assert report.ok and report.message == "no checkpoint yet: 9 events not covered"
    assert latest_checkpoint(app, public_key=key.public_key()) is None


def test_maybe_checkpoint_waits_for_the_interval(
    app: LedgerApplication, key: Ed25519PrivateKey
) -> None:
    school = School.build(app)  # 9 events
    assert maybe_checkpoint(app, interval=10, key=key) is None
    grow(school, 1, "m")  # 14
    cp = maybe_checkpoint(app, interval=10, key=key)
    assert cp is not None and cp.tree_size == 14
    assert maybe_checkpoint(app, interval=10, key=key) is None


def test_the_configured_key_signs_and_a_missing_one_is_reported(
    app: LedgerApplication, key_path, tamper: Tamper
) -> None:
    School.build(app)
    assert maybe_checkpoint(app, interval=1) is None  # no key yet: logged, not raised
    with pytest.raises(SigningKeyUnavailable):
        checkpoint(app)
    from ledger.integrity.keys import ensure_key

    made = ensure_key(key_path)
    stamp = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    cp, _ = checkpoint(app, now=lambda: stamp)
    assert cp.time == "2026-01-05T09:30:00Z" and cp.origin == "competency-ledger/17001/1234"
    assert ensure_key(key_path).public_key().public_bytes_raw() == (
        made.public_key().public_bytes_raw()
    )
    assert verify_ledger(app).ok


def test_every_position_of_a_small_log_is_named_when_damaged(
    logged: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    """Flip, delete (and put back), and swap with its neighbour: at every checkpointed leaf."""
    positions = tamper.positions()[:29]  # the 29 leaves the three checkpoints cover
    for leaf, victim in enumerate(positions):
        original = tamper.state(victim)
        tamper.flip_byte(victim, offset=len(original) - 2)
        p = verify(logged, key).problem
        assert (p.kind, p.position, p.leaf_index, p.exact) == ("altered", victim, leaf, True)
        tamper.set_state(victim, original)

        row = tamper.run(
            "SELECT originator_id, originator_version, topic, state FROM {events} WHERE {id} = ?",
            (victim,),
        )[0]
        tamper.delete(victim)
        p = verify(logged, key).problem
        assert (p.kind, p.position, p.leaf_index, p.exact) == ("missing", victim, leaf, True)
        tamper.run(
            "INSERT INTO {events} (originator_id, originator_version, topic, state, {id})"
            " VALUES (?, ?, ?, ?, ?)",
            (*row, victim),
        )
        if leaf + 1 < len(positions):
            tamper.swap_states(victim, positions[leaf + 1])
            p = verify(logged, key).problem
            assert (p.kind, p.position, p.leaf_index) == ("altered", victim, leaf)
            tamper.swap_states(victim, positions[leaf + 1])
    assert verify(logged, key).ok


def test_a_backlog_is_signed_in_chunks(
    app: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    tamper.synthesize(1_000)
    cp, made = checkpoint(app, key=key, chunk=300)
    assert made and (cp.seq, cp.tree_size) == (4, 1_000)  # 300, 600, 900, 1000
    report = verify(app, key)
    assert report.ok and report.consistency_proofs == 3 and report.verified == 1_000


def test_a_broken_chain_still_checks_the_data_before_the_break(
    logged: LedgerApplication, key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    tamper.run("DELETE FROM {p}integrity_checkpoints WHERE seq = 3")
    tamper.run("INSERT INTO {p}integrity_checkpoints SELECT 4, tree_size, last_position, root_hash,"
               " created_at, key_id, body, signature, frontier, consistency"
               " FROM {p}integrity_checkpoints WHERE seq = 2")  # fmt: skip
    report = verify(logged, key)
    assert (report.problem.kind, report.problem.checkpoint, report.verified) == (
        "checkpoint",
        3,
        19,
    )
    victim = tamper.positions()[2]
    tamper.flip_byte(victim)
    report = verify(logged, key)
    assert (report.problem.kind, report.problem.position, report.verified) == ("altered", victim, 0)
