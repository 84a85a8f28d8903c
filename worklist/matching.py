"""Matching a Modality Worklist query against worklist items, and shaping the answer.

Matching follows PS3.4 C.2.2.2 as K.6.1.2 asks of a worklist SCP:

- a key without a value matches anything (universal matching, C.2.2.2.3);
- ``*`` and ``?`` in a value are wild cards (C.2.2.2.4); Person Names match
  without regard to case, as IHE RAD-5 expects of a worklist;
- a UID key may list several UIDs (list of UID matching, C.2.2.2.2);
- dates and times match single values or ranges (``A-B``, ``A-``, ``-B``;
  C.2.2.2.5), and a date with its time (e.g. Scheduled Procedure Step Start
  Date and Time) match as one date-time range (C.2.2.2.5.1);
- a sequence key matches when one of the item's sequence items matches the
  query's item (sequence matching, C.2.2.2.6); an empty sequence or an empty
  item asks for the whole sequence.

The response holds the query's keys and nothing else (C.2.2.1.2), valued from
the item, plus the Specific Character Set its values need. This module knows
nothing about associations or the EMR.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from functools import lru_cache
from typing import TypeVar

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from imaging_common.exceptions import DicomInputError

__all__ = ["match", "respond", "validate_query"]

#: Keys that describe the query rather than select items.
_NOT_MATCHED = frozenset({"SpecificCharacterSet", "QueryRetrieveLevel"})
#: PS3.5 6.2 DA: YYYYMMDD (the ACR-NEMA form YYYY.MM.DD is also read).
_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
#: PS3.5 6.2 TM: HH, HHMM, HHMMSS or HHMMSS.F with one to six fraction digits.
_TIME = re.compile(r"^(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?$")

Moment = TypeVar("Moment", date, time)


def validate_query(query: Dataset) -> None:
    """Check a C-FIND identifier of the Modality Worklist model.

    Raises:
        DicomInputError: more than one Scheduled Procedure Step item in the
            query (PS3.4 K.6.1.2.1), or a date or time that is not DICOM's.
    """
    steps = query.get("ScheduledProcedureStepSequence")  # by keyword: the value
    if steps is not None and len(steps) > 1:
        raise DicomInputError("the Scheduled Procedure Step Sequence may hold one item")
    _check_dates(query)


def _check_dates(query: Dataset) -> None:
    for element in query:
        if element.VR == "SQ":
            for item in element.value or ():
                _check_dates(item)
        elif element.VR in ("DA", "TM") and _has_value(element):
            parse = _date if element.VR == "DA" else _time
            low, high = _split_range(str(element.value))
            for part, upper in ((low, False), (high, True)):
                if part:
                    parse(part, upper, element.keyword)


def _has_value(element: DataElement) -> bool:
    return element.value not in (None, "", b"")


def _element(ds: Dataset, keyword: str) -> DataElement | None:
    """The element ``keyword`` of ``ds`` (``Dataset.get`` by keyword gives the value)."""
    return ds[keyword] if keyword in ds else None


def _split_range(text: str) -> tuple[str, str]:
    """``A-B``, ``A-`` or ``-B`` as (low, high); a single value as (value, value)."""
    text = text.strip()
    if "-" not in text:
        return text, text
    low, _, high = text.partition("-")
    return low.strip(), high.strip()


def _date(text: str, upper: bool = False, keyword: str = "date") -> date:
    found = _DATE.match(text.strip().replace(".", ""))
    try:
        if found is None:
            raise ValueError(text)
        return date(*(int(part) for part in found.groups()))
    except ValueError:
        # The value is not quoted: it may be a patient's birth date, and this
        # message reaches the log.
        raise DicomInputError(f"{keyword} is not a DICOM date (YYYYMMDD)") from None


def _time(text: str, upper: bool = False, keyword: str = "time") -> time:
    """A DICOM time; an upper bound covers the whole of its last given unit
    ("10" up to 10:59:59.999999)."""
    found = _TIME.match(text.strip().replace(":", ""))
    try:
        if found is None:
            raise ValueError(text)
        hour, minute, second, fraction = found.groups()
        top = "59" if upper else "00"
        return time(int(hour), int(minute or top), int(second or top),
                    int((fraction or "").ljust(6, "9" if upper else "0")))
    except ValueError:
        raise DicomInputError(f"{keyword} is not a DICOM time (HHMMSS)") from None


@lru_cache(maxsize=256)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(f"^{body}$", flags)


def _values(element: DataElement) -> list[str]:
    value = element.value
    if isinstance(value, (list, MultiValue)):
        return [str(v).strip() for v in value]
    return [str(value if value is not None else "").strip()]


def _in_range(query_value: str, candidate: str,
              parse: Callable[[str, bool], Moment]) -> bool:
    low, high = _split_range(query_value)
    try:
        value = parse(candidate, False)
    except DicomInputError:
        return False  # an item's malformed value matches nothing
    return (not low or parse(low, False) <= value) and (not high or value <= parse(high, True))


def _match_value(wanted: DataElement, have: DataElement | None) -> bool:
    """Single value, list of UID, wild card or range matching of one key."""
    if have is None:
        return False
    candidates = [c for c in _values(have) if c]
    if wanted.VR == "DA":
        return any(_in_range(str(wanted.value), c, _date) for c in candidates)
    if wanted.VR == "TM":
        return any(_in_range(str(wanted.value), c, _time) for c in candidates)
    # IHE RAD-5: Person Names match without regard to case; trailing empty
    # components are not significant (PS3.5 6.2.1.1).
    person = wanted.VR == "PN"
    for pattern in _values(wanted):  # several values: list of UID matching
        pattern = pattern.rstrip("^ ") if person else pattern
        for candidate in candidates:
            candidate = candidate.rstrip("^ ") if person else candidate
            if "*" in pattern or "?" in pattern or person:
                if _wildcard(pattern, person).match(candidate):
                    return True
            elif pattern == candidate:
                return True
    return False


def _date_time_pairs(query: Dataset) -> dict[str, str]:
    """Date keywords whose time is also given: match them as one date-time."""
    pairs = {}
    for element in query:
        keyword = element.keyword
        if element.VR == "DA" and keyword.endswith("Date") and _has_value(element):
            partner = _element(query, keyword[:-4] + "Time")
            if partner is not None and _has_value(partner):
                pairs[keyword] = partner.keyword
    return pairs


def _match_date_time(query: Dataset, item: Dataset, date_key: str, time_key: str) -> bool:
    """PS3.4 C.2.2.2.5.1: a date range and a time range matched as one date-time range."""
    have_date, have_time = _element(item, date_key), _element(item, time_key)
    if have_date is None or not _has_value(have_date):
        return False
    clock = str(have_time.value) if have_time is not None and _has_value(have_time) else "00"
    try:
        value = datetime.combine(_date(str(have_date.value)), _time(clock))
    except DicomInputError:
        return False
    day_low, day_high = _split_range(str(query[date_key].value))
    time_low, time_high = _split_range(str(query[time_key].value))
    low = (datetime.combine(_date(day_low), _time(time_low) if time_low else time.min)
           if day_low else datetime.min)
    high = (datetime.combine(_date(day_high, True),
                             _time(time_high, True) if time_high else time.max)
            if day_high else datetime.max)
    return low <= value <= high


def _selects(query: Dataset) -> bool:
    """Whether any key of ``query`` (or of its sequences' items) has a value to match."""
    for element in query:
        if element.keyword in _NOT_MATCHED:
            continue
        if element.VR == "SQ":
            if any(_selects(item) for item in element.value or ()):
                return True
        elif _has_value(element):
            return True
    return False


def _match_sequence(wanted: DataElement, have: DataElement | None) -> bool:
    """PS3.4 C.2.2.2.6: one of the item's sequence items matches the query's item."""
    query_items = list(wanted.value or ())
    if not query_items or not _selects(query_items[0]):
        return True
    return any(match(query_items[0], i) for i in (have.value or () if have is not None else ()))


def match(query: Dataset, item: Dataset) -> bool:
    """Whether ``item`` matches every key with a value in ``query``.

    ``query`` is expected to have passed :func:`validate_query`.
    """
    pairs = _date_time_pairs(query)
    for element in query:
        keyword = element.keyword
        if keyword in _NOT_MATCHED or keyword in pairs.values():
            continue
        if keyword in pairs:
            matched = _match_date_time(query, item, keyword, pairs[keyword])
        elif element.VR == "SQ":
            matched = _match_sequence(element, item.get(element.tag))
        elif _has_value(element):
            matched = _match_value(element, item.get(element.tag))
        else:
            continue
        if not matched:
            return False
    return True


def _respond_sequence(wanted: DataElement, have: DataElement | None) -> Sequence:
    items = list(have.value or ()) if have is not None else []
    query_items = list(wanted.value or ())
    if not query_items or len(query_items[0]) == 0:
        return Sequence(items)  # zero-length item: the entire sequence (C.2.2.2.6)
    return Sequence([respond(query_items[0], i) for i in items if match(query_items[0], i)])


def respond(query: Dataset, item: Dataset) -> Dataset:
    """The C-FIND response identifier: every key of ``query``, valued from ``item``.

    A key the item lacks is returned empty (PS3.4 C.2.2.1.2); a sequence key
    returns the item's matching sequence items, each holding only the keys of
    the query's item. Specific Character Set is the item's, so that the
    values read as they were written.
    """
    response = Dataset()
    for element in query:
        if element.keyword == "SpecificCharacterSet":
            continue
        have = item.get(element.tag)
        if element.VR == "SQ":
            response.add_new(element.tag, "SQ", _respond_sequence(element, have))
        elif have is not None:
            response.add(have)
        else:
            response.add_new(element.tag, element.VR, None)
    if "SpecificCharacterSet" in item:
        response.SpecificCharacterSet = item.SpecificCharacterSet
    return response
