"""Diabetic-retinopathy grades and an eye's finding, as the reports and review use them.

Grades follow the International Clinical Diabetic Retinopathy (ICDR) severity
scale: Wilkinson CP et al., "Proposed international clinical diabetic
retinopathy and diabetic macular edema disease severity scales",
Ophthalmology 2003;110(9):1677-82. *Referable* DR is moderate
non-proliferative DR or worse, or macular oedema, the definition used by the
screening-AI literature (Gulshan V et al., JAMA 2016;316(22):2402-10).

Who decides that an eye is referable:

- for the AI's finding, the AI node, and only the AI node: its referable
  probability against the model's registered threshold. The EMR stores that
  decision with the finding and never derives it from the grade (the top
  grade of (0.29, 0.26, 0.21, 0.14, 0.10) is "no DR", yet the eye is referable);
- for an ophthalmologist's corrected finding, the ophthalmologist's grade:
  the reference standard, read by the definition above
  (:meth:`Finding.graded_by_ophthalmologist`).

Maculopathy is ``None`` when it was not assessed (a model without an oedema
output): it is shown as "not assessed", never read as "absent".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum

__all__ = ["DrGrade", "EYE_ORDER", "Finding", "ImageQuality", "PatientFinding", "worse_eye"]

#: The eyes in the order reports show them: right (OD), then left (OS).
EYE_ORDER = ("R", "L")


class DrGrade(IntEnum):
    """ICDR severity level; the value is the index of the grade's probability."""

    NO_DR = 0
    MILD = 1
    MODERATE = 2
    SEVERE = 3
    PROLIFERATIVE = 4

    @property
    def label(self) -> str:
        """The grade in words, as the ICDR scale names it."""
        return _GRADE_LABELS[self]


_GRADE_LABELS = {
    DrGrade.NO_DR: "No apparent retinopathy",
    DrGrade.MILD: "Mild non-proliferative diabetic retinopathy",
    DrGrade.MODERATE: "Moderate non-proliferative diabetic retinopathy",
    DrGrade.SEVERE: "Severe non-proliferative diabetic retinopathy",
    DrGrade.PROLIFERATIVE: "Proliferative diabetic retinopathy",
}


class ImageQuality(StrEnum):
    """Whether the photographs of an eye could be graded."""

    GOOD = "good"
    ADEQUATE = "adequate"
    UNGRADABLE = "ungradable"


@dataclass(frozen=True)
class Finding:
    """What one eye shows, and whether it is referred.

    Attributes:
        grade: the ICDR grade; ``None`` when the eye is ungradable.
        maculopathy: ``None`` when it was not assessed.
        referable: the referral decision as its maker gave it (see the module
            docstring); ``None``, unknown, exactly when the eye is ungradable.
        borderline: the decision lay within the AI node's margin of its
            threshold: it stands, but could have gone the other way.

    Raises:
        ValueError: a graded finding without a referral decision, or an
            ungradable one with a decision.
    """

    grade: DrGrade | None
    maculopathy: bool | None = None
    referable: bool | None = None
    borderline: bool = False

    def __post_init__(self) -> None:
        if self.grade is None and (self.referable is not None or self.maculopathy is not None):
            raise ValueError("an ungradable eye has no referral decision nor maculopathy")
        if self.grade is not None and self.referable is None:
            raise ValueError("a graded eye carries its referral decision")

    @classmethod
    def graded_by_ophthalmologist(cls, grade: DrGrade | None,
                                  maculopathy: bool | None) -> Finding:
        """An ophthalmologist's finding: the reference standard, referable by definition.

        Moderate NPDR or worse, or maculopathy (Gulshan 2016). This reads a
        person's grade; an AI finding's referral is the AI node's, never this.
        """
        if grade is None:
            return cls(None)
        return cls(grade, maculopathy, grade >= DrGrade.MODERATE or bool(maculopathy))

    @property
    def gradable(self) -> bool:
        """Whether the eye could be graded."""
        return self.grade is not None

    @property
    def label(self) -> str:
        """The finding in words."""
        if self.grade is None:
            return "Ungradable: re-image"
        suffix = ", with maculopathy" if self.maculopathy else ""
        return f"{self.grade.label}{suffix}"

    @property
    def referable_label(self) -> str:
        """"yes", "no" (either "borderline"), or "unknown" when ungradable."""
        if self.referable is None:
            return "unknown"
        return ("yes" if self.referable else "no") + (" (borderline)" if self.borderline else "")


@dataclass(frozen=True)
class PatientFinding(Finding):
    """The patient-level finding (:func:`worse_eye`): the eye that decides, and
    the eyes that could not be graded and must be re-imaged.

    Attributes:
        eye: ``"R"`` or ``"L"``, the eye whose finding this is; ``None`` when
            the patient is ungradable.
        reimage: the ungradable eyes, right first, whatever decided.
    """

    eye: str | None = None
    reimage: tuple[str, ...] = ()


def _severity(finding: Finding) -> tuple[int, int]:
    grade = -1 if finding.grade is None else int(finding.grade)
    return (grade, 1 if finding.maculopathy else 0)


def _patient_maculopathy(findings: Iterable[Finding]) -> bool | None:
    """Present in any eye; else not assessed in any; else absent."""
    values = [finding.maculopathy for finding in findings]
    if any(values):
        return True
    return None if any(value is None for value in values) else False


def worse_eye(eyes: Mapping[str, Finding]) -> PatientFinding:
    """The patient-level finding from each eye's (``"R"``/``"L"``) finding.

    A referable gradable eye decides, whatever the other eye shows (the worse
    of two referable eyes by grade, then maculopathy). Otherwise an
    ungradable eye makes the patient ungradable, since disease in it cannot
    be excluded; otherwise the higher grade (then maculopathy) decides. The
    ungradable eyes are named either way. The decision is borderline when a
    borderline eye could turn it: every referable eye borderline, or, for a
    patient not referred, any eye.

    Raises:
        ValueError: ``eyes`` is empty.
    """
    if not eyes:
        raise ValueError("a patient-level finding needs at least one eye")
    ordered = [(side, eyes[side]) for side in EYE_ORDER if side in eyes]
    reimage = tuple(side for side, finding in ordered if not finding.gradable)
    gradable = [(side, finding) for side, finding in ordered if finding.gradable]
    referable = [(side, finding) for side, finding in gradable if finding.referable]
    if not referable and reimage:
        return PatientFinding(None, reimage=reimage)
    side, worst = max(referable or gradable, key=lambda item: _severity(item[1]))
    deciding = referable or gradable
    borderline = (all(f.borderline for _, f in deciding) if referable
                  else any(f.borderline for _, f in gradable))
    return PatientFinding(worst.grade, _patient_maculopathy(f for _, f in gradable),
                          bool(referable), borderline, eye=side, reimage=reimage)
