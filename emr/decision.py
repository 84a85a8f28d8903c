"""Decision support: the recommendation and re-screening interval for a patient.

This is the one place the recommendation is made, from the patient-level
(worse-eye) finding of :func:`emr.grading.worse_eye`, which carries each
eye's referral decision as the AI node made it (or as an ophthalmologist
corrected it). Whether to refer is that decision; the table below only says
how soon, and what to do when nothing is referred. It is the screening
programme's reading of two published guidelines:

- International Council of Ophthalmology, *ICO Guidelines for Diabetic Eye
  Care*, updated 2017 (follow-up and referral by ICDR severity and DME).
- American Academy of Ophthalmology, *Diabetic Retinopathy Preferred Practice
  Pattern*, 2019 (follow-up intervals).

Worse-eye finding, then recommendation:

- referable, with severe NPDR, proliferative DR or maculopathy: refer
  urgently (within 1 month);
- referable otherwise: refer to an ophthalmologist within 3 months;
- an eye ungradable, none referable: re-image that eye (within 1 month); if
  still ungradable, refer for examination;
- not referable, no apparent DR, no maculopathy: re-screen in 12 months;
- not referable, mild NPDR (or a higher grade below the threshold), no
  maculopathy: re-screen in 6 to 12 months;
- not referable, maculopathy not assessed: flagged for an ophthalmologist to
  assess the macula; if there is none, re-screen in 12 months (no apparent DR)
  or 6 to 12 months (mild NPDR or higher).

Maculopathy that was not assessed is never read as absent: those patients
are flagged for an ophthalmologist instead of taking a "no maculopathy" row.
A programme with other rules changes :data:`GUIDELINE_TABLE`, and nothing else.
The results are for research and demonstration, never for clinical use.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from emr.grading import DrGrade, Finding, PatientFinding

__all__ = ["GUIDELINE_SOURCES", "GUIDELINE_TABLE", "Recommendation", "eye_words", "recommend"]

GUIDELINE_SOURCES = (
    "International Council of Ophthalmology. ICO Guidelines for Diabetic Eye Care, "
    "updated 2017.",
    "American Academy of Ophthalmology. Diabetic Retinopathy Preferred Practice "
    "Pattern, 2019.",
)


@dataclass(frozen=True)
class Recommendation:
    """What to do next for a patient-level finding.

    Attributes:
        key: a stable name of the table row, e.g. ``"refer"``.
        finding: the row's condition in words.
        action: what to do, in words (naming the eyes to re-image).
        refer: whether the patient is referred to an ophthalmologist.
        urgent: whether the referral (or re-imaging) is urgent.
        interval_months: re-screening or referral interval, (shortest, longest).
        flag: the result needs an ophthalmologist's look before anything else
            (maculopathy not assessed).
        notes: what else the reader must know (an ungradable eye beside a
            referred one).
    """

    key: str
    finding: str
    action: str
    refer: bool
    urgent: bool
    interval_months: tuple[int, int]
    flag: bool = False
    notes: tuple[str, ...] = ()


URGENT = Recommendation("urgent", "Referable, with severe NPDR, proliferative DR or "
                        "maculopathy", "Refer urgently to an ophthalmologist (within 1 month)",
                        True, True, (0, 1))
REFER = Recommendation("refer", "Referable (the AI's decision at its threshold, or the "
                       "ophthalmologist's), not severe", "Refer to an ophthalmologist within "
                       "3 months", True, False, (0, 3))
UNGRADABLE = Recommendation("ungradable", "An eye ungradable, no eye referable",
                            "Re-image within 1 month; if still ungradable, refer for "
                            "examination", False, True, (0, 1))
NO_DR = Recommendation("no_dr", "Not referable: no apparent retinopathy, no maculopathy",
                       "Re-screen in 12 months", False, False, (12, 12))
MILD = Recommendation("mild", "Not referable: mild NPDR (or a higher grade below the referral "
                      "threshold), no maculopathy", "Re-screen in 6 to 12 months",
                      False, False, (6, 12))
NO_DR_MACULA_NOT_ASSESSED = Recommendation(
    "no_dr_macula_not_assessed",
    "Not referable: no apparent retinopathy; maculopathy not assessed",
    "Flag for an ophthalmologist to assess the macula on the photographs; if there is no "
    "maculopathy, re-screen in 12 months", False, False, (12, 12), flag=True)
MILD_MACULA_NOT_ASSESSED = Recommendation(
    "mild_macula_not_assessed",
    "Not referable: mild NPDR (or a higher grade below the referral threshold); "
    "maculopathy not assessed",
    "Flag for an ophthalmologist to assess the macula on the photographs; if there is no "
    "maculopathy, re-screen in 6 to 12 months", False, False, (6, 12), flag=True)

#: The rows in the order the module docstring shows them.
GUIDELINE_TABLE = (URGENT, REFER, UNGRADABLE, NO_DR, MILD, NO_DR_MACULA_NOT_ASSESSED,
                   MILD_MACULA_NOT_ASSESSED)

_EYE_WORDS = {"R": "right eye", "L": "left eye"}


def eye_words(eyes: tuple[str, ...]) -> str:
    """``("R",)`` -> "right eye"; both -> "right and left eyes"."""
    if len(eyes) == 2:
        return "right and left eyes"
    return " and ".join(_EYE_WORDS[eye] for eye in eyes)


def _row(finding: Finding) -> Recommendation:
    """The table row: the referral decision first, as the finding carries it."""
    if finding.grade is None:
        return UNGRADABLE
    if finding.referable:
        return URGENT if finding.maculopathy or finding.grade >= DrGrade.SEVERE else REFER
    if finding.maculopathy:  # present but not referred: never "re-screen"
        return URGENT
    if finding.maculopathy is None:
        return (NO_DR_MACULA_NOT_ASSESSED if finding.grade == DrGrade.NO_DR
                else MILD_MACULA_NOT_ASSESSED)
    return NO_DR if finding.grade == DrGrade.NO_DR else MILD


def recommend(finding: Finding) -> Recommendation:
    """The recommendation for a patient-level finding (:func:`emr.grading.worse_eye`).

    An ungradable eye is named: in the action when nothing is referred ("re-image
    the left eye"), in a note beside a referral.
    """
    row = _row(finding)
    reimage = finding.reimage if isinstance(finding, PatientFinding) else ()
    if not reimage:
        return row
    eyes = eye_words(reimage)
    if row is UNGRADABLE:
        return replace(row, action=f"Re-image the {eyes} within 1 month; if still "
                                   "ungradable, refer for examination")
    return replace(row, notes=(f"The {eyes} could not be graded: re-image it, or have it "
                               "examined at the referral.",))
