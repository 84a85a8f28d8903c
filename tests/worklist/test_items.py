"""Worklist items built from EMR orders, and the cache in front of the EMR."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from imaging_common.exceptions import DicomInputError
from worklist.cache import TimedCache
from worklist.items import order_to_item, person_name, worklist_items

from .test_matching import order


def test_an_order_becomes_a_worklist_item() -> None:
    item = order_to_item(order(state="in_progress"))
    assert item.SpecificCharacterSet == "ISO_IR 192"
    assert (item.PatientName, item.PatientID, item.PatientBirthDate, item.PatientSex) == (
        "Doe^Jane", "MRN-1", "19610412", "F")
    assert (item.AccessionNumber, item.RequestedProcedureID, item.StudyInstanceUID) == (
        "FVABC", "RPABC", "2.25.1234567890")
    assert item.ReferringPhysicianName == "Nightingale^Florence"
    assert item.RequestedProcedurePriority == "HIGH"
    assert item.RequestedProcedureCodeSequence[0].CodeValue == "FOVEA-DRS"
    (step,) = item.ScheduledProcedureStepSequence
    assert (step.ScheduledStationAETitle, step.Modality, step.ScheduledProcedureStepID) == (
        "FUNDUS_CAM1", "OP", "SPSABC")
    assert (step.ScheduledProcedureStepStartDate, step.ScheduledProcedureStepStartTime) == (
        "20260302", "093000")
    assert step.ScheduledProcedureStepStatus == "STARTED"
    assert step.ScheduledProcedureStepDescription == "Fundus photography, right eye"


def test_dates_are_the_sites_local_time() -> None:
    """The EMR gives times in the site's zone; the item keeps that wall-clock time."""
    step = order_to_item(order(scheduled_at="2026-03-02T23:45:00-05:00"))[
        "ScheduledProcedureStepSequence"].value[0]
    assert (step.ScheduledProcedureStepStartDate, step.ScheduledProcedureStepStartTime) == (
        "20260302", "234500")


@pytest.mark.parametrize(("full_name", "pn"), [
    ("Florence Nightingale", "Nightingale^Florence"),
    ("Ada M. Lovelace", "Lovelace^Ada M."),
    ("Cher", "Cher"),
    ("", ""),
    ("Odd^Name\\Here", "Here^Odd Name"),
])
def test_person_names(full_name: str, pn: str) -> None:
    assert person_name(full_name) == pn


@pytest.mark.parametrize("broken", [
    {"patient": None}, {"scheduled_at": "tomorrow"}, {"study_instance_uid": None},
])
def test_a_broken_order_is_refused_without_patient_data(broken: dict[str, Any]) -> None:
    with pytest.raises(DicomInputError) as raised:
        order_to_item(order(**broken))
    assert "order 7" in str(raised.value)
    assert "Doe" not in str(raised.value) and "MRN-1" not in str(raised.value)


def test_broken_orders_are_left_off_with_a_warning() -> None:
    good, broken = order(id=1), order(id=2)
    del broken["accession_number"]
    with capture_logs() as events:
        items = worklist_items([good, broken])
    assert [i.AccessionNumber for i in items] == ["FVABC"]
    assert [(e["event"], e["order"]) for e in events] == [("order left off the worklist", 2)]


class Clock:
    """Seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_loads_once_per_interval_and_not_after_a_failure() -> None:
    clock, loads = Clock(), []

    def load() -> int:
        loads.append(clock.now)
        if len(loads) == 3:
            raise ConnectionError("away")
        return len(loads)

    cache = TimedCache(load, 5, clock)
    assert (cache.get(), cache.get()) == (1, 1)
    clock.now += 4.9
    assert cache.get() == 1
    clock.now += 0.1
    assert cache.get() == 2
    cache.invalidate()
    with pytest.raises(ConnectionError):
        cache.get()
    assert cache.get() == 4  # the failure was not kept
    assert loads == [100.0, 105.0, 105.0, 105.0]
