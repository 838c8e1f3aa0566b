"""The fact that an export was made: who, when, as of what, under which profile, and the digest
of the bytes handed out, so a past state submission or transcript can be reproduced and checked."""

from __future__ import annotations

import re
from datetime import datetime
from uuid import UUID

from ledger.domain.base import CommandContext, LedgerAggregate
from ledger.errors import InvalidCommand

EXPORT_KINDS = ("grade-history", "clr", "transcript-pdf")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class Export(LedgerAggregate):
    TOPIC = "competency-ledger/Export"

    class Recorded(LedgerAggregate.Created):
        TOPIC = "competency-ledger/Export.Recorded"
        kind: str
        profile: str
        profile_version: str
        # The recorded-time instant the export was read as of (None: as the ledger stood when it
        # was made) and the log position the read reached.
        as_of: datetime | None
        position: int
        # Set for a one-student export (CLR, transcript): the audit of that student shows it.
        student_id: UUID | None
        parameters: dict
        file_name: str
        row_count: int
        sha256: str

        def apply(self, e: Export) -> None:
            e.kind = self.kind
            e.profile = self.profile
            e.profile_version = self.profile_version
            e.as_of = self.as_of
            e.position = self.position
            e.student_id = self.student_id
            e.parameters = dict(self.parameters)
            e.file_name = self.file_name
            e.row_count = self.row_count
            e.sha256 = self.sha256

    class Created(LedgerAggregate.Created):
        """Unused: pins the topic of the base class's creation event."""

        TOPIC = "competency-ledger/Export.Created"

    @classmethod
    def record(
        cls,
        ctx: CommandContext,
        *,
        export_id: UUID,
        kind: str,
        profile: str,
        profile_version: str,
        as_of: datetime | None,
        position: int,
        student_id: UUID | None,
        parameters: dict,
        file_name: str,
        row_count: int,
        sha256: str,
    ) -> Export:
        if kind not in EXPORT_KINDS:
            raise InvalidCommand(f"export kind must be one of {list(EXPORT_KINDS)}")
        if not (profile.strip() and profile_version.strip() and file_name.strip()):
            raise InvalidCommand("an export names its profile, profile version and file name")
        if as_of is not None and as_of.tzinfo is None:
            raise InvalidCommand("as_of must be timezone-aware")
        if row_count < 0 or position < 0:
            raise InvalidCommand("row count and position are not negative")
        if not SHA256_HEX.match(sha256):
            raise InvalidCommand("sha256 must be 64 lower-case hex digits")
        return cls._start(
            cls.Recorded,
            ctx,
            id=export_id,
            kind=kind,
            profile=profile,
            profile_version=profile_version,
            as_of=as_of,
            position=position,
            student_id=student_id,
            parameters=parameters,
            file_name=file_name,
            row_count=row_count,
            sha256=sha256,
        )


ExportRecorded = Export.Recorded
