"""The ledger's repository: the library's least-recently-used cache policy, and fast-forward
locks that may be shared between aggregates without changing what anyone reads."""

from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from eventsourcing.application import LRUCache

from ledger.application import LedgerApplication
from ledger.persistence import repository
from ledger.persistence.repository import FASTFORWARD_LOCKS, LedgerRepository, RecentCache
from tests.builders import School


def test_the_cache_keeps_what_the_librarys_lru_keeps() -> None:
    """The same operations on both caches leave the same keys and answers, evictions included."""
    ours, theirs = RecentCache(maxsize=3), LRUCache(maxsize=3)
    ops = [("put", k) for k in "abcd"] + [("get", "b"), ("put", "e"), ("put", "b")]
    ops += [("get", "a"), ("evict", "c"), ("put", "f"), ("put", "g"), ("get", "e")]
    for op, key in ops:
        answers = []
        for cache in (ours, theirs):
            try:
                if op == "put":
                    cache.put(key, key.upper())
                    answers.append(None)
                else:
                    answers.append(cache.get(key, evict=op == "evict"))
            except KeyError:
                answers.append(KeyError)
        assert answers[0] == answers[1], (op, key)
    assert set(ours.cache) == set(theirs.cache)


def test_the_cache_evicts_the_least_recently_used_first() -> None:
    cache = RecentCache(maxsize=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the oldest
    assert cache.put("c", 3) == ("b", 2)
    with pytest.raises(KeyError):
        cache.get("b")
    assert (cache.get("a"), cache.get("c")) == (1, 3)


def test_an_empty_cache_is_still_used() -> None:
    """The library asks ``if self.cache`` before using it: an empty cache must not look absent."""
    assert RecentCache(maxsize=5)


def test_the_application_uses_it_with_its_configured_size(store_url: str) -> None:
    app = LedgerApplication(database_url=store_url)
    try:
        repo = app.repository
        assert isinstance(repo, LedgerRepository)
        assert isinstance(repo.cache, RecentCache)
        assert repo.cache.maxsize == int(LedgerApplication.env["AGGREGATE_CACHE_MAXSIZE"])
        assert repo.fastforward
    finally:
        app.close()


def test_an_aggregate_always_gets_the_same_lock(sqlite_url: str) -> None:
    app = LedgerApplication(database_url=sqlite_url)
    try:
        repo = app.repository
        ident = uuid.uuid4()
        lock = repo._use_fastforward_lock(ident)
        assert lock is repo._use_fastforward_lock(uuid.UUID(str(ident)))
    finally:
        app.close()


@pytest.mark.parametrize("locks", [FASTFORWARD_LOCKS, 1], ids=["striped", "one-lock-for-all"])
def test_commands_and_reads_from_many_threads_agree_with_a_replay(
    store_url: str, locks: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Students log hours from threads while other threads read the same experiences through
    the fast-forwarding repository (as the API's reads do). Every command lands, and the cache
    ends giving exactly what a fresh application replays from the store. With one lock shared
    by every aggregate, a code path that held one aggregate's lock while taking another's would
    hang here instead of finishing."""
    monkeypatch.setattr(repository, "FASTFORWARD_LOCKS", locks)
    here = LedgerApplication(database_url=store_url)
    there = LedgerApplication(database_url=store_url)
    try:
        school = School.build(here)
        cast = [school.enroll(f"T{n}") for n in range(4)]
        experiences = [(login, school.experience(sid)) for sid, login in cast]
        per_student, errors = 25, []
        stop = threading.Event()

        def log(login, xid) -> None:  # type: ignore[no-untyped-def]
            try:
                for n in range(per_student):
                    here.log_hours(
                        login,
                        xid,
                        worked_on=date(2025, 9, 1) + timedelta(days=n % 28),
                        hours=Decimal("1.5"),
                        activity="shift",
                    )
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        def read() -> None:
            while not stop.is_set():
                for _login, xid in experiences:
                    here.repository.get(xid)

        writers = [threading.Thread(target=log, args=x) for x in experiences]
        readers = [threading.Thread(target=read) for _ in range(2)]
        for t in readers + writers:
            t.start()
        for t in writers:
            t.join(timeout=300)
        stop.set()
        for t in readers:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in writers + readers), "threads stuck on the locks"
        assert len(here.repository._locks) == locks
        assert errors == []
        for _login, xid in experiences:
            # Through get: on SQLite the cache is brought forward when read (the library's
            # fast-forward), on PostgreSQL after each commit; either way a read gives the replay.
            cached = vars(here.repository.get(xid))
            replayed = vars(there.repository.get(xid))
            assert cached == replayed
            assert len(replayed["entries"]) == per_student
    finally:
        here.close()
        there.close()
