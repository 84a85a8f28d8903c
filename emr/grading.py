"""Diabetic-retinopathy grades and an eye's finding, as the reports and review use them.

Grades follow the International Clinical Diabetic Retinopathy (ICDR) severity
scale: Wilkinson CP et al., "Proposed international clinical diabetic
retinopathy and diabetic macular edema disease severity scales",
Ophthalmology 2003;110(9):1677-82. *Referable* DR is moderate
non-proliferative DR or worse, or macular oedema, the definition used by the
screening-AI literature (Gulshan V et al., JAMA 2016;316(22):2402-10).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum

__all__ = ["DrGrade", "Finding", "ImageQuality", "worse_eye"]


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
    """What one eye shows: a grade (``None`` when ungradable) and maculopathy.

    ``maculopathy`` is ``None`` when it was not assessed.
    """

    grade: DrGrade | None
    maculopathy: bool | None = None

    @property
    def gradable(self) -> bool:
        """Whether the eye could be graded."""
        return self.grade is not None

    @property
    def referable(self) -> bool:
        """Moderate NPDR or worse, or macular oedema (Gulshan 2016)."""
        if self.grade is None:
            return False
        return self.grade >= DrGrade.MODERATE or bool(self.maculopathy)

    @property
    def label(self) -> str:
        """The finding in words."""
        if self.grade is None:
            return "Ungradable"
        suffix = ", with maculopathy" if self.maculopathy else ""
        return f"{self.grade.label}{suffix}"


def _severity(finding: Finding) -> tuple[int, int]:
    grade = -1 if finding.grade is None else int(finding.grade)
    return (grade, 1 if finding.maculopathy else 0)


def worse_eye(findings: Iterable[Finding]) -> Finding:
    """The patient-level finding: the worse eye.

    A referable gradable eye decides, whatever the other eye shows. Otherwise
    an ungradable eye makes the patient ungradable, since disease in it cannot
    be excluded; otherwise the higher grade (then maculopathy) decides.

    Raises:
        ValueError: ``findings`` is empty.
    """
    eyes = list(findings)
    if not eyes:
        raise ValueError("a patient-level finding needs at least one eye")
    gradable = [f for f in eyes if f.gradable]
    worst = max(gradable, key=_severity) if gradable else None
    if worst is not None and worst.referable:
        return worst
    if len(gradable) < len(eyes) or worst is None:
        return Finding(None, None)
    return worst
