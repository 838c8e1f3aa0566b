"""Tamper evidence for the event store: RFC 6962 Merkle checkpoints, verification and proofs.

See docs/integrity.md. Import the entry points from their modules: ``checkpoints``
(checkpoint, maybe_checkpoint, latest_checkpoint), ``verify`` (verify_ledger), ``proofs``
(credit_proof) and, offline with no database, ``bundle`` (verify_bundle).
"""
