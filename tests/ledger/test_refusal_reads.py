"""A refusal, or a command with nothing to do, decided on state just loaded from the store is the
store's answer: it is given at once, on PostgreSQL as on SQLite. Only one decided on cached
copies nobody checked is decided again (tests/ledger/test_stale_cache_refusals.py). Before, on
PostgreSQL every refusal and every no-op was decided twice: a 404 read the store twice (five
times with an Idempotency-Key, against three on SQLite), and a no-op assign in a process that
had not cached the student read it and the advisor twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest

from ledger.application import LedgerApplication
from ledger.domain import Role
from ledger.errors import NotFound
from tests.builders import School


class StoreReads:
    """How many times a ledger asked its events table for a stream: the real recorder's answers,
    counted on the way through."""

    def __init__(self, app: LedgerApplication, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        select = app.recorder.select_events

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return select(*args, **kwargs)

        monkeypatch.setattr(app.recorder, "select_events", counted)

    def during(self, act: Any) -> int:
        before = self.count
        act()
        return self.count - before


@pytest.fixture
def fresh(store_url: str) -> Iterator[tuple[LedgerApplication, School]]:
    """A school built by one process and a second process on its store that caches nothing."""
    builder = LedgerApplication(database_url=store_url)
    here = LedgerApplication(database_url=store_url)
    try:
        yield here, School.build(builder)
    finally:
        here.close()
        builder.close()


def test_a_404_reads_the_store_once(
    fresh: tuple[LedgerApplication, School], monkeypatch: pytest.MonkeyPatch
) -> None:
    here, school = fresh
    reads = StoreReads(here, monkeypatch)
    position = here.position()

    def withdraw(key: str | None) -> None:
        with pytest.raises(NotFound):
            here.withdraw_student(school.registrar, uuid4(), "moved", idempotency_key=key)

    assert reads.during(lambda: withdraw(None)) == 1
    # With a key: is there a first outcome, the load, and (the refusal may be a concurrent
    # request's with the same key) is there one now.
    assert reads.during(lambda: withdraw("k-404")) == 3
    assert here.position() == position


def test_a_refusal_before_anything_is_read_reads_nothing(
    fresh: tuple[LedgerApplication, School], monkeypatch: pytest.MonkeyPatch
) -> None:
    here, school = fresh
    reads = StoreReads(here, monkeypatch)

    def revoke() -> None:
        with pytest.raises(NotFound):
            here.revoke_token(school.admin, "x" * 201, "leaked")

    assert reads.during(revoke) == 0


def test_a_no_op_on_state_loaded_from_the_store_is_decided_once(
    fresh: tuple[LedgerApplication, School], monkeypatch: pytest.MonkeyPatch
) -> None:
    here, school = fresh
    sid, _login = school.enroll("R1")  # by the other process: nothing of it cached here
    reads = StoreReads(here, monkeypatch)
    position = here.position()

    result: list[Any] = []
    n = reads.during(
        lambda: result.append(here.assign_advisor(school.admin, sid, UUID(school.advisor.user_id)))
    )

    assert n == 2  # the student and the advisor, once each
    assert result[0].event_count == 0
    assert here.position() == position
    # Now both are cached here: a no-op decided on them is checked against the store again.
    extra = school.person(Role.ADVISOR, "Second advisor")
    school.app.assign_advisor(school.admin, sid, UUID(extra.user_id))
    assert here.assign_advisor(school.admin, sid, UUID(extra.user_id)).event_count == 0
    assert extra.user_id in {str(a) for a in here.student(sid).advisors}
