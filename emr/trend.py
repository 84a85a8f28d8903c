"""How a patient's retinopathy changed since the previous screening."""

from __future__ import annotations

from enum import StrEnum

from emr.grading import Finding

__all__ = ["Trend", "compare"]


class Trend(StrEnum):
    """The change of the patient-level finding between two screenings."""

    FIRST = "first screening"
    PROGRESSED = "progressed"
    STABLE = "stable"
    IMPROVED = "improved"
    NOT_COMPARABLE = "not comparable"


def compare(current: Finding, previous: Finding | None) -> Trend:
    """Compare two patient-level findings, the later one first.

    A higher ICDR grade, or maculopathy that was absent before, is progression;
    a lower grade without new maculopathy, or resolved maculopathy at the same
    grade, is improvement. An ungradable screening cannot be compared.
    """
    if previous is None:
        return Trend.FIRST
    if current.grade is None or previous.grade is None:
        return Trend.NOT_COMPARABLE
    new_maculopathy = bool(current.maculopathy) and not previous.maculopathy
    resolved_maculopathy = bool(previous.maculopathy) and current.maculopathy is False
    if current.grade > previous.grade or new_maculopathy:
        return Trend.PROGRESSED
    if current.grade < previous.grade or resolved_maculopathy:
        return Trend.IMPROVED
    return Trend.STABLE
