"""Read-only aggregates for access checks, kept current by tailing the log instead of asking.

Every authenticated request reads the caller's token and user, and most read the student they
ask about. Through the repository that is one fast-forward round trip per aggregate (is there
anything newer than the cached version?). Here a request asks the log once instead: which
aggregates did events after the position we last looked at touch? Those are dropped from the
cache; everything else is still current, because an aggregate changes only by an event in the
log, and the log shows its events in id order without late gaps (the write path's table lock;
one writer on SQLite). So after ``refresh()`` every aggregate handed out reflects at least every
event committed before the refresh began: what the fast-forwarding repository gave, for one
query per request instead of one per aggregate.

The aggregates handed out are shared between requests: callers only read them (access checks,
ETags). Commands never see them; they load their own copies through the repository.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate

A = TypeVar("A")

CAPACITY = 20_000
# Events read per tail query; after this many pages the cache is dropped instead (a bulk load by
# another process: cheaper to start over than to read a million ids).
TAIL_PAGE = 2_000
TAIL_PAGES = 5


class FreshReads:
    def __init__(self, app: Application, capacity: int = CAPACITY) -> None:
        self.app = app
        self.capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[UUID, Any] = OrderedDict()
        self._through: int | None = None  # the log position the cache reflects (None: unknown)

    def refresh(self) -> None:
        """Forget every aggregate an event after the last refresh touched (one query when
        nothing happened). Call it once at the start of each request.

        The query runs outside the lock: it is a round trip to the database, and every request
        of the process would queue behind it for ``get``. Concurrent refreshes each read from
        where the cache stood when they began and apply what they found; the position only
        moves forward."""
        with self._lock:
            start = self._through
        if start is None:
            newest = self.app.recorder.max_notification_id() or 0
            with self._lock:
                if self._through is None:
                    self._items.clear()
                    self._through = newest
            return
        touched: list[UUID] = []
        through = start
        for _ in range(TAIL_PAGES):
            notes = self.app.recorder.select_notifications(
                through, TAIL_PAGE, inclusive_of_start=False
            )
            touched += [n.originator_id for n in notes]
            if notes:
                through = notes[-1].id
            if len(notes) < TAIL_PAGE:
                with self._lock:
                    for aggregate_id in touched:
                        self._items.pop(aggregate_id, None)
                    if self._through is not None and through > self._through:
                        self._through = through
                return
        with self._lock:  # far behind: start over at the next refresh
            self._through = None
            self._items.clear()

    def get(self, cls: type[A], aggregate_id: UUID | str) -> A:
        """The aggregate (shared: do not change it); AggregateNotFoundError if there is none
        or it is of another class; ValueError for an id that is not a UUID."""
        if not isinstance(aggregate_id, UUID):
            aggregate_id = UUID(str(aggregate_id))
        with self._lock:
            agg = self._items.get(aggregate_id)
            if agg is not None:
                self._items.move_to_end(aggregate_id)
            through = self._through
        if agg is None:
            agg = self._load(aggregate_id)
            with self._lock:
                # Cached only if no refresh moved on while we loaded: an event it dropped may be
                # newer than what we loaded, and nothing would drop our copy again.
                if through is not None and through == self._through:
                    self._items[aggregate_id] = agg
                    while len(self._items) > self.capacity:
                        self._items.popitem(last=False)
        if not isinstance(agg, cls):
            raise AggregateNotFoundError(aggregate_id)
        return agg

    def _load(self, aggregate_id: UUID) -> Any:
        """The aggregate folded from its events, in one query. The repository asks the snapshot
        store first (a second round trip) and copies into the commands' cache; the tokens, users
        and students read here have a few events each, so replaying them all is cheaper, and the
        fold is the same (tests/ledger/test_snapshots.py)."""
        agg = project_aggregate(None, self.app.events.get(originator_id=aggregate_id))
        if agg is None:
            raise AggregateNotFoundError(aggregate_id)
        return agg
