"""Graduation areas and school terms: the vocabulary credits are counted in."""

from __future__ import annotations

import re
from decimal import Decimal

from ledger.errors import InvalidCommand

# Washington State's 24-credit requirement (WAC 180-51-068 / 180-51-210):
# area code -> (name, credits).
WASHINGTON_REQUIREMENTS: dict[str, tuple[str, Decimal]] = {
    "ENG": ("English", Decimal(4)),
    "MATH": ("Mathematics", Decimal(3)),
    "SCI": ("Science", Decimal(3)),
    "SOC": ("Social Studies", Decimal(3)),
    "ARTS": ("Arts", Decimal(2)),
    "WL": ("World Language", Decimal(2)),
    "HF": ("Health and Fitness", Decimal(2)),
    "CTE": ("Career and Technical Education", Decimal(1)),
    "ELEC": ("Electives", Decimal(4)),
}
GRADUATION_AREAS = tuple(WASHINGTON_REQUIREMENTS)

TERMS = ("FY", "S1", "S2", "T1", "T2", "T3", "Q1", "Q2", "Q3", "Q4", "SUM")
SCHOOL_YEAR = re.compile(r"^(\d{4})-(\d{2})$")
MAX_CREDIT = Decimal(10)


def check_area(area: str) -> None:
    if area not in GRADUATION_AREAS:
        raise InvalidCommand(f"unknown graduation area {area!r}; one of {list(GRADUATION_AREAS)}")


def check_term(school_year: str, term: str) -> None:
    m = SCHOOL_YEAR.match(school_year or "")
    if not m or (int(m.group(1)) + 1) % 100 != int(m.group(2)):
        raise InvalidCommand(f"school year {school_year!r} must look like 2025-26")
    if term not in TERMS:
        raise InvalidCommand(f"unknown term {term!r}; one of {list(TERMS)}")


def check_amount(amount: Decimal, what: str = "credit amount") -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidCommand(f"{what} must be a decimal number")
    if amount <= 0 or amount > MAX_CREDIT:
        raise InvalidCommand(f"{what} must be more than 0 and at most {MAX_CREDIT}")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidCommand(f"{what} has at most 2 decimal places")
