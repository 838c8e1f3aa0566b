"""What a command read, checked where it commits.

With the library's defaults every ``repository.get`` in a command first asks the database whether
the cached aggregate moved on (fast-forward): a round trip per aggregate, and still no guarantee,
since another writer can commit between that read and our commit. Instead, when the recorder can
check reads (the group-commit recorder), a command's first attempt takes its aggregates straight
from the cache and hands the recorder the version of each one it read. The recorder checks, under
the table lock and in the same round trip as the insert, that none of them moved; if one did, the
command fails with the library's IntegrityError, and the application's retry loads afresh (with
fast-forward). So commands now decide on state that is still current when they commit, for every
aggregate they read, not only the ones they write.

A first attempt that commits nothing has nothing checked: one that refuses, or finds there is
nothing to do, decides again with fast-forward before it answers (``LedgerApplication._run``),
if it took any copy from the cache. Another process (a second worker) may have moved the cached
copies on, and a refusal or an "already so" decided on them is not the store's answer; one
decided only on what it loaded from the store (a 404 is one) is.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import Mapper


class Versions(dict[UUID, int]):
    """The version of each aggregate one attempt of a command read. ``from_cache``: one or more
    of them was the cache's copy, taken without asking the store; only a decision on those can
    be stale without the recorder saying so."""

    from_cache = False


class _Reads(threading.local):
    # None outside a command whose recorder checks reads: plain repository behaviour.
    versions: Versions | None = None
    # True once a command is retried: load through fast-forward, the cache may be stale.
    refresh: bool = False


_reads = _Reads()


@contextmanager
def tracking(enabled: bool, attempt: int) -> Iterator[Versions | None]:
    """Within one attempt of one command: collects the versions it reads (None if disabled)."""
    outer = (_reads.versions, _reads.refresh)
    _reads.versions = Versions() if enabled else None
    _reads.refresh = attempt > 0
    try:
        yield _reads.versions
    finally:
        _reads.versions, _reads.refresh = outer


def get(repository: Repository[Any], aggregate_id: UUID) -> Any:
    """The aggregate for a command: from the cache without a round trip where that is safe."""
    versions = _reads.versions
    if versions is None:
        return repository.get(aggregate_id)
    try:
        if _reads.refresh or repository.cache is None:
            agg = repository.get(aggregate_id)
        else:
            try:
                agg = _copy_cached(repository, aggregate_id)
                versions.from_cache = True
            except KeyError:
                agg = repository.get(aggregate_id)
    except AggregateNotFoundError:
        versions.setdefault(aggregate_id, 0)  # absence is read too: nobody may create it meanwhile
        raise
    versions.setdefault(aggregate_id, agg.version)
    return agg


def _copy_cached(
    repository: Repository[Any], aggregate_id: UUID, version: int | None = None
) -> Any:
    """A copy of the cached aggregate (KeyError if it is not cached; None if ``version`` is given
    and the cache holds another).

    Under the lock the repository takes to fast-forward a cached aggregate in place (for reads
    outside commands), so the copy is never of a half-applied event. (The library's own get
    copies after releasing it.)"""
    lock = repository._use_fastforward_lock(aggregate_id)
    try:
        with lock:
            cached = repository.cache.get(aggregate_id)  # type: ignore[union-attr]
            if version is not None and cached.version != version:
                return None
            return copy.deepcopy(cached)
    finally:
        repository._disuse_fastforward_lock(aggregate_id)


def cached_at(repository: Repository[Any], aggregate_id: UUID, version: int | None) -> Any:
    """A copy of the cached aggregate if the cache holds it at exactly ``version``, else None."""
    if repository.cache is None or version is None:
        return None
    try:
        return _copy_cached(repository, aggregate_id, version)
    except KeyError:
        return None


def recorder_kwargs(versions: dict[UUID, int] | None, saved: Iterable[Any]) -> dict[str, Any]:
    """The keyword the recorder checks: versions of what was read and is not being written.
    An aggregate handed to save with no new events is not written: its read is checked too."""
    if not versions:
        return {}
    written = {a.id for a in saved if a.pending_events}
    return {"read_versions": {k: v for k, v in versions.items() if k not in written}}


def remember(repository: Repository[Any], mapper: Mapper[Any], recordings: Iterable[Any]) -> None:
    """After a commit: bring the cached aggregates up to what was just stored, from the stored
    events themselves (decoded, exactly as a replay would see them, not the command's own
    objects), so the next command's first attempt finds them current without a round trip."""
    cache = repository.cache
    if cache is None:
        return
    by_aggregate: dict[Any, list[Any]] = {}
    for r in recordings:
        by_aggregate.setdefault(r.notification.originator_id, []).append(r)
    for aggregate_id, stored in by_aggregate.items():
        lock = repository._use_fastforward_lock(aggregate_id)
        try:
            with lock:
                try:
                    cached = cache.get(aggregate_id)
                except KeyError:
                    cached = None
                first = stored[0].notification.originator_version
                if (cached.version if cached is not None else 0) != first - 1:
                    continue  # the cache is behind: the next command's check will catch it
                events = [_as_replayed(mapper, r) for r in stored]
                # project_aggregate() less its per-event runtime-Protocol isinstance check.
                for event in events:
                    cached = event.mutate(cached)
                cache.put(aggregate_id, cached)
        finally:
            repository._disuse_fastforward_lock(aggregate_id)


# Types whose stored form decodes to an equal value of the same type (the ledger's transcodings).
_ROUND_TRIPS = (str, int, float, bool, Decimal, UUID, date, type(None))


def _as_replayed(mapper: Mapper[Any], recording: Any) -> Any:
    """The event as a replay would see it: the command's own event object where every value
    survives the round trip unchanged, else decoded from what was stored (lists, dicts)."""
    event = recording.domain_event
    if all(isinstance(v, _ROUND_TRIPS) for v in vars(event).values()):
        return event
    return mapper.to_domain_event(recording.notification)
