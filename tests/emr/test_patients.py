"""Patients: validation that maps to DICOM, unique MRNs, search, edit, and the patient page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from emr.audit import Actor
from emr.database import session
from emr.exceptions import Conflict, ValidationError
from emr.models import AuditEntry, Patient
from emr.patients import (PatientDetails, create_patient, possible_duplicates, search_patients,
                          validate_details)

from .conftest import AuthActions, add_patient, user

TODAY = date(2026, 3, 1)


def details(**changes: object) -> PatientDetails:
    values: dict[str, object] = dict(mrn="MRN-0042", family_name="Doe", given_name="Jane",
                                     birth_date=date(1961, 4, 12), sex="F")
    values.update(changes)
    return PatientDetails(**values)  # type: ignore[arg-type]


def form(**changes: str) -> dict[str, str]:
    values = {"mrn": "MRN-0042", "family_name": "Doe", "given_name": "Jane",
              "birth_date": "1961-04-12", "sex": "F"}
    values.update(changes)
    return values


def count_patients(app: Flask) -> int:
    with app.app_context():
        return int(session().scalar(select(func.count(Patient.id))) or 0)


@pytest.mark.parametrize(("changes", "field"), [
    ({"mrn": ""}, "mrn"),
    ({"mrn": "has space"}, "mrn"),
    ({"mrn": "X" * 65}, "mrn"),
    ({"family_name": ""}, "family_name"),
    ({"family_name": "Do^e"}, "family_name"),
    ({"given_name": "J4ne"}, "given_name"),
    ({"given_name": "Jane=Doe"}, "given_name"),
    ({"middle_name": "back\\slash"}, "middle_name"),
    ({"family_name": "A" * 65}, "family_name"),
    ({"family_name": "Abcdefghij" * 4, "given_name": "Klmnopqrst" * 3}, "family_name"),
    ({"birth_date": None}, "birth_date"),
    ({"birth_date": TODAY + timedelta(days=1)}, "birth_date"),
    ({"birth_date": date(1890, 1, 1)}, "birth_date"),
    ({"sex": "X"}, "sex"),
])
def test_invalid_details_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_details(details(**changes), TODAY)
    assert field in caught.value.fields


@pytest.mark.parametrize("name", ["O'Brien", "Müller-Lüdenscheidt", "van der Berg", "Nguyễn",
                                  "St. John", "José María"])
def test_real_names_are_accepted(name: str) -> None:
    assert validate_details(details(family_name=name), TODAY).family_name == name


def test_details_are_tidied() -> None:
    cleaned = validate_details(details(mrn=" MRN-1 ", family_name="  Doe ", given_name="Mary  Ann",
                                       sex="f"), TODAY)
    assert (cleaned.mrn, cleaned.family_name, cleaned.given_name, cleaned.sex) == (
        "MRN-1", "Doe", "Mary Ann", "F")


def test_name_maps_to_dicom_person_name(app: Flask) -> None:
    patient_id = add_patient(app)
    with app.app_context():
        patient = session().get(Patient, patient_id)
        assert patient is not None
        assert patient.dicom_name == "Doe^Jane"
        patient.middle_name, patient.name_suffix = "Q", "Jr"
        assert patient.dicom_name == "Doe^Jane^Q^^Jr"
        assert patient.display_name == "DOE, Jane Q Jr"


def test_mrn_is_unique_whatever_the_case(app: Flask) -> None:
    add_patient(app, mrn="ABC-1")
    with app.app_context():
        db = session()
        nurse = Actor(user=user(app, "nurse"))
        with pytest.raises(Conflict):
            create_patient(db, details(mrn="abc-1"), nurse, TODAY)


def test_register_through_the_page(app: Flask, auth: AuthActions) -> None:
    auth.login("nurse")
    response = auth.post("/patients/new", form())
    assert response.status_code == 302
    page = auth.client.get(response.headers["Location"])
    assert "DOE, Jane" in page.text and "Doe^Jane" in page.text
    with app.app_context():
        actions = session().scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["patient.create", "patient.view"]


@pytest.mark.parametrize(("changes", "message"), [
    ({"birth_date": "2999-01-01"}, "the birth date is in the future"),
    ({"birth_date": "not a date"}, "Not a valid date value"),
    ({"given_name": "R2D2"}, "use letters, spaces"),
    ({"mrn": ""}, "This field is required"),
])
def test_bad_form_input_shows_a_message_and_changes_nothing(
        app: Flask, auth: AuthActions, changes: dict[str, str], message: str) -> None:
    auth.login("nurse")
    response = auth.post("/patients/new", form(**changes))
    assert response.status_code == 422
    assert message in response.text and "nothing was saved" in response.text
    assert 'aria-invalid="true"' in response.text
    assert count_patients(app) == 0


def test_duplicate_mrn_on_the_page(app: Flask, auth: AuthActions) -> None:
    add_patient(app, mrn="MRN-0042")
    auth.login("nurse")
    response = auth.post("/patients/new", form(family_name="Other"))
    assert response.status_code == 422
    assert "already registered" in response.text
    assert count_patients(app) == 1


def test_possible_duplicates_match_names_and_birth_date(app: Flask) -> None:
    first = add_patient(app, mrn="MRN-1", family="Doe", given="Jane")
    add_patient(app, mrn="MRN-2", family="Doe", given="John")
    add_patient(app, mrn="MRN-3", family="Doe", given="Jane", birth=date(1970, 1, 1))
    with app.app_context():
        found = possible_duplicates(session(), details(family_name=" doe ", given_name="JANE"))
        assert [p.id for p in found] == [first]
        assert possible_duplicates(session(), details(birth_date=None)) == []


def test_possible_duplicate_is_warned_and_saved_only_when_confirmed(
        app: Flask, auth: AuthActions) -> None:
    existing = add_patient(app, mrn="MRN-0001")
    auth.login("nurse")
    response = auth.post("/patients/new", form(mrn="MRN-0099"))
    assert response.status_code == 409
    assert "Possible duplicate" in response.text
    assert f'href="/patients/{existing}"' in response.text and "MRN-0001" in response.text
    assert count_patients(app) == 1
    confirmed = auth.post("/patients/new", form(mrn="MRN-0099", confirm_duplicate="y"))
    assert confirmed.status_code == 302
    assert count_patients(app) == 2
    with app.app_context():
        actions = session().scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["patient.duplicate_warning", "patient.create"]


def test_edit_records_the_changed_fields(app: Flask, auth: AuthActions) -> None:
    patient_id = add_patient(app, mrn="MRN-0042")
    auth.login("nurse")
    response = auth.post(f"/patients/{patient_id}/edit", form(given_name="Janet"))
    assert response.status_code == 302
    with app.app_context():
        db = session()
        patient = db.get(Patient, patient_id)
        assert patient is not None and patient.given_name == "Janet"
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "patient.update")).one()
        assert entry.patient_id == patient_id and "given_name" in entry.detail
        assert entry.user is not None and entry.user.username == "nurse"


def test_edit_with_bad_input_changes_nothing(app: Flask, auth: AuthActions) -> None:
    patient_id = add_patient(app)
    auth.login("nurse")
    response = auth.post(f"/patients/{patient_id}/edit", form(family_name="D0e"))
    assert response.status_code == 422
    with app.app_context():
        patient = session().get(Patient, patient_id)
        assert patient is not None and patient.family_name == "Doe"


def test_search_by_mrn_name_and_birth_date(app: Flask, auth: AuthActions) -> None:
    add_patient(app, mrn="A-100", family="Martin", given="Claire", birth=date(1950, 1, 2))
    add_patient(app, mrn="A-200", family="Nguyen", given="Minh", birth=date(1960, 3, 4))
    add_patient(app, mrn="B-300", family="Martinez", given="Ana", birth=date(1950, 1, 2))
    with app.app_context():
        db = session()

        def mrns(**criteria: object) -> list[str]:
            return [p.mrn for p in search_patients(db, **criteria)]  # type: ignore[arg-type]
        assert mrns(mrn="a-") == ["A-100", "A-200"]
        assert mrns(name="martin") == ["A-100", "B-300"]
        assert mrns(name="Martin, Claire") == ["A-100"]
        assert mrns(birth_date=date(1950, 1, 2)) == ["A-100", "B-300"]
        assert mrns(name="%") == []  # wild cards are taken literally
    auth.login("technician")
    page = auth.client.get("/patients?name=nguyen")
    assert "NGUYEN, Minh" in page.text and "MARTIN" not in page.text
    assert "Give the date" in auth.client.get("/patients?birth_date=1950-13-40").text
