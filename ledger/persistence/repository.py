"""The library's repository with a cheaper aggregate cache and cheaper fast-forward locks.

Every command copies the cached aggregates it reads and, after its commit, brings the cached
ones it wrote forward (``ledger/persistence/reads.py``): three cache visits per log-hours
command, each under the aggregate's fast-forward lock. The library hands those locks out through
a shared lock, a count of users per aggregate and an LRU cache of idle locks, and its aggregate
cache is a linked list kept in Python under a lock of its own: together about a tenth of a
one-event command's CPU in bench 1's profile.

Here the fast-forward locks are a fixed set, an aggregate's chosen by the hash of its id. Two
aggregates may share one; that only makes one wait for the other's fast-forward, and nothing
holds two of them at once (the library's ``get`` and ours take one, do no other locking inside,
and let go), so sharing cannot deadlock. The cache is the same least-recently-used policy on an
``OrderedDict``, whose reordering is done in C.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from eventsourcing.application import Cache, Repository

# Enough that a server's concurrent requests (a few dozen threads) rarely share one.
FASTFORWARD_LOCKS = 1024


class RecentCache(Cache[Any, Any]):
    """At most ``maxsize`` aggregates, the least recently used evicted first, with the library's
    LRUCache semantics: ``get`` with ``evict`` removes, and ``put`` answers what it evicted."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize
        self.cache: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any, *, evict: bool = False) -> Any:
        with self.lock:
            if evict:
                return self.cache.pop(key)
            value = self.cache[key]
            self.cache.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> tuple[Any, Any]:
        with self.lock:
            if key in self.cache:
                self.cache[key] = value
                self.cache.move_to_end(key)
                return None, None
            self.cache[key] = value
            if len(self.cache) > self.maxsize:
                return self.cache.popitem(last=False)
            return None, None


class LedgerRepository(Repository[Any]):
    @classmethod
    def like(cls, library: Repository[Any]) -> LedgerRepository:
        """This repository with the settings the library's ``construct_repository`` read from
        the application's environment."""
        repo = cls(
            event_store=library.event_store,
            snapshot_store=library.snapshot_store,
            fastforward=library.fastforward,
            fastforward_skipping=library.fastforward_skipping,
            deepcopy_from_cache=library.deepcopy_from_cache,
        )
        maxsize = getattr(library.cache, "maxsize", None)
        repo.cache = RecentCache(maxsize) if maxsize else library.cache
        return repo

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._locks = tuple(threading.Lock() for _ in range(FASTFORWARD_LOCKS))

    def _use_fastforward_lock(self, aggregate_id: Any) -> threading.Lock:
        return self._locks[hash(aggregate_id) % FASTFORWARD_LOCKS]

    def _disuse_fastforward_lock(self, aggregate_id: Any) -> None:
        pass
