"""Screening figures per station and period: the programme's "AI readiness" view.

Counts are taken from orders scheduled in the period that have a result, using
the patient-level (worse-eye) finding, reviewed where an ophthalmologist
signed it off. Turnaround runs from the order's creation to its first result.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from emr.grading import DrGrade
from emr.models import AiResult, EyeResult, Order
from emr.reports import order_finding

__all__ = ["GRADE_KEYS", "StationFigures", "screening_figures"]

#: Grade distribution keys, in display order.
GRADE_KEYS = (*(str(g.value) for g in DrGrade), "ungradable")


@dataclass
class StationFigures:
    """The figures of one station (or of all, ``station == "all"``) in one period."""

    station: str
    orders: int = 0
    screenings: int = 0
    gradable: int = 0
    referable: int = 0
    grades: Counter[str] = field(default_factory=Counter)
    turnaround_hours: list[float] = field(default_factory=list)

    @property
    def gradable_share(self) -> float | None:
        """Gradable screenings over screenings."""
        return self.gradable / self.screenings if self.screenings else None

    @property
    def referable_rate(self) -> float | None:
        """Referable screenings over gradable screenings."""
        return self.referable / self.gradable if self.gradable else None

    @property
    def median_turnaround_hours(self) -> float | None:
        """Median hours from order to first result."""
        return statistics.median(self.turnaround_hours) if self.turnaround_hours else None

    def add(self, order: Order) -> None:
        """Count one order."""
        self.orders += 1
        finding = order_finding(order)
        if finding is None:
            return
        self.screenings += 1
        self.grades["ungradable" if finding.grade is None else str(finding.grade.value)] += 1
        if finding.gradable:
            self.gradable += 1
            self.referable += int(finding.referable is True)
        first = min(r.received_at for r in order.results)
        self.turnaround_hours.append((first - order.created_at).total_seconds() / 3600)


def screening_figures(db: Session, first: date, last: date, zone: tzinfo,
                      station: str = "") -> list[StationFigures]:
    """Figures for all stations together, then per station, for orders scheduled
    from ``first`` to ``last`` (site dates, both included)."""
    query = (select(Order)
             .where(Order.scheduled_at >= datetime.combine(first, time.min, zone),
                    Order.scheduled_at < datetime.combine(last + timedelta(days=1),
                                                          time.min, zone))
             .options(selectinload(Order.results).selectinload(AiResult.eyes)
                      .selectinload(EyeResult.reviews)))
    if station:
        query = query.where(Order.scheduled_station_ae == station)
    total = StationFigures("all")
    stations: dict[str, StationFigures] = {}
    for order in db.scalars(query):
        total.add(order)
        figures = stations.setdefault(order.scheduled_station_ae,
                                      StationFigures(order.scheduled_station_ae))
        figures.add(order)
    return [total, *(stations[name] for name in sorted(stations))]
