"""Mastery methods: a competency's score from a student's ordered scores.

Pure functions over Decimal; rounding to 2 places happens once, in ``score``. The power law needs
logarithms, so it alone runs in float and comes back to Decimal through ``repr``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def _mean(xs: Sequence[Decimal]) -> Decimal:
    return sum(xs, Decimal(0)) / len(xs)


def _power_law(xs: Sequence[Decimal]) -> Decimal:
    if len(xs) == 1:
        return xs[0]
    lx = [math.log(k) for k in range(1, len(xs) + 1)]
    ly = [math.log(float(s)) for s in xs]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    slope = sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum(
        (a - mx) ** 2 for a in lx
    )
    intercept = my - slope * mx
    return Decimal(repr(math.exp(intercept + slope * math.log(len(xs)))))


def raw_score(
    method: str, parameter: Decimal | None, scores: Sequence[Decimal], threshold: Decimal
) -> Decimal | None:
    """The unrounded value of ``method`` over ``scores`` (in order); None when there is none."""
    if not scores:
        return None
    if method == "latest":
        return scores[-1]
    if method == "highest":
        return max(scores)
    if method == "average":
        return _mean(scores)
    if method == "weighted_average":
        w = Decimal("0.65") if parameter is None else parameter
        if len(scores) == 1:
            return scores[0]
        return scores[-1] * w + _mean(scores[:-1]) * (1 - w)
    if method == "decaying_average":
        d = Decimal("0.65") if parameter is None else parameter
        value = scores[0]
        for s in scores[1:]:
            value = value * (1 - d) + s * d
        return value
    if method == "n_mastery":
        n = int(parameter if parameter is not None else 3)
        at_mastery = [s for s in scores if s >= threshold]
        return _mean(at_mastery) if len(at_mastery) >= n else None
    if method == "power_law":
        return _power_law(scores)
    raise ValueError(f"unknown mastery method {method!r}")


def score(
    method: str, parameter: Decimal | None, scores: Sequence[Decimal], threshold: Decimal
) -> Decimal | None:
    raw = raw_score(method, parameter, scores, threshold)
    return None if raw is None else raw.quantize(CENT, rounding=ROUND_HALF_UP)


def level_for(value: Decimal | None, levels: Sequence[dict]) -> str | None:
    """The highest scale level whose value is at or below the score."""
    if value is None:
        return None
    best = None
    for lvl in levels:
        v = lvl.get("value")
        if v is not None and Decimal(v) <= value and (best is None or Decimal(v) > best[0]):
            best = (Decimal(v), lvl["code"])
    return best[1] if best else None
