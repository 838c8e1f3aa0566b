"""People who use the ledger, and the bearer tokens they present (stored as SHA-256 only)."""

from __future__ import annotations

import hashlib
from uuid import UUID

from ledger.domain.base import CommandContext, LedgerAggregate, Role, derived_id
from ledger.errors import InvalidCommand, StateConflict


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id_for(token: str) -> UUID:
    """Tokens are looked up by the id derived from their digest: no table of secrets to scan."""
    return derived_id("token", token_digest(token))


class User(LedgerAggregate):
    TOPIC = "competency-ledger/User"

    class Registered(LedgerAggregate.Created):
        TOPIC = "competency-ledger/User.Registered"
        role: str
        name: str
        # For a student user: the student record they are. Guardians, mentors and advisors are
        # linked from the student and experience records instead.
        student_id: UUID | None
        external_id: str | None

        def apply(self, u: User) -> None:
            u.role = Role(self.role)
            u.name = self.name
            u.student_id = self.student_id
            u.external_id = self.external_id
            u.active = True

    class Created(LedgerAggregate.Created):
        """Unused: pins the topic of the base class's creation event."""

        TOPIC = "competency-ledger/User.Created"

    class Deactivated(LedgerAggregate.Event):
        TOPIC = "competency-ledger/User.Deactivated"
        reason: str

        def apply(self, u: User) -> None:
            u.active = False

    @classmethod
    def register(
        cls,
        ctx: CommandContext,
        *,
        user_id: UUID,
        role: Role,
        name: str,
        student_id: UUID | None = None,
        external_id: str | None = None,
    ) -> User:
        if role is Role.SYSTEM:
            raise InvalidCommand("the system role is not given to users")
        if not name.strip():
            raise InvalidCommand("a user needs a name")
        if (role is Role.STUDENT) != (student_id is not None):
            raise InvalidCommand("a student user names their student record, and only they do")
        return cls._start(
            cls.Registered,
            ctx,
            id=user_id,
            role=str(role),
            name=name,
            student_id=student_id,
            external_id=external_id,
        )

    def deactivate(self, ctx: CommandContext, reason: str) -> None:
        if not self.active:
            raise StateConflict("user is already deactivated")
        self._emit(self.Deactivated, ctx, reason=reason)


class ApiToken(LedgerAggregate):
    TOPIC = "competency-ledger/ApiToken"

    class Issued(LedgerAggregate.Created):
        TOPIC = "competency-ledger/ApiToken.Issued"
        user_id: UUID
        digest: str

        def apply(self, t: ApiToken) -> None:
            t.user_id = self.user_id
            t.revoked = False

    class Created(LedgerAggregate.Created):
        """Unused: pins the topic of the base class's creation event."""

        TOPIC = "competency-ledger/ApiToken.Created"

    class Revoked(LedgerAggregate.Event):
        TOPIC = "competency-ledger/ApiToken.Revoked"
        reason: str

        def apply(self, t: ApiToken) -> None:
            t.revoked = True

    @classmethod
    def issue(cls, ctx: CommandContext, *, token: str, user_id: UUID) -> ApiToken:
        return cls._start(
            cls.Issued, ctx, id=token_id_for(token), user_id=user_id, digest=token_digest(token)
        )

    def revoke(self, ctx: CommandContext, reason: str) -> None:
        if self.revoked:
            raise StateConflict("token is already revoked")
        self._emit(self.Revoked, ctx, reason=reason)


class IdempotencyRecord(LedgerAggregate):
    """The first outcome of a command sent with an Idempotency-Key, saved atomically with the
    command's own events: a replay finds it and writes nothing."""

    TOPIC = "competency-ledger/IdempotencyRecord"

    class Recorded(LedgerAggregate.Created):
        TOPIC = "competency-ledger/IdempotencyRecord.Recorded"
        command: str
        fingerprint: str
        result: dict

        def apply(self, r: IdempotencyRecord) -> None:
            r.command = self.command
            r.fingerprint = self.fingerprint
            r.result = self.result

    class Created(LedgerAggregate.Created):
        """Unused: pins the topic of the base class's creation event."""

        TOPIC = "competency-ledger/IdempotencyRecord.Created"


def idempotency_id(actor_id: str, key: str) -> UUID:
    return derived_id("idempotency", actor_id, key)
