"""What an import tolerated: each normalisation counted, with a few examples to show the user."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.errors import InvalidCommand

EXAMPLES_KEPT = 3


class InvalidImport(InvalidCommand):
    """The file is not in the format, or holds something the importer must not guess about.
    The message names the first offending element (``CFItems[3]``, ``users.csv:12``)."""

    code = "invalid-import"
    title = "Import rejected"


@dataclass
class Normalisations:
    """Counts and examples per kind of tolerated oddity ("upper-case identifier", ...)."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def note(self, kind: str, example: str) -> None:
        # The same oddity met twice at one place (a row read by two passes) counts once.
        if (kind, example) in self._seen:
            return
        self._seen.add((kind, example))
        self.counts[kind] = self.counts.get(kind, 0) + 1
        kept = self.examples.setdefault(kind, [])
        if len(kept) < EXAMPLES_KEPT:
            kept.append(example)

    def as_dict(self) -> dict[str, Any]:
        return {
            kind: {"count": n, "examples": list(self.examples.get(kind, ()))}
            for kind, n in sorted(self.counts.items())
        }

    def lines(self) -> list[str]:
        return [
            f"{kind}: {n} (e.g. {', '.join(self.examples.get(kind, ()))})"
            for kind, n in sorted(self.counts.items())
        ]
