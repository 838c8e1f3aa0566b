"""A stored event of an older version still loads after a field is added to its class.

The ledger's rule for evolving an event: keep its pinned TOPIC, bump ``class_version`` and add a
static ``upcast_vN_vN+1(state)`` that fills the new field. This test stores version 1 through the
real application and store, then "deploys" version 2 under the same topic and loads.
"""

from __future__ import annotations

from uuid import uuid4

from eventsourcing.utils import _topic_cache

from ledger.application import LedgerApplication, system_actor
from ledger.domain.base import LedgerAggregate

TOPIC = "competency-ledger-test/Badge"


def define_badge(version: int) -> type[LedgerAggregate]:
    for topic in list(_topic_cache):
        if topic.startswith(TOPIC):
            del _topic_cache[topic]

    if version == 1:

        class Badge(LedgerAggregate):
            TOPIC = "competency-ledger-test/Badge"

            class Created(LedgerAggregate.Created):
                TOPIC = "competency-ledger-test/Badge.Created"

            class Awarded(LedgerAggregate.Created):
                TOPIC = "competency-ledger-test/Badge.Awarded"
                title: str

                def apply(self, b) -> None:
                    b.title = self.title

    else:

        class Badge(LedgerAggregate):  # type: ignore[no-redef]
            TOPIC = "competency-ledger-test/Badge"

            class Created(LedgerAggregate.Created):
                TOPIC = "competency-ledger-test/Badge.Created"

            class Awarded(LedgerAggregate.Created):
                TOPIC = "competency-ledger-test/Badge.Awarded"
                class_version = 2
                title: str
                issuer: str  # added in version 2

                @staticmethod
                def upcast_v1_v2(state: dict) -> None:
                    state["issuer"] = "unknown (recorded before issuers were kept)"

                def apply(self, b) -> None:
                    b.title = self.title
                    b.issuer = self.issuer

    return Badge


def test_older_event_loads_after_a_field_is_added(store_url, clock):
    v1 = define_badge(1)
    writer = LedgerApplication(database_url=store_url, clock=clock)
    ctx = writer.context(system_actor())
    badge = v1._start(v1.Awarded, ctx, id=uuid4(), title="Safety first")
    writer.save(badge)
    writer.close()

    v2 = define_badge(2)
    reader = LedgerApplication(database_url=store_url, clock=clock)
    try:
        loaded = reader.repository.get(badge.id)
        assert isinstance(loaded, v2)
        assert loaded.title == "Safety first"
        assert loaded.issuer.startswith("unknown")
        # A version-2 event written now round-trips with its own value.
        ctx = reader.context(system_actor())
        newer = v2._start(v2.Awarded, ctx, id=uuid4(), title="Forklift", issuer="Acme")
        reader.save(newer)
        assert reader.repository.get(newer.id).issuer == "Acme"
    finally:
        reader.close()
        for topic in list(_topic_cache):
            if topic.startswith(TOPIC):
                del _topic_cache[topic]
