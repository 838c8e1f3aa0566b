"""Writing delimited text that a spreadsheet opens safely and that is byte-for-byte reproducible."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# A cell a spreadsheet would evaluate as a formula (OWASP "CSV injection"): a leading tab or
# carriage return is stripped by some importers and then the next character decides.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def neutralise(cell: str) -> str:
    """Prefix a would-be formula with an apostrophe, so it is shown as text, never run."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def one_line(text: str) -> str:
    """Free text on one line: runs of whitespace (tabs and line breaks too) become one space."""
    return " ".join(text.split())


def has_control(cell: str) -> bool:
    return CONTROL.search(cell) is not None


def delimited(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    delimiter: str,
    line_ending: str,
    encoding: str,
) -> bytes:
    """The file's bytes: header, then rows, each line ended by ``line_ending`` (the last one
    too), every cell neutralised. Cells must already be free of control characters."""
    lines = [delimiter.join(header)]
    lines.extend(delimiter.join(neutralise(c) for c in row) for row in rows)
    return "".join(line + line_ending for line in lines).encode(encoding)
