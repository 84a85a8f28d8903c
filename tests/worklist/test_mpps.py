"""MPPS N-CREATE and N-SET from a pynetdicom SCU, as a station sends them, moving the
EMR's orders; invalid ones refused with the status PS3.4 F.7 names, changing nothing."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pynetdicom import Association, build_context
from pynetdicom.sop_class import OphthalmicPhotography8BitImageStorage

from imaging_common.codes import Code
from imaging_common.dimse import associate, make_ae
from imaging_common.settings import Node
from imaging_common.sop_classes import MODALITY_PERFORMED_PROCEDURE_STEP
from imaging_common.status import MppsErrorId, NStatus
from imaging_common.uids import new_uid
from .conftest import (
    OrderIds,
    RunningEmr,
    RunningWorklist,
    running_emr,
    running_worklist,
    worklist_config,
    write_network,
)

STATION = "FUNDUS_CAM1"
#: CID 9300 Procedure Discontinuation Reason.
PATIENT_REFUSED = Code("110505", "DCM", "Patient refused to continue procedure")


@dataclass
class Station:
    """An MPPS SCU calling the worklist as the fundus station does."""

    worklist: RunningWorklist

    @contextmanager
    def _association(self) -> Iterator[Association]:
        settings = self.worklist.config.settings
        node = Node("worklist", settings.ae_title, port=self.worklist.port)
        with associate(make_ae(settings, STATION), node,
                       [build_context(MODALITY_PERFORMED_PROCEDURE_STEP)]) as assoc:
            yield assoc

    def create(self, step: Dataset, uid: str | None) -> Dataset:
        """N-CREATE; return the status dataset."""
        with self._association() as assoc:
            status, _ = assoc.send_n_create(step, MODALITY_PERFORMED_PROCEDURE_STEP, uid)
        return status

    def set(self, changes: Dataset, uid: str) -> Dataset:
        """N-SET; return the status dataset."""
        with self._association() as assoc:
            status, _ = assoc.send_n_set(changes, MODALITY_PERFORMED_PROCEDURE_STEP, uid)
        return status


@dataclass
class Service:
    """An EMR and the worklist in front of it, shared by a module's tests."""

    emr: RunningEmr
    worklist: RunningWorklist


@dataclass
class Scheduled:
    """An order scheduled in the EMR, with the worklist and station in front of it."""

    emr: RunningEmr
    worklist: RunningWorklist
    station: Station
    order: OrderIds

    def steps(self) -> dict[str, str]:
        """The status of every stored step of this order, by SOP Instance UID."""
        found = {}
        for path in self.worklist.config.steps_dir.glob("*.json"):
            step = Dataset.from_json(path.read_text())
            scheduled = step.ScheduledStepAttributesSequence[0]
            if scheduled.StudyInstanceUID == self.order.study_instance_uid:
                found[path.stem] = str(step.PerformedProcedureStepStatus)
        return found


def _now() -> tuple[str, str]:
    moment = datetime.now()
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S")


def creation(order: OrderIds) -> Dataset:
    """An N-CREATE Attribute List for the order's worklist item (PS3.4 Table F.7.2-1)."""
    started_date, started_time = _now()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    item = Dataset()
    item.StudyInstanceUID = order.study_instance_uid
    item.ReferencedStudySequence = []
    item.AccessionNumber = order.accession_number
    item.RequestedProcedureID = order.requested_procedure_id
    item.RequestedProcedureDescription = "AI diabetic retinopathy screening"
    item.ScheduledProcedureStepID = "SPS" + order.requested_procedure_id[2:]
    item.ScheduledProcedureStepDescription = "Fundus photography, both eyes"
    item.ScheduledProtocolCodeSequence = []
    ds.ScheduledStepAttributesSequence = [item]
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "WL-300"  # as the station read it; the order is found by its study
    ds.PatientBirthDate = "19610412"
    ds.PatientSex = "F"
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = "PPS-1"
    ds.PerformedStationAETitle = STATION
    ds.PerformedStationName = "Fundus camera 1"
    ds.PerformedLocation = ""
    ds.PerformedProcedureStepStartDate = started_date
    ds.PerformedProcedureStepStartTime = started_time
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = "Fundus photography"
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = []
    ds.PerformedProcedureStepEndDate = None
    ds.PerformedProcedureStepEndTime = None
    ds.Modality = "OP"
    ds.StudyID = ""
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    return ds


def _series(images: int) -> Dataset:
    series = Dataset()
    series.SeriesInstanceUID = new_uid()
    series.ProtocolName = "Fundus photography"
    series.SeriesDescription = "Fundus"
    series.PerformingPhysicianName = ""
    series.OperatorsName = ""
    series.RetrieveAETitle = "FOVEA_PACS"
    series.ReferencedImageSequence = []
    for _ in range(images):
        image = Dataset()
        image.ReferencedSOPClassUID = OphthalmicPhotography8BitImageStorage
        image.ReferencedSOPInstanceUID = new_uid()
        series.ReferencedImageSequence.append(image)
    series.ReferencedNonImageCompositeSOPInstanceSequence = []
    return series


def completion(images: int = 2) -> Dataset:
    """An N-SET Modification List ending the step COMPLETED with its images."""
    ended_date, ended_time = _now()
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = ended_date
    ds.PerformedProcedureStepEndTime = ended_time
    ds.PerformedSeriesSequence = [_series(images)]
    return ds


def discontinuation() -> Dataset:
    """An N-SET Modification List ending the step DISCONTINUED, with its reason."""
    ds = completion(images=0)
    ds.PerformedProcedureStepStatus = "DISCONTINUED"
    ds.PerformedProcedureStepDiscontinuationReasonCodeSequence = [PATIENT_REFUSED.to_item()]
    return ds


_MRNS = itertools.count(300)


def _schedule(emr: RunningEmr) -> OrderIds:
    """A new patient with an order scheduled within the hour."""
    patient = emr.add_patient(f"WL-{next(_MRNS)}", "Doe", "Jane", date(1961, 4, 12), "F")
    return emr.add_order(patient, datetime.now(UTC) + timedelta(hours=1))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("worklist-mpps")
    with running_emr(folder) as emr:
        network = write_network(folder / "network.toml", emr.port)
        with running_worklist(worklist_config(network, folder / "worklist")) as worklist:
            yield Service(emr, worklist)


@pytest.fixture
def scheduled(service: Service) -> Scheduled:
    return Scheduled(service.emr, service.worklist, Station(service.worklist),
                     _schedule(service.emr))


def test_in_progress_then_completed_moves_the_order(scheduled: Scheduled) -> None:
    uid = str(new_uid())
    assert scheduled.station.create(creation(scheduled.order), uid).Status == NStatus.SUCCESS
    assert scheduled.emr.state(scheduled.order.id)[0] == "in_progress"
    assert scheduled.steps() == {uid: "IN PROGRESS"}

    assert scheduled.station.set(completion(), uid).Status == NStatus.SUCCESS
    state, _, by = scheduled.emr.state(scheduled.order.id)
    assert state == "acquired"
    assert by == [None, "worklist", "worklist"]  # the nurse prescribed; the worklist moved it
    assert scheduled.steps() == {uid: "COMPLETED"}


def test_discontinued_carries_its_reason(scheduled: Scheduled) -> None:
    uid = str(new_uid())
    scheduled.station.create(creation(scheduled.order), uid)
    assert scheduled.station.set(discontinuation(), uid).Status == NStatus.SUCCESS
    state, reason, _ = scheduled.emr.state(scheduled.order.id)
    assert state == "discontinued"
    assert reason == "MPPS discontinued: Patient refused to continue procedure"
    assert scheduled.steps() == {uid: "DISCONTINUED"}


def test_an_update_in_progress_changes_the_step_only(scheduled: Scheduled) -> None:
    uid = str(new_uid())
    scheduled.station.create(creation(scheduled.order), uid)
    changes = Dataset()
    changes.PerformedProcedureStepDescription = "Fundus photography, right eye first"
    assert scheduled.station.set(changes, uid).Status == NStatus.SUCCESS
    assert scheduled.emr.state(scheduled.order.id)[0] == "in_progress"
    assert scheduled.steps() == {uid: "IN PROGRESS"}


def test_no_update_after_the_final_state(scheduled: Scheduled) -> None:
    """PS3.4 F.7.2.2.2: Processing Failure with Error ID A710, nothing changed."""
    uid = str(new_uid())
    scheduled.station.create(creation(scheduled.order), uid)
    scheduled.station.set(completion(), uid)
    for changes in (discontinuation(), completion(images=5)):
        status = scheduled.station.set(changes, uid)
        assert status.Status == NStatus.PROCESSING_FAILURE
        assert status.ErrorID == MppsErrorId.MAY_NO_LONGER_BE_UPDATED
    assert scheduled.emr.state(scheduled.order.id)[0] == "acquired"
    step = Dataset.from_json((scheduled.worklist.config.steps_dir / f"{uid}.json").read_text())
    assert len(step.PerformedSeriesSequence[0].ReferencedImageSequence) == 2


def test_duplicate_and_unknown_instances(scheduled: Scheduled) -> None:
    uid = str(new_uid())
    scheduled.station.create(creation(scheduled.order), uid)
    again = scheduled.station.create(creation(scheduled.order), uid)
    assert again.Status == NStatus.DUPLICATE_SOP_INSTANCE
    unknown = scheduled.station.set(completion(), str(new_uid()))
    assert unknown.Status == NStatus.NO_SUCH_SOP_INSTANCE
    assert scheduled.emr.state(scheduled.order.id)[0] == "in_progress"
    assert scheduled.steps() == {uid: "IN PROGRESS"}


def _without(keyword: str) -> Callable[[Dataset], None]:
    return lambda ds: delattr(ds, keyword)


def _emptied(keyword: str) -> Callable[[Dataset], None]:
    return lambda ds: setattr(ds, keyword, None)


def _first_step(change: Callable[[Dataset], None]) -> Callable[[Dataset], None]:
    return lambda ds: change(ds.ScheduledStepAttributesSequence[0])


BAD_CREATIONS: dict[str, tuple[Callable[[Dataset], None], int]] = {
    "status not IN PROGRESS": (
        lambda ds: setattr(ds, "PerformedProcedureStepStatus", "COMPLETED"),
        NStatus.INVALID_ATTRIBUTE_VALUE),
    "no step ID": (_without("PerformedProcedureStepID"), NStatus.MISSING_ATTRIBUTE),
    "empty modality": (_emptied("Modality"), NStatus.MISSING_ATTRIBUTE_VALUE),
    "no start time": (_without("PerformedProcedureStepStartTime"), NStatus.MISSING_ATTRIBUTE),
    "no patient name (type 2)": (_without("PatientName"), NStatus.MISSING_ATTRIBUTE),
    "no scheduled step": (_emptied("ScheduledStepAttributesSequence"),
                          NStatus.MISSING_ATTRIBUTE_VALUE),
    "no study UID": (_first_step(_without("StudyInstanceUID")), NStatus.MISSING_ATTRIBUTE),
    "bad study UID": (_first_step(lambda item: setattr(item, "StudyInstanceUID", "1.2.x")),
                      NStatus.INVALID_ATTRIBUTE_VALUE),
}


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
@pytest.mark.parametrize("case", list(BAD_CREATIONS))
def test_invalid_creations_change_nothing(scheduled: Scheduled, case: str) -> None:
    change, expected = BAD_CREATIONS[case]
    step = creation(scheduled.order)
    change(step)
    status = scheduled.station.create(step, str(new_uid()))
    assert status.Status == expected
    assert status.ErrorComment
    assert scheduled.emr.state(scheduled.order.id)[0] == "scheduled"
    assert scheduled.steps() == {}


def _completion_without_series_item(keyword: str) -> Callable[[], Dataset]:
    def build() -> Dataset:
        ds = completion()
        delattr(ds.PerformedSeriesSequence[0], keyword)
        return ds
    return build


def _with(keyword: str, value: object, base: Callable[[], Dataset] = Dataset
          ) -> Callable[[], Dataset]:
    def build() -> Dataset:
        ds = base()
        setattr(ds, keyword, value)
        return ds
    return build


BAD_UPDATES: dict[str, tuple[Callable[[], Dataset], int]] = {
    "changes the patient": (_with("PatientID", "WL-999"), NStatus.INVALID_ATTRIBUTE_VALUE),
    "changes the start": (_with("PerformedProcedureStepStartTime", "000000"),
                          NStatus.INVALID_ATTRIBUTE_VALUE),
    "unknown status": (_with("PerformedProcedureStepStatus", "PAUSED"),
                       NStatus.INVALID_ATTRIBUTE_VALUE),
    "completed without end time": (_with("PerformedProcedureStepEndTime", None, completion),
                                   NStatus.MISSING_ATTRIBUTE_VALUE),
    "completed without series": (_with("PerformedSeriesSequence", [], completion),
                                 NStatus.MISSING_ATTRIBUTE_VALUE),
    "series without protocol": (_completion_without_series_item("ProtocolName"),
                                NStatus.MISSING_ATTRIBUTE),
    "discontinued without series": (_with("PerformedSeriesSequence", [], discontinuation),
                                    NStatus.MISSING_ATTRIBUTE_VALUE),
}


@pytest.mark.parametrize("case", list(BAD_UPDATES))
def test_invalid_updates_change_nothing(scheduled: Scheduled, case: str) -> None:
    build, expected = BAD_UPDATES[case]
    uid = str(new_uid())
    scheduled.station.create(creation(scheduled.order), uid)
    status = scheduled.station.set(build(), uid)
    assert status.Status == expected
    assert scheduled.emr.state(scheduled.order.id)[0] == "in_progress"
    assert scheduled.steps() == {uid: "IN PROGRESS"}


def test_the_worklist_assigns_a_missing_instance_uid(scheduled: Scheduled) -> None:
    assert scheduled.station.create(creation(scheduled.order), None).Status == NStatus.SUCCESS
    (uid,) = scheduled.steps()
    assert uid.startswith("2.25.")
    assert scheduled.emr.state(scheduled.order.id)[0] == "in_progress"


def test_a_step_the_order_has_moved_past_is_kept(scheduled: Scheduled) -> None:
    """A nurse discontinued the order: the station's step is recorded, the order stays."""
    scheduled.emr.move(scheduled.order.id, "discontinued", reason="patient moved away")
    uid = str(new_uid())
    assert scheduled.station.create(creation(scheduled.order), uid).Status == NStatus.SUCCESS
    assert scheduled.station.set(completion(), uid).Status == NStatus.SUCCESS
    assert scheduled.emr.state(scheduled.order.id)[:2] == ("discontinued", "patient moved away")
    assert scheduled.steps() == {uid: "COMPLETED"}


def test_an_unscheduled_step_changes_no_order(scheduled: Scheduled) -> None:
    step = creation(scheduled.order)
    step.ScheduledStepAttributesSequence[0].StudyInstanceUID = new_uid()
    step.ScheduledStepAttributesSequence[0].AccessionNumber = ""
    uid = str(new_uid())
    assert scheduled.station.create(step, uid).Status == NStatus.SUCCESS
    assert scheduled.emr.state(scheduled.order.id)[0] == "scheduled"
    assert (scheduled.worklist.config.steps_dir / f"{uid}.json").exists()


def test_steps_survive_a_restart(emr: RunningEmr, tmp_path: Path) -> None:
    order = _schedule(emr)
    network = write_network(tmp_path / "network.toml", emr.port)
    uid = str(new_uid())
    with running_worklist(worklist_config(network, tmp_path / "worklist")) as first:
        assert Station(first).create(creation(order), uid).Status == NStatus.SUCCESS
    with running_worklist(worklist_config(network, tmp_path / "worklist")) as second:
        station = Station(second)
        assert station.create(creation(order), uid).Status == NStatus.DUPLICATE_SOP_INSTANCE
        assert station.set(completion(), uid).Status == NStatus.SUCCESS
    assert emr.state(order.id)[0] == "acquired"


def test_emr_unreachable_refuses_the_step(tmp_path: Path) -> None:
    """The EMR cannot be told: Processing Failure, no step kept, so the station retries."""
    with ExitStack() as emr_running:
        emr = emr_running.enter_context(running_emr(tmp_path))
        order = _schedule(emr)
        network = write_network(tmp_path / "network.toml", emr.port)
        with running_worklist(worklist_config(network, tmp_path / "worklist")) as worklist:
            emr_running.close()
            status = Station(worklist).create(creation(order), str(new_uid()))
            assert status.Status == NStatus.PROCESSING_FAILURE
            assert "EMR is unreachable" in status.ErrorComment
            assert list(worklist.config.steps_dir.glob("*.json")) == []
