"""Attribute matching for C-FIND, C-MOVE and C-GET identifiers (PS3.4 C.2.2.2).

A matching key's value becomes a :class:`Matcher` that can both render itself
as a SQL condition on an indexed column and test a value in Python (for keys
the index keeps only in its attribute JSON). Kinds of matching:

- universal (C.2.2.2.3): an empty value, or ``*`` alone, matches everything and
  yields no matcher;
- single value (C.2.2.2.1): equality; for person names case-insensitive, as
  the worklist and most viewers expect;
- wild card (C.2.2.2.4): ``*`` any run of characters, ``?`` one character,
  not for dates, times, UIDs or numbers;
- range (C.2.2.2.5): ``a-b``, ``-b``, ``a-`` for DA, TM and DT;
- list of UIDs (C.2.2.2.2): ``uid1\\uid2``.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, literal
from sqlalchemy.sql.elements import ColumnElement

Column = Any  # an indexed column or column expression

__all__ = [
    "DateTimeRange",
    "Matcher",
    "SingleValue",
    "UidList",
    "Wildcard",
    "parse_matcher",
    "time_key",
]

#: VRs for which PS3.4 C.2.2.2.4 forbids wild card matching.
NO_WILDCARD_VRS = frozenset(
    {"DA", "TM", "DT", "SL", "SS", "US", "UL", "FL", "FD", "OB", "OW", "UN",
     "AT", "DS", "IS", "AS", "UI", "SV", "UV"}
)
RANGE_VRS = frozenset({"DA", "TM", "DT"})
_TIME = re.compile(r"^(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?(?:\.(\d{1,6}))?$")


def time_key(value: str, upper: bool = False) -> str:
    """Return a TM value as a sortable ``HHMMSS.FFFFFF`` string.

    Missing parts are filled with their least value, or their greatest when
    ``upper`` (so that ``-1200`` includes 12:00:59). Accepts the ACR-NEMA form
    with colons. An unparseable value is returned stripped, unchanged.
    """
    match = _TIME.match(value.strip())
    if not match:
        return value.strip()
    hours, minutes, seconds, fraction = match.groups()
    low, high = ("00", "00", "000000"), ("59", "59", "999999")
    fill = high if upper else low
    return (
        f"{hours}{minutes or fill[0]}{seconds or fill[1]}."
        f"{(fraction or '').ljust(6, '9' if upper and not fraction else '0')}"
    )


def _date_time_key(vr: str, value: str, upper: bool) -> str:
    if vr == "TM":
        return time_key(value, upper)
    if vr == "DT":
        return value.strip().ljust(21, "9" if upper else "0")[:21]
    return value.strip()


class Matcher(ABC):
    """One matching key's condition."""

    @abstractmethod
    def clause(self, column: Column) -> ColumnElement[bool]:
        """Return the SQL condition on ``column`` (already normalised)."""

    @abstractmethod
    def test(self, value: str) -> bool:
        """Return whether one stored value matches."""

    def test_any(self, values: Sequence[str]) -> bool:
        """Return whether any value of a multi-valued attribute matches."""
        return any(self.test(v) for v in values)


@dataclass(frozen=True)
class SingleValue(Matcher):
    value: str
    case_insensitive: bool = False

    def clause(self, column: Column) -> ColumnElement[bool]:
        return column == (self.value.upper() if self.case_insensitive else self.value)

    def test(self, value: str) -> bool:
        if self.case_insensitive:
            return value.strip().upper() == self.value.upper()
        return value.strip() == self.value


@dataclass(frozen=True)
class Wildcard(Matcher):
    pattern: str
    case_insensitive: bool = False

    def _pattern(self) -> str:
        return self.pattern.upper() if self.case_insensitive else self.pattern

    def clause(self, column: Column) -> ColumnElement[bool]:
        like = "".join(
            "%" if c == "*" else "_" if c == "?" else "\\" + c if c in "\\%_" else c
            for c in self._pattern()
        )
        return column.like(like, escape="\\")

    def test(self, value: str) -> bool:
        regex = "".join(
            ".*" if c == "*" else "." if c == "?" else re.escape(c)
            for c in self._pattern()
        )
        subject = value.strip().upper() if self.case_insensitive else value.strip()
        return re.fullmatch(regex, subject, re.DOTALL) is not None


@dataclass(frozen=True)
class DateTimeRange(Matcher):
    """A DA, TM or DT range; either end may be open, stored normalised."""

    vr: str
    low: str | None
    high: str | None

    def clause(self, column: Column) -> ColumnElement[bool]:
        conditions = [column != literal("")]
        if self.low is not None:
            conditions.append(column >= _date_time_key(self.vr, self.low, False))
        if self.high is not None:
            conditions.append(column <= _date_time_key(self.vr, self.high, True))
        return and_(*conditions)

    def test(self, value: str) -> bool:
        if not value.strip():
            return False
        low = _date_time_key(self.vr, value, False)
        if self.low is not None and low < _date_time_key(self.vr, self.low, False):
            return False
        return self.high is None or low <= _date_time_key(self.vr, self.high, True)


@dataclass(frozen=True)
class UidList(Matcher):
    uids: tuple[str, ...]

    def clause(self, column: Column) -> ColumnElement[bool]:
        if len(self.uids) == 1:
            return column == self.uids[0]
        return column.in_(self.uids)

    def test(self, value: str) -> bool:
        return value.strip() in self.uids


def parse_matcher(vr: str, value: str) -> Matcher | None:
    """Return the matcher for a key of ``vr`` with ``value``; ``None`` if universal.

    Person names (PN) match case-insensitively.
    """
    text = value.strip()
    if text in ("", "*"):
        return None
    if vr == "UI":
        return UidList(tuple(uid.strip() for uid in text.split("\\") if uid.strip()))
    if vr in RANGE_VRS:
        if "-" in text and not (vr == "DT" and text.count("-") > 1):
            low, _, high = text.partition("-")
            return DateTimeRange(vr, low.strip() or None, high.strip() or None)
        if vr == "TM":
            return DateTimeRange(vr, text, text)
        return SingleValue(text)
    case_insensitive = vr == "PN"
    if vr not in NO_WILDCARD_VRS and ("*" in text or "?" in text):
        return Wildcard(text, case_insensitive)
    return SingleValue(text, case_insensitive)
