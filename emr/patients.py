"""Registering, editing and finding patients, with validation that maps to DICOM.

A patient's MRN becomes the DICOM Patient ID (LO, PS3.5 6.2: at most 64
characters) and the name a Person Name (PN, PS3.5 6.2.1: components family,
given, middle, prefix, suffix separated by ``^``, at most 64 characters per
component group, no ``\\``, ``^`` or ``=`` inside a component).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from emr.audit import Actor, record
from emr.exceptions import Conflict, NotFound, ValidationError
from emr.models import Patient, Sex

__all__ = ["MAX_AGE_YEARS", "PatientDetails", "create_patient", "get_patient",
           "possible_duplicates", "search_patients", "update_patient", "validate_details"]

#: The oldest plausible patient.
MAX_AGE_YEARS = 130
_PN_GROUP_MAX = 64
_MRN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
# Letters of any script, joined by single spaces, apostrophes, hyphens or periods.
_NAME = re.compile(r"^[^\W\d_]+(?:[ '’.-]{1,2}[^\W\d_]+)*\.?$")


@dataclass(frozen=True)
class PatientDetails:
    """What a nurse enters for a patient."""

    mrn: str
    family_name: str
    given_name: str
    birth_date: date | None
    sex: str = ""
    middle_name: str = ""
    name_prefix: str = ""
    name_suffix: str = ""

    def cleaned(self) -> PatientDetails:
        """The same details with surrounding and doubled spaces removed."""
        def tidy(value: str) -> str:
            return " ".join(value.split())
        return PatientDetails(
            mrn=self.mrn.strip(), family_name=tidy(self.family_name),
            given_name=tidy(self.given_name), birth_date=self.birth_date,
            sex=self.sex.strip().upper(), middle_name=tidy(self.middle_name),
            name_prefix=tidy(self.name_prefix), name_suffix=tidy(self.name_suffix))


def _name_errors(details: PatientDetails) -> dict[str, str]:
    errors = {}
    parts = {"family_name": details.family_name, "given_name": details.given_name,
             "middle_name": details.middle_name, "name_prefix": details.name_prefix,
             "name_suffix": details.name_suffix}
    if not details.family_name:
        errors["family_name"] = "the family name is required"
    for key, value in parts.items():
        if value and not _NAME.match(value):
            errors[key] = "use letters, spaces, apostrophes, hyphens and periods only"
        elif len(value) > _PN_GROUP_MAX:
            errors[key] = f"at most {_PN_GROUP_MAX} characters"
    order = ("family_name", "given_name", "middle_name", "name_prefix", "name_suffix")
    group = "^".join(parts[k] for k in order).rstrip("^")
    if len(group) > _PN_GROUP_MAX and not errors:
        errors["family_name"] = (f"the whole name may have at most {_PN_GROUP_MAX} characters "
                                 "(DICOM Person Name)")
    return errors


def validate_details(details: PatientDetails, today: date) -> PatientDetails:
    """Return cleaned details, or raise :class:`ValidationError` naming each bad field."""
    details = details.cleaned()
    errors = _name_errors(details)
    if not _MRN.match(details.mrn):
        errors["mrn"] = ("1-64 letters, digits, '.', '_', '/' or '-', "
                         "starting with a letter or digit")
    if details.birth_date is None:
        errors["birth_date"] = "the birth date is required"
    elif details.birth_date > today:
        errors["birth_date"] = "the birth date is in the future"
    elif details.birth_date < _years_before(today, MAX_AGE_YEARS):
        errors["birth_date"] = f"the birth date is more than {MAX_AGE_YEARS} years ago"
    if details.sex not in {s.value for s in Sex}:
        errors["sex"] = "choose M, F, O or unknown"
    if errors:
        raise ValidationError("the patient's details are not valid", errors)
    return details


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def _mrn_taken(db: Session, mrn: str, except_id: int | None = None) -> bool:
    query = select(Patient.id).where(func.lower(Patient.mrn) == mrn.lower())
    if except_id is not None:
        query = query.where(Patient.id != except_id)
    return db.scalar(query) is not None


def possible_duplicates(db: Session, details: PatientDetails) -> list[Patient]:
    """Registered patients with the same family name, given name and birth date.

    Names are compared without regard to case or surrounding spaces; a match is
    only a warning (two people may share both), never a refusal.
    """
    details = details.cleaned()
    if details.birth_date is None or not details.family_name:
        return []
    query = select(Patient).where(
        func.lower(Patient.family_name) == details.family_name.lower(),
        func.lower(Patient.given_name) == details.given_name.lower(),
        Patient.birth_date == details.birth_date).order_by(Patient.id)
    return list(db.scalars(query))


def create_patient(db: Session, details: PatientDetails, actor: Actor, today: date) -> Patient:
    """Register a patient; raise :class:`ValidationError` or :class:`Conflict`."""
    details = validate_details(details, today)
    if _mrn_taken(db, details.mrn):
        raise Conflict("a patient with this MRN is already registered")
    patient = Patient(**{f.name: getattr(details, f.name) for f in fields(details)})
    patient.sex = Sex(details.sex)
    db.add(patient)
    db.flush()
    record(db, actor, "patient.create", patient_id=patient.id)
    return patient


def update_patient(db: Session, patient: Patient, details: PatientDetails, actor: Actor,
                   today: date) -> list[str]:
    """Change a patient's details; return the names of the fields that changed."""
    details = validate_details(details, today)
    if _mrn_taken(db, details.mrn, except_id=patient.id):
        raise Conflict("another patient has this MRN")
    changed = []
    for f in fields(details):
        new = Sex(details.sex) if f.name == "sex" else getattr(details, f.name)
        if getattr(patient, f.name) != new:
            setattr(patient, f.name, new)
            changed.append(f.name)
    if changed:
        record(db, actor, "patient.update", patient_id=patient.id,
               detail={"fields": changed})
    return changed


def get_patient(db: Session, patient_id: int) -> Patient:
    """The patient with this id, or :class:`NotFound`."""
    patient = db.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"no patient {patient_id}")
    return patient


def search_patients(db: Session, mrn: str = "", name: str = "",
                    birth_date: date | None = None, limit: int = 50) -> list[Patient]:
    """Patients matching every criterion given: MRN prefix, name part, birth date."""
    query = select(Patient)
    if mrn.strip():
        query = query.where(func.lower(Patient.mrn).startswith(mrn.strip().lower(),
                                                               autoescape=True))
    for word in name.replace(",", " ").replace("^", " ").split():
        word = word.lower()
        query = query.where(or_(*(func.lower(column).contains(word, autoescape=True)
                                  for column in (Patient.family_name, Patient.given_name,
                                                 Patient.middle_name))))
    if birth_date is not None:
        query = query.where(Patient.birth_date == birth_date)
    query = query.order_by(Patient.family_name, Patient.given_name, Patient.id).limit(limit)
    return list(db.scalars(query))
