"""Stored events name their class by a pinned topic, never by module path. The list below is the
contract with every event already stored: a topic may be added, never renamed or removed."""

from __future__ import annotations

from pathlib import Path

from ledger.domain import AGGREGATES, LedgerAggregate

GOLDEN = Path(__file__).with_name("topics.txt")


def pinned_topics() -> set[str]:
    topics = set()
    for agg in AGGREGATES:
        topics.add(agg.TOPIC)
        for name, value in vars(agg).items():
            if (
                name != "Event"
                and isinstance(value, type)
                and issubclass(value, LedgerAggregate.Event)
            ):
                topics.add(value.TOPIC)
    return topics


def test_every_topic_is_pinned_and_none_disappeared():
    topics = pinned_topics()
    assert all(t.startswith("competency-ledger/") and ":" not in t for t in topics)
    known = set(GOLDEN.read_text().split())
    missing = known - topics
    assert not missing, f"topics removed or renamed (stored events would be orphaned): {missing}"
    added = topics - known
    assert not added, f"new topics: add them to {GOLDEN.name}: {sorted(added)}"
