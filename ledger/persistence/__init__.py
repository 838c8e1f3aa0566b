"""Persistence the library does not give us: a PostgreSQL recorder that commits in groups."""

from ledger.persistence.group_commit import GroupCommitRecorder

__all__ = ["GroupCommitRecorder"]
