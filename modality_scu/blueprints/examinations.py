"""One examination: its photographs (upload or simulated capture), its progress,
cancelling it; and the outbox page of everything still waiting."""

from __future__ import annotations

from datetime import datetime

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
from modality_scu.forms import AcquisitionForm, CancelForm
from modality_scu.models import Procedure, ProcedureState
from modality_scu.monitoring import count_acquisition
from modality_scu.photographs import (
    EYE_NAMES,
    Photograph,
    default_seed,
    photograph_from_upload,
    simulated_photograph,
)
from modality_scu.procedures import cancel, item_of, outbox_status, submit
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
    return render_template(
        "examination.html", procedure=procedure, item=item, form=form,
        cancel_form=CancelForm(), errors=errors or [], eye_names=EYE_NAMES,
        cancel_reason=DiscontinuationReason[reason].meaning if reason else "",
        refresh=REFRESH_SECONDS if waiting else None, config=station().config), status


@bp.get("/examinations/<int:procedure_id>")
@login_required
def show(procedure_id: int) -> tuple[str, int]:
    return _render(_procedure(procedure_id))


def _read(upload: FileStorage, limit: int) -> bytes:
    """At most ``limit + 1`` bytes: enough to tell a file too large without reading it all."""
    return upload.stream.read(limit + 1)


def _photographs(form: AcquisitionForm, procedure: Procedure
                 ) -> tuple[dict[Laterality, list[Photograph]], list[str]]:
    """Every eye's photographs from the form, and a message for each file refused."""
    config = station().config
    patient_id = item_of(procedure).patient.patient_id
    taken_at = datetime.now(config.zone).replace(tzinfo=None)
    photos: dict[Laterality, list[Photograph]] = {}
    errors: list[str] = []
    for eye, prefix in _FIELDS.items():
        found = photos.setdefault(eye, [])
        for upload in request.files.getlist(f"{prefix}_files"):
            if not upload.filename:
                continue  # an empty file input
            try:
                found.append(photograph_from_upload(
                    upload.filename, _read(upload, config.max_upload_bytes), eye, patient_id,
                    config.max_upload_bytes, taken_at))
            except UploadError as exc:
                log.warning("upload refused", procedure=procedure.id, reason=exc.reason)
                errors.append(str(exc))
        if getattr(form, f"{prefix}_simulate").data:
            grade = int(getattr(form, f"{prefix}_grade").data)
            try:
                found.append(simulated_photograph(eye, grade, int(form.seed.data or 0),
                                                  taken_at))
            except UploadError as exc:
                errors.append(str(exc))
    return photos, errors


@bp.post("/examinations/<int:procedure_id>/photographs")
@login_required
def photographs(procedure_id: int) -> Response | tuple[str, int]:
    procedure = _procedure(procedure_id)
    form = AcquisitionForm()
    if not form.validate_on_submit():
        return _render(procedure, form, ["Please correct the fields marked below; "
                                         "nothing was sent."], 422)
    photos, errors = _photographs(form, procedure)
    if errors:
        return _render(procedure, form, [*errors, "Nothing was sent."], 422)
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
    count_acquisition(images)
    ctx.sender.wake()
    flash(f"{len(images)} photograph(s) queued for {ctx.config.pacs.ae_title}. This page "
          f"shows their progress; the examination completes once the archive has "
          f"committed to every one.", "success")
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
