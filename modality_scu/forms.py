"""The web forms (Flask-WTF: every POST form carries a CSRF token).

Forms parse what a browser sends; what the photographs must be is decided
in :mod:`modality_scu.photographs` and :mod:`modality_scu.procedures`.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (BooleanField, HiddenField, IntegerField, MultipleFileField,
                     SelectField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from imaging_common.builders.procedure_step import DiscontinuationReason

__all__ = ["AcquisitionForm", "CancelForm", "CsrfForm", "StartForm"]

#: ICDR severity levels a simulated capture can show.
SEVERITIES = [SelectChoice(value=str(grade), label=f"{grade}: {label}") for grade, label in (
    (0, "no apparent retinopathy"), (1, "mild NPDR"), (2, "moderate NPDR"),
    (3, "severe NPDR"), (4, "proliferative DR"))]


class CsrfForm(FlaskForm):
    """A form with no fields: a button that POSTs (log out), protected by CSRF."""


class StartForm(FlaskForm):
    """Start a worklist item: which one is named by its study and scheduled step."""

    item = HiddenField(validators=[DataRequired(), Length(max=90)])


class AcquisitionForm(FlaskForm):
    """The photographs of each eye: uploaded files, or a simulated capture."""

    right_files = MultipleFileField("Photographs of the right eye (OD)")
    right_simulate = BooleanField("Simulated capture of the right eye")
    right_grade = SelectField("Simulated severity", choices=SEVERITIES, default="0")
    left_files = MultipleFileField("Photographs of the left eye (OS)")
    left_simulate = BooleanField("Simulated capture of the left eye")
    left_grade = SelectField("Simulated severity", choices=SEVERITIES, default="0")
    seed = IntegerField("Simulation seed",
                        validators=[InputRequired(), NumberRange(0, 2**31 - 1)])


class CancelForm(FlaskForm):
    """Cancel an examination: the MPPS ends DISCONTINUED with this reason (CID 9300)."""

    reason = SelectField("Reason", default=DiscontinuationReason.UNSPECIFIED.name, choices=[
        SelectChoice(value=reason.name, label=reason.meaning) for reason in DiscontinuationReason])
