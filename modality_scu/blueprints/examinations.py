"""One examination: its photographs (upload or simulated capture), its progress,
cancelling it; and the outbox page of everything still waiting.

Before anything is sent, every picture's eye is checked against the image
(:func:`modality_scu.photographs.laterality_doubt_of`). When one looks like the
other eye, the pictures wait in the holding area (:mod:`modality_scu.holding`)
and the page shows each of them with the station's reason: the technician
sends them as given, moves some to the other eye, swaps right and left, or
puts them aside. Nothing reaches the outbox before that decision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from imaging_common.builders import Laterality
from imaging_common.builders.procedure_step import DiscontinuationReason
from imaging_common.exceptions import DicomInputError
from imaging_common.logs import get_logger
from modality_scu.database import session as db_session
from modality_scu.exceptions import ProcedureError, UploadError
from modality_scu.forms import AcquisitionForm, CancelForm, CsrfForm
from modality_scu.holding import GivenPicture, HeldSet, decide
from modality_scu.models import OutboxImage, Procedure, ProcedureState
from modality_scu.monitoring import count_acquisition, count_laterality_doubts
from modality_scu.photographs import (
    EYE_NAMES,
    Photograph,
    default_seed,
    laterality_doubt_of,
    photograph_from_upload,
    simulated_photograph,
)
from modality_scu.procedures import (
    cancel,
    check_acquisition,
    check_open,
    item_of,
    outbox_status,
    submit,
)
from modality_scu.thumbnails import thumbnail_png
from modality_scu.web import station

bp = Blueprint("examinations", __name__)
log = get_logger(__name__)

#: Seconds between reloads of a page whose examination is still sending.
REFRESH_SECONDS = 3
_FIELDS = {Laterality.RIGHT: "right", Laterality.LEFT: "left"}


def _procedure(procedure_id: int) -> Procedure:
    procedure = db_session().get(Procedure, procedure_id)
    if procedure is None:
        abort(404)
    return procedure


def _render(procedure: Procedure, form: AcquisitionForm | None = None,
            errors: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    item = item_of(procedure)
    if form is None:
        form = AcquisitionForm(seed=default_seed(procedure.accession_number))
    waiting = procedure.state in (ProcedureState.SENDING, ProcedureState.DISCONTINUING)
    reason = procedure.discontinuation_reason
    held = station().holding.get(procedure.id) \
        if procedure.state == ProcedureState.IN_PROGRESS else None
    return render_template(
        "examination.html", procedure=procedure, item=item, form=form,
        cancel_form=CancelForm(), check_form=CsrfForm(), errors=errors or [],
        eye_names=EYE_NAMES, held=held, held_rows=_held_rows(held),
        sent_rows=_sent_rows(procedure),
        cancel_reason=DiscontinuationReason[reason].meaning if reason else "",
        refresh=REFRESH_SECONDS if waiting else None, config=station().config), status


@bp.get("/examinations/<int:procedure_id>")
@login_required
def show(procedure_id: int) -> tuple[str, int]:
    return _render(_procedure(procedure_id))


def _read(upload: FileStorage, limit: int) -> bytes:
    """At most ``limit + 1`` bytes: enough to tell a file too large without reading it all."""
    return upload.stream.read(limit + 1)


def _given(form: AcquisitionForm) -> list[GivenPicture]:
    """Every picture on the form, as given: each eye's files, then its simulated capture."""
    limit = station().config.max_upload_bytes
    given = []
    for eye, prefix in _FIELDS.items():
        for upload in request.files.getlist(f"{prefix}_files"):
            if upload.filename:  # an empty file input has none
                given.append(GivenPicture(eye, upload.filename, _read(upload, limit)))
        if getattr(form, f"{prefix}_simulate").data:
            given.append(GivenPicture(eye, grade=int(getattr(form, f"{prefix}_grade").data)))
    return given


def _photograph(picture: GivenPicture, patient_id: str, taken_at: datetime,
                seed: int) -> Photograph:
    """Raises UploadError."""
    if picture.grade is not None:
        photo = simulated_photograph(picture.eye, picture.grade, seed, taken_at)
    else:
        photo = photograph_from_upload(picture.name, picture.data, picture.eye, patient_id,
                                       station().config.max_upload_bytes, taken_at)
    return dataclasses.replace(photo, note=picture.note)


def _photographs(given: Sequence[GivenPicture], procedure: Procedure, taken_at: datetime,
                 seed: int) -> tuple[dict[Laterality, list[Photograph]], list[str]]:
    """Every eye's photographs, and a message for each picture refused."""
    patient_id = item_of(procedure).patient.patient_id
    photos: dict[Laterality, list[Photograph]] = {eye: [] for eye in _FIELDS}
    errors: list[str] = []
    for picture in given:
        try:
            photos[picture.eye].append(_photograph(picture, patient_id, taken_at, seed))
        except UploadError as exc:
            log.warning("upload refused", procedure=procedure.id, reason=exc.reason)
            errors.append(str(exc))
    return photos, errors


def _with_doubts(given: Sequence[GivenPicture], photos: dict[Laterality, list[Photograph]]
                 ) -> list[GivenPicture]:
    """The pictures, each with the station's doubt about its eye (if any)."""
    made = {eye: iter(pictures) for eye, pictures in photos.items()}
    return [dataclasses.replace(picture, doubt=laterality_doubt_of(next(made[picture.eye])))
            for picture in given]


def _checked(procedure: Procedure, given: Sequence[GivenPicture], taken_at: datetime,
             seed: int, form: AcquisitionForm | None, check_eyes: bool,
             preview: bool = False) -> Response | tuple[str, int]:
    """Build, check and send the pictures, or show why not; nothing is sent on a doubt,
    nor when the technician asked to look at them first (``preview``)."""
    try:
        check_open(procedure)
    except ProcedureError as exc:
        flash(str(exc), "error")
        return redirect(url_for("examinations.show", procedure_id=procedure.id))
    photos, errors = _photographs(given, procedure, taken_at, seed)
    if errors:
        return _render(procedure, form, [*errors, "Nothing was sent."], 422)
    config = station().config
    try:
        check_acquisition(photos, procedure.eyes, config)
    except UploadError as exc:
        log.warning("upload refused", procedure=procedure.id, reason=exc.reason)
        return _render(procedure, form, [str(exc), "Nothing was sent."], 422)
    if check_eyes:
        pictures = _with_doubts(given, photos)
        if preview or any(p.doubt for p in pictures):
            station().holding.hold(procedure.id, pictures, taken_at, seed)
            count_laterality_doubts(sum(1 for p in pictures if p.doubt))
            return _render(procedure, form)
    return _send(procedure, photos, form)


def _send(procedure: Procedure, photos: dict[Laterality, list[Photograph]],
          form: AcquisitionForm | None) -> Response | tuple[str, int]:
    ctx = station()
    try:
        images = submit(db_session(), procedure, photos, ctx.config, ctx.outbox)
    except UploadError as exc:
        log.warning("upload refused", procedure=procedure.id, reason=exc.reason)
        return _render(procedure, form, [str(exc), "Nothing was sent."], 422)
    except DicomInputError as exc:
        log.warning("upload refused", procedure=procedure.id, reason="not_buildable")
        return _render(procedure, form, [f"A photograph cannot become an Ophthalmic "
                                         f"Photography image: {exc}.", "Nothing was sent."],
                       422)
    except ProcedureError as exc:
        flash(str(exc), "error")
        return redirect(url_for("examinations.show", procedure_id=procedure.id))
    ctx.holding.discard(procedure.id)
    _keep_thumbnails(images, photos)
    count_acquisition(images)
    ctx.sender.wake()
    flash(f"{len(images)} photograph(s) queued for {ctx.config.pacs.ae_title}. This page "
          f"shows their progress; the examination completes once the archive has "
          f"committed to every one.", "success")
    return redirect(url_for("examinations.show", procedure_id=procedure.id))


def _keep_thumbnails(images: Sequence[OutboxImage],
                     photos: dict[Laterality, list[Photograph]]) -> None:
    """Keep a thumbnail of each image queued, for the page; the images are queued
    already, so a thumbnail that cannot be made is only logged."""
    ordered = [p for eye in (Laterality.RIGHT, Laterality.LEFT) for p in photos.get(eye, ())]
    try:
        station().thumbnails.keep(
            (image.sop_instance_uid, photo) for image, photo in zip(images, ordered, strict=True))
    except (OSError, ValueError) as exc:
        log.warning("thumbnails not kept", error=type(exc).__name__)


def _held_rows(held: HeldSet | None) -> list[dict[str, Any]]:
    """What the page shows of each held picture, in the order held (its thumbnail's
    index); a picture that no longer builds has no thumbnail: sending it says why."""
    if held is None:
        return []
    return [{"eye": picture.eye.value, "doubt": picture.doubt, "index": index,
             "name": picture.name or f"simulated capture (severity {picture.grade})"}
            for index, picture in enumerate(held.pictures)]


def _sent_rows(procedure: Procedure) -> dict[str, list[dict[str, Any]]]:
    """Each eye's images sent (or being sent), with the name each was given by."""
    thumbnails = station().thumbnails
    rows: dict[str, list[dict[str, Any]]] = {}
    for image in procedure.images:
        rows.setdefault(image.laterality, []).append({
            "id": image.id, "number": image.instance_number,
            "name": thumbnails.name_of(image.sop_instance_uid) or image.source,
            "kept": thumbnails.has(image.sop_instance_uid)})
    return rows


def _png(data: bytes) -> Response:
    """A thumbnail for the logged-in technician only: never kept by a shared cache."""
    response = Response(data, mimetype="image/png")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/examinations/<int:procedure_id>/held/<int:index>.png")
@login_required
def held_thumbnail(procedure_id: int, index: int) -> Response:
    """The thumbnail of one picture waiting to be sent, made from what is held."""
    procedure = _procedure(procedure_id)
    held = station().holding.get(procedure.id)
    if held is None or not 0 <= index < len(held.pictures):
        abort(404)
    patient_id = item_of(procedure).patient.patient_id
    try:
        photo = _photograph(held.pictures[index], patient_id, held.taken_at, held.seed)
    except UploadError:
        abort(404)
    return _png(thumbnail_png(photo))


@bp.get("/examinations/<int:procedure_id>/images/<int:image_id>.png")
@login_required
def sent_thumbnail(procedure_id: int, image_id: int) -> Response:
    """The thumbnail kept of one image sent."""
    image = db_session().get(OutboxImage, image_id)
    if image is None or image.procedure_id != procedure_id:
        abort(404)
    data = station().thumbnails.get(image.sop_instance_uid)
    if data is None:
        abort(404)
    return _png(data)


@bp.post("/examinations/<int:procedure_id>/photographs")
@login_required
def photographs(procedure_id: int) -> Response | tuple[str, int]:
    procedure = _procedure(procedure_id)
    form = AcquisitionForm()
    if not form.validate_on_submit():
        return _render(procedure, form, ["Please correct the fields marked below; "
                                         "nothing was sent."], 422)
    taken_at = datetime.now(station().config.zone).replace(tzinfo=None)
    return _checked(procedure, _given(form), taken_at, int(form.seed.data or 0), form,
                    check_eyes=True, preview=request.form.get("action") == "preview")


@bp.post("/examinations/<int:procedure_id>/photographs/checked")
@login_required
def checked(procedure_id: int) -> Response | tuple[str, int]:
    """The technician's decision on held pictures: send them with the eyes chosen
    (as given, or some moved), or swap right and left and send."""
    procedure = _procedure(procedure_id)
    held = station().holding.get(procedure.id)
    if not CsrfForm().validate_on_submit() or held is None \
            or request.form.get("token") != held.token:
        flash("These photographs were sent or put aside already; nothing was sent now.",
              "error")
        return redirect(url_for("examinations.show", procedure_id=procedure.id))
    try:
        pictures = decide(held, request.form)
    except ValueError as exc:
        return _render(procedure, None, [str(exc), "Nothing was sent."], 422)
    log.info("laterality check decided", procedure=procedure.id,
             action=request.form.get("action"),
             moved=sum(1 for p, q in zip(held.pictures, pictures) if p.eye != q.eye))
    return _checked(procedure, pictures, held.taken_at, held.seed, None, check_eyes=False)


@bp.post("/examinations/<int:procedure_id>/photographs/aside")
@login_required
def put_aside(procedure_id: int) -> Response:
    """Forget the held pictures: nothing is sent; the technician uploads again."""
    procedure = _procedure(procedure_id)
    if CsrfForm().validate_on_submit():
        station().holding.discard(procedure.id)
        flash("The photographs were put aside; nothing was sent. Upload the right ones.",
              "success")
    return redirect(url_for("examinations.show", procedure_id=procedure.id))


@bp.post("/examinations/<int:procedure_id>/cancel")
@login_required
def cancel_examination(procedure_id: int) -> Response:
    procedure = _procedure(procedure_id)
    form = CancelForm()
    if not form.validate_on_submit():
        flash("Choose why the examination is cancelled.", "error")
        return redirect(url_for("examinations.show", procedure_id=procedure.id))
    try:
        cancel(db_session(), procedure, DiscontinuationReason[form.reason.data])
    except ProcedureError as exc:
        flash(str(exc), "error")
        return redirect(url_for("examinations.show", procedure_id=procedure.id))
    station().holding.discard(procedure.id)
    station().sender.wake()
    flash("Examination cancelled; the worklist is being told (MPPS DISCONTINUED).", "success")
    return redirect(url_for("examinations.show", procedure_id=procedure.id))


@bp.get("/outbox")
@login_required
def outbox() -> str:
    db = db_session()
    waiting = db.scalars(select(Procedure).options(selectinload(Procedure.images)).where(
        Procedure.state.in_((ProcedureState.SENDING, ProcedureState.DISCONTINUING)))
        .order_by(Procedure.started_at)).all()
    finished = db.scalars(select(Procedure).where(
        Procedure.state.in_((ProcedureState.COMPLETED, ProcedureState.DISCONTINUED)))
        .order_by(Procedure.finished_at.desc()).limit(20)).all()
    return render_template("outbox.html", waiting=waiting, finished=finished,
                           status=outbox_status(db), config=station().config)
