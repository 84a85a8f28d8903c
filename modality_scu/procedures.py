"""Examinations: starting a worklist item, giving its photographs, cancelling it.

These functions keep the station's database and the outbox folder; they
know nothing about the web or associations. The web pages send the MPPS
N-CREATE before :func:`record_started`; the outbox sender sends the images
and the final N-SET that :func:`final_step` builds.

PS3.17 J.2.2 (IHE Scheduled Workflow): every image carries the worklist
item's Study Instance UID, Accession Number and a Request Attributes Sequence
with its Requested Procedure ID and Scheduled Procedure Step ID, and the
patient's identity as the worklist gave it.

Simulated captures (demo mode only, :func:`check_sources`) go in a series of
their own, marked by :func:`imaging_common.simulation.mark_simulated`; an eye
never has both a simulated capture and photographs.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from zoneinfo import ZoneInfo

from pydicom.dataset import Dataset
from sqlalchemy import select
from sqlalchemy.orm import Session

from imaging_common.builders import Equipment, Laterality, build_ophthalmic_photograph
from imaging_common.builders.procedure_step import (
    DiscontinuationReason,
    PerformedSeries,
    build_step_completed,
    build_step_discontinued,
    build_step_in_progress,
)
from imaging_common.logs import get_logger
from imaging_common.simulation import SIMULATED_SERIES_DESCRIPTION, mark_simulated
from imaging_common.uids import derived_uid, new_uid
from modality_scu.config import StationConfig
from modality_scu.exceptions import ProcedureError, UploadError
from modality_scu.models import ImageState, OutboxImage, Procedure, ProcedureState, utcnow
from modality_scu.outbox import Outbox
from modality_scu.photographs import EYE_NAMES, SIMULATED_SOURCE, Photograph
from modality_scu.worklist_query import WorklistItem

__all__ = ["PROTOCOL_SERIES_DESCRIPTION", "OutboxStatus", "StartPlan", "cancel",
           "check_acquisition", "check_eye_counts", "check_open", "check_sources", "equipment",
           "final_step", "find_open", "item_of", "local_time", "outbox_status", "plan_start",
           "record_started", "simulated_series_uid", "submit"]

log = get_logger(__name__)

PROTOCOL_SERIES_DESCRIPTION = "Fundus photography"
#: Series Number of the photographs, and of an examination's simulated captures.
PHOTOGRAPH_SERIES_NUMBER, SIMULATED_SERIES_NUMBER = 1, 2


def local_time(moment: datetime, zone: ZoneInfo) -> datetime:
    """A stored naive-UTC timestamp as the site's naive local time (for DICOM DA/TM)."""
    return moment.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)


def _software_version() -> str:
    try:
        return metadata.version("fovea")
    except metadata.PackageNotFoundError:
        return "unknown"


def equipment(config: StationConfig) -> Equipment:
    """The General Equipment module of the station's images."""
    return Equipment(manufacturer="Fovea", model_name="Fovea fundus station",
                     station_name=config.ae_title, software_versions=_software_version())


def item_of(procedure: Procedure) -> WorklistItem:
    """The worklist item an examination performs, as the worklist sent it."""
    return WorklistItem.from_dataset(Dataset.from_json(procedure.worklist_item))


def find_open(db: Session, item: WorklistItem) -> Procedure | None:
    """The examination of this station still open on ``item``, if any."""
    return db.scalar(select(Procedure).where(
        Procedure.study_instance_uid == item.request.study_instance_uid,
        Procedure.scheduled_procedure_step_id == item.request.scheduled_procedure_step_id,
        Procedure.state.in_((ProcedureState.IN_PROGRESS, ProcedureState.SENDING,
                             ProcedureState.DISCONTINUING))))


@dataclass(frozen=True)
class StartPlan:
    """An examination about to start: its MPPS instance and N-CREATE attribute list."""

    mpps_uid: str
    performed_procedure_step_id: str
    series_instance_uid: str
    started_at: datetime
    attributes: Dataset


def plan_start(item: WorklistItem, config: StationConfig, now: datetime | None = None
               ) -> StartPlan:
    """The MPPS that reports starting ``item`` (PS3.4 F.7.2.1), not yet sent."""
    started_at = now or utcnow()
    step_id = secrets.token_hex(8).upper()
    attributes = build_step_in_progress(
        item.step, item.patient, performed_procedure_step_id=step_id,
        station_ae_title=config.ae_title, station_name=config.ae_title,
        started_at=local_time(started_at, config.zone),
        description=PROTOCOL_SERIES_DESCRIPTION)
    return StartPlan(str(new_uid()), step_id, str(new_uid()), started_at, attributes)


def record_started(db: Session, item: WorklistItem, plan: StartPlan, operator_id: int
                   ) -> Procedure:
    """Keep an examination whose MPPS N-CREATE the worklist accepted."""
    procedure = Procedure(
        mpps_uid=plan.mpps_uid, performed_procedure_step_id=plan.performed_procedure_step_id,
        study_instance_uid=item.request.study_instance_uid,
        scheduled_procedure_step_id=item.request.scheduled_procedure_step_id,
        accession_number=item.request.accession_number,
        series_instance_uid=plan.series_instance_uid,
        worklist_item=item.dataset.to_json(), eyes="".join(e.value for e in item.eyes),
        state=ProcedureState.IN_PROGRESS, operator_id=operator_id, started_at=plan.started_at)
    db.add(procedure)
    db.commit()
    log.info("examination started", procedure=procedure.id, mpps_uid=plan.mpps_uid,
             accession_number=procedure.accession_number)
    return procedure


def check_eye_counts(photos: Mapping[Laterality, Sequence[Photograph]],
                     ordered: Sequence[Laterality], most: int) -> None:
    """Every eye the order asks for has 1 to ``most`` photographs; no other eye has any.

    Raises:
        UploadError: an eye without photographs, with too many, or not ordered.
    """
    for eye in Laterality:
        count = len(photos.get(eye, ()))
        name = EYE_NAMES[eye]
        if eye not in ordered and count:
            raise UploadError(f"The order is not for the {name}: remove its "
                              f"{count} photograph(s).", "eye_count")
        if eye in ordered and count == 0:
            raise UploadError(f"No photograph of the {name}: upload one or use simulated "
                              f"capture (or cancel the examination).", "eye_count")
        if count > most:
            raise UploadError(f"{count} photographs of the {name}; at most {most} are "
                              f"taken per eye.", "eye_count")


def check_open(procedure: Procedure) -> None:
    """The examination waits for its photographs.

    Raises:
        ProcedureError: they were given already, or it was cancelled.
    """
    if procedure.state != ProcedureState.IN_PROGRESS:
        raise ProcedureError(f"This examination is {procedure.state.label.lower()}: "
                             f"its photographs were already given or it was cancelled.")


def check_sources(photos: Mapping[Laterality, Sequence[Photograph]], demo: bool) -> None:
    """Simulated captures only in demo mode, and never beside photographs of the same eye.

    Raises:
        UploadError: a simulated capture outside demo mode, or mixed with uploads.
    """
    for eye, pictures in photos.items():
        simulated = sum(1 for p in pictures if p.simulated)
        if simulated and not demo:
            raise UploadError("Simulated capture is off: the network does not run in demo "
                              "mode. Upload the camera's photographs.", "simulation_off")
        if simulated and simulated < len(pictures):
            raise UploadError(f"The {EYE_NAMES[eye]} has both a simulated capture and "
                              f"uploaded photographs: a synthetic picture never goes into a "
                              f"study beside real ones of the same eye. Untick its simulated "
                              f"capture or remove its files.", "simulated_and_uploaded")


def check_acquisition(photos: Mapping[Laterality, Sequence[Photograph]], eyes: str,
                      config: StationConfig) -> None:
    """Everything :func:`submit` checks about the photographs before building anything.

    Raises:
        UploadError: eyes that do not match the order, or simulated captures refused.
    """
    check_eye_counts(photos, [Laterality(e) for e in eyes], config.max_images_per_eye)
    check_sources(photos, config.demo)


def simulated_series_uid(procedure: Procedure) -> str:
    """The Series Instance UID of an examination's simulated captures (derived from
    its photographs' series, so that the MPPS can name it again)."""
    return str(derived_uid(procedure.series_instance_uid, "simulated capture"))


def _build(photo: Photograph, item: WorklistItem, procedure: Procedure, config: StationConfig,
           number: int) -> Dataset:
    series = ((simulated_series_uid(procedure), SIMULATED_SERIES_NUMBER) if photo.simulated
              else (procedure.series_instance_uid, PHOTOGRAPH_SERIES_NUMBER))
    ds = build_ophthalmic_photograph(photo.image, item.patient, item.request, equipment(config),
                                     series_instance_uid=series[0], series_number=series[1],
                                     instance_number=number)
    if photo.simulated:
        mark_simulated(ds, photo.simulation)
    elif photo.note:
        ds.ImageComments = photo.note
    return ds


def submit(db: Session, procedure: Procedure,
           photos: Mapping[Laterality, Sequence[Photograph]],
           config: StationConfig, outbox: Outbox) -> list[OutboxImage]:
    """Build the examination's images and put them in the outbox; nothing is sent here.

    Raises:
        ProcedureError: the examination is not waiting for photographs.
        UploadError: the eyes do not match the order, or simulated captures are refused.
        DicomInputError: a picture cannot become an Ophthalmic Photograph.
    """
    check_open(procedure)
    item = item_of(procedure)
    check_acquisition(photos, procedure.eyes, config)
    ordered = [p for eye in (Laterality.RIGHT, Laterality.LEFT) for p in photos.get(eye, ())]
    datasets = [_build(photo, item, procedure, config, number)
                for number, photo in enumerate(ordered, start=1)]
    images = _write(outbox, procedure, datasets, ordered)
    procedure.state = ProcedureState.SENDING
    procedure.ended_at = utcnow()
    db.add_all(images)
    try:
        db.commit()
    except Exception:
        db.rollback()
        for image in images:
            outbox.remove(image.file_name)
        raise
    log.info("photographs queued", procedure=procedure.id, images=len(images),
             accession_number=procedure.accession_number)
    return images


def _write(outbox: Outbox, procedure: Procedure, datasets: Sequence[Dataset],
           photos: Sequence[Photograph]) -> list[OutboxImage]:
    """Write every file, or none: a failure removes those already written."""
    images: list[OutboxImage] = []
    try:
        for ds, photo in zip(datasets, photos, strict=True):
            name, size = outbox.write(ds)
            images.append(OutboxImage(
                procedure_id=procedure.id, sop_instance_uid=str(ds.SOPInstanceUID),
                sop_class_uid=str(ds.SOPClassUID),
                transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
                laterality=str(ds.ImageLaterality), instance_number=int(ds.InstanceNumber),
                file_name=name, size=size, source=photo.source[:64],
                state=ImageState.PENDING, attempts=0, next_attempt_at=utcnow()))
    except BaseException:
        for image in images:
            outbox.remove(image.file_name)
        raise
    return images


def cancel(db: Session, procedure: Procedure, reason: DiscontinuationReason) -> None:
    """Cancel an examination before its photographs are given; the MPPS
    DISCONTINUED is left to the outbox sender.

    Raises:
        ProcedureError: the photographs were given already, or it ended.
    """
    if procedure.state != ProcedureState.IN_PROGRESS:
        raise ProcedureError(f"This examination is {procedure.state.label.lower()}; "
                             f"it can no longer be cancelled.")
    procedure.state = ProcedureState.DISCONTINUING
    procedure.discontinuation_reason = reason.name
    procedure.ended_at = utcnow()
    procedure.mpps_next_attempt_at = utcnow()
    db.commit()
    log.info("examination cancelled", procedure=procedure.id, reason=reason.name,
             accession_number=procedure.accession_number)


def final_step(procedure: Procedure, config: StationConfig) -> Dataset:
    """The N-SET that ends the examination's MPPS: COMPLETED with every image, or
    DISCONTINUED with its reason (PS3.4 F.7.2.2)."""
    item = item_of(procedure)
    operator = procedure.operator.full_name.split()
    operators_name = "^".join([operator[-1], " ".join(operator[:-1])]).rstrip("^") \
        if operator else ""
    series = _performed_series(procedure, item.protocol_name, operators_name[:64],
                               config.pacs.ae_title or "")
    ended_at = local_time(procedure.ended_at or utcnow(), config.zone)
    if procedure.state == ProcedureState.DISCONTINUING:
        reason = DiscontinuationReason[procedure.discontinuation_reason or "UNSPECIFIED"]
        return build_step_discontinued(ended_at, series, reason)
    return build_step_completed(ended_at, series)


def _performed_series(procedure: Procedure, protocol_name: str, operators_name: str,
                      retrieve_ae_title: str) -> list[PerformedSeries]:
    """The examination's series for the MPPS: its photographs, and its simulated
    captures in their own series; a series without images is left out, unless
    the examination has none at all (a cancelled one)."""
    simulated = [i for i in procedure.images if i.source.startswith(SIMULATED_SOURCE)]
    photographs = [i for i in procedure.images if i not in simulated]
    series = []
    for uid, description, images in (
            (procedure.series_instance_uid, PROTOCOL_SERIES_DESCRIPTION, photographs),
            (simulated_series_uid(procedure), SIMULATED_SERIES_DESCRIPTION, simulated)):
        if images or (not procedure.images and uid == procedure.series_instance_uid):
            series.append(PerformedSeries(
                series_instance_uid=uid, protocol_name=protocol_name,
                images=tuple((i.sop_class_uid, i.sop_instance_uid) for i in images),
                series_description=description, operators_name=operators_name,
                retrieve_ae_title=retrieve_ae_title))
    return series


@dataclass(frozen=True)
class OutboxStatus:
    """What waits at this station, for the pages.

    Attributes:
        waiting: images not yet stored by the archive.
        uncommitted: images stored but not yet committed.
        steps_waiting: examinations whose MPPS end is not yet accepted.
        last_error: the most recent error of any of these, if one.
    """

    waiting: int
    uncommitted: int
    steps_waiting: int
    last_error: str

    @property
    def empty(self) -> bool:
        return not (self.waiting or self.uncommitted or self.steps_waiting)


def outbox_status(db: Session) -> OutboxStatus:
    """Count what waits in the outbox and find its latest error."""
    images = db.scalars(select(OutboxImage).where(
        OutboxImage.state.in_((ImageState.PENDING, ImageState.STORED)))).all()
    steps = db.scalars(select(Procedure).where(
        Procedure.state.in_((ProcedureState.SENDING, ProcedureState.DISCONTINUING)))).all()
    failed_images = sorted((i for i in images if i.last_error), key=lambda i: i.next_attempt_at)
    errors = [i.last_error for i in failed_images[-1:]]
    errors += [p.mpps_last_error for p in steps if p.mpps_last_error]
    return OutboxStatus(
        waiting=sum(1 for i in images if i.state == ImageState.PENDING),
        uncommitted=sum(1 for i in images if i.state == ImageState.STORED),
        steps_waiting=len(steps), last_error=errors[0] if errors else "")
