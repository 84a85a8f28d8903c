"""Patients: search, register, edit, and the patient page with screenings over time."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from emr.audit import record
from emr.database import session
from emr.exceptions import Conflict, ValidationError
from emr.forms import PatientForm, show_errors
from emr.models import Patient
from emr.patients import (PatientDetails, create_patient, get_patient, possible_duplicates,
                          search_patients, update_patient)
from emr.recall import recall_entry
from emr.reports import screening_history
from emr.security import current_actor, may, require
from emr.web import app_config, parse_date, today

bp = Blueprint("patients", __name__, url_prefix="/patients")

Page = str | tuple[str, int] | Response


def _details(form: PatientForm) -> PatientDetails:
    return PatientDetails(
        mrn=form.mrn.data or "", family_name=form.family_name.data or "",
        given_name=form.given_name.data or "", birth_date=form.birth_date.data,
        sex=form.sex.data or "", middle_name=form.middle_name.data or "",
        name_prefix=form.name_prefix.data or "", name_suffix=form.name_suffix.data or "")


@bp.get("")
@require("patients.view")
def search() -> str:
    mrn = request.args.get("mrn", "").strip()
    name = request.args.get("name", "").strip()
    birth_date = parse_date(request.args.get("birth_date"))
    searched = bool(mrn or name or birth_date)
    db = session()
    patients = search_patients(db, mrn, name, birth_date) if searched else []
    if searched:
        record(db, current_actor(), "patient.search", detail={"results": len(patients)})
        db.commit()
    return render_template("patients/search.html", patients=patients, searched=searched,
                           mrn=mrn, name=name, birth_date=birth_date,
                           bad_date=bool(request.args.get("birth_date")) and not birth_date)


@bp.route("/new", methods=["GET", "POST"])
@require("patients.edit")
def new() -> Page:
    form = PatientForm()
    duplicates: list[Patient] = []
    if form.validate_on_submit():
        db = session()
        duplicates = [] if form.confirm_duplicate.data else possible_duplicates(db, _details(form))
        if duplicates:
            record(db, current_actor(), "patient.duplicate_warning",
                   detail={"matches": [p.id for p in duplicates]})
            db.commit()
            return render_template("patients/form.html", form=form, patient=None,
                                   duplicates=duplicates), 409
        try:
            patient = create_patient(db, _details(form), current_actor(), today())
            db.commit()
            flash("Patient registered.", "success")
            return redirect(url_for("patients.show", patient_id=patient.id))
        except ValidationError as exc:
            show_errors(form, exc)
        except Conflict as exc:
            form.mrn.errors = [*form.mrn.errors, str(exc)]
        db.rollback()
    status = 422 if request.method == "POST" else 200
    return render_template("patients/form.html", form=form, patient=None,
                           duplicates=duplicates), status


@bp.get("/<int:patient_id>")
@require("patients.view")
def show(patient_id: int) -> str:
    db = session()
    patient = get_patient(db, patient_id)
    history = screening_history(patient) if may("reports.view") else []
    recall = (recall_entry(db, patient, today(), app_config().zone)
              if may("recall.view") else None)
    record(db, current_actor(), "patient.view", patient_id=patient.id)
    db.commit()
    return render_template("patients/show.html", patient=patient, history=history,
                           recall=recall)


@bp.route("/<int:patient_id>/edit", methods=["GET", "POST"])
@require("patients.edit")
def edit(patient_id: int) -> Page:
    db = session()
    patient: Patient = get_patient(db, patient_id)
    form = PatientForm(obj=patient)
    if form.validate_on_submit():
        try:
            changed = update_patient(db, patient, _details(form), current_actor(), today())
            db.commit()
            flash("Patient updated." if changed else "Nothing changed.", "success")
            return redirect(url_for("patients.show", patient_id=patient.id))
        except ValidationError as exc:
            show_errors(form, exc)
        except Conflict as exc:
            form.mrn.errors = [*form.mrn.errors, str(exc)]
        db.rollback()
    elif request.method == "GET":
        record(db, current_actor(), "patient.view", patient_id=patient.id,
               detail={"page": "edit"})
        db.commit()
    status = 422 if request.method == "POST" else 200
    return render_template("patients/form.html", form=form, patient=patient), status
