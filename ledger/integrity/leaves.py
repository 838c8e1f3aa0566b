"""One stored event as one Merkle leaf: the canonical, unambiguous leaf encoding. Pure.

leaf data = b"CLL1" || u64 position || u32 len || originator id (UTF-8) || u64 version
            || u32 len || topic (UTF-8) || u32 len || state

Integers are unsigned big-endian; every variable field is length-prefixed, so no two different
events share an encoding. ``state`` is the bytes exactly as the library stored them (JSON, or
compressed/encrypted if the application is configured to do so).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from uuid import UUID

from ledger.integrity.merkle import leaf_hash

MAGIC = b"CLL1"
ENCODING = (
    "CLL1: u64 position | u32-len originator id | u64 version | u32-len topic | u32-len state"
)


def canonical_originator_id(value: object) -> str:
    """UUIDs in their 36-character form (SQLite stores 32 hex digits, PostgreSQL a uuid)."""
    if isinstance(value, UUID):
        return str(value)
    text = str(value)
    try:
        return str(UUID(text))
    except ValueError:
        return text


@dataclass(frozen=True)
class Leaf:
    position: int  # the notification id: the event's log position
    originator_id: str
    originator_version: int
    topic: str
    state: bytes

    def data(self) -> bytes:
        oid, topic = self.originator_id.encode(), self.topic.encode()
        return b"".join(
            (
                MAGIC,
                struct.pack(">QI", self.position, len(oid)),
                oid,
                struct.pack(">QI", self.originator_version, len(topic)),
                topic,
                struct.pack(">I", len(self.state)),
                self.state,
            )
        )

    def hash(self) -> bytes:
        return leaf_hash(self.data())
