"""The web forms (Flask-WTF: every POST form carries a CSRF token).

Forms parse and check what a browser sends; the rules of the domain (valid
names, allowed transitions) live in the domain modules, whose
:class:`~emr.exceptions.ValidationError` is shown on the form by :func:`show_errors`.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateField, DateTimeLocalField, Field, PasswordField,
                     RadioField, SelectField, StringField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional

from emr.exceptions import ValidationError
from emr.grading import DrGrade
from emr.models import Laterality, Priority, Role, Sex

__all__ = ["CsrfForm", "LoginForm", "OrderForm", "PatientForm", "StateForm", "UserCreateForm",
           "UserEditForm", "review_form", "show_errors"]


def show_errors(form: FlaskForm, error: ValidationError) -> None:
    """Put a domain validation error's messages on the form's fields."""
    for name, message in error.fields.items():
        field = getattr(form, name.replace(".", "_"), None)
        if isinstance(field, Field):
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)
    if not error.fields:
        form.form_errors.append(str(error))


def choices(pairs: list[tuple[str, str]]) -> list[SelectChoice]:
    """Options of a select or radio field, as (value, label) pairs."""
    return [SelectChoice(value=value, label=label) for value, label in pairs]


class CsrfForm(FlaskForm):
    """A form with no fields: a button that POSTs (log out), protected by CSRF."""


class LoginForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])


class PatientForm(FlaskForm):
    mrn = StringField("MRN (patient ID)", validators=[DataRequired(), Length(max=64)])
    family_name = StringField("Family name", validators=[DataRequired(), Length(max=64)])
    given_name = StringField("Given name", validators=[Length(max=64)])
    middle_name = StringField("Middle name", validators=[Length(max=64)])
    name_prefix = StringField("Prefix", validators=[Length(max=64)])
    name_suffix = StringField("Suffix", validators=[Length(max=64)])
    birth_date = DateField("Birth date", validators=[InputRequired()])
    sex = SelectField("Sex", choices=choices([
        (Sex.FEMALE.value, "Female"), (Sex.MALE.value, "Male"), (Sex.OTHER.value, "Other"),
        (Sex.UNKNOWN.value, "Unknown")]))
    #: Set when the nurse has seen the "possible duplicate" warning and still registers.
    confirm_duplicate = BooleanField("This is a different person: register anyway")


class OrderForm(FlaskForm):
    laterality = RadioField("Eyes", default=Laterality.BOTH.value,
                            choices=choices([(Laterality.BOTH.value, "Both eyes"),
                                             (Laterality.RIGHT.value, "Right eye (OD)"),
                                             (Laterality.LEFT.value, "Left eye (OS)")]))
    priority = SelectField("Priority", default=Priority.ROUTINE.value,
                           choices=choices([(p.value, p.value.title()) for p in Priority]))
    station_ae = SelectField("Station", validators=[DataRequired()])
    scheduled_at = DateTimeLocalField("Appointment", format="%Y-%m-%dT%H:%M",
                                      validators=[InputRequired()])
    reason = StringField("Reason", validators=[Length(max=64)])


class StateForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=500)])


class UserCreateForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=64)])
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=128)])
    role = SelectField("Role", choices=choices([(r.value, r.value.title()) for r in Role]))
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    confirm = PasswordField("Repeat the password",
                            validators=[EqualTo("password", "the passwords differ")])


class UserEditForm(FlaskForm):
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=128)])
    role = SelectField("Role", choices=choices([(r.value, r.value.title()) for r in Role]))
    active = BooleanField("Active (may log in)")
    password = PasswordField("New password (leave empty to keep)",
                             validators=[Optional(), Length(max=128)])


GRADE_CHOICES = choices([("", "(as the AI found)")] + [
    (str(g.value), f"{g.value}: {g.label}") for g in DrGrade] + [("ungradable", "Ungradable")])
MACULOPATHY_CHOICES = choices([("", "(as the AI found)"), ("yes", "Present"), ("no", "Absent"),
                               ("unknown", "Not assessed")])
EYE_NAMES = {"R": "Right eye (OD)", "L": "Left eye (OS)"}


def review_form(eyes: tuple[str, ...], **kwargs: Any) -> FlaskForm:
    """A review form with a decision, grade, maculopathy and comment per eye."""
    attributes: dict[str, Any] = {}
    for eye in eyes:
        attributes[f"{eye}_decision"] = RadioField(
            "Decision", choices=choices([("approve", "Approve the AI finding"),
                                         ("correct", "Correct it")]),
            validators=[InputRequired()])
        # Left empty for an approval; the view checks the values.
        attributes[f"{eye}_grade"] = SelectField("Corrected grade", choices=GRADE_CHOICES,
                                                 validate_choice=False)
        attributes[f"{eye}_maculopathy"] = SelectField(
            "Maculopathy", choices=MACULOPATHY_CHOICES, validate_choice=False)
        attributes[f"{eye}_comment"] = TextAreaField("Comment", validators=[Length(max=2000)])
    form_class = type("ReviewForm", (FlaskForm,), attributes)
    return form_class(**kwargs)
