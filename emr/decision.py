"""Decision support: the referral recommendation and re-screening interval for a finding.

The table below is the screening programme's reading of two published
guidelines, taken from the patient-level (worse-eye) finding:

- International Council of Ophthalmology, *ICO Guidelines for Diabetic Eye
  Care*, updated 2017 (follow-up and referral by ICDR severity and DME).
- American Academy of Ophthalmology, *Diabetic Retinopathy Preferred Practice
  Pattern*, 2019 (follow-up intervals).

| finding | recommendation |
|---|---|
| no apparent DR, no maculopathy | re-screen in 12 months |
| mild NPDR, no maculopathy | re-screen in 6 to 12 months |
| moderate NPDR, no maculopathy | refer to an ophthalmologist within 3 months |
| severe NPDR, proliferative DR, or any maculopathy | refer urgently (within 1 month) |
| ungradable | re-image (within 1 month); if still ungradable, refer for examination |

A programme with other rules changes :data:`GUIDELINE_TABLE`, and nothing else.
The results are for research and demonstration, never for clinical use.
"""

from __future__ import annotations

from dataclasses import dataclass

from emr.grading import DrGrade, Finding

__all__ = ["GUIDELINE_SOURCES", "GUIDELINE_TABLE", "Recommendation", "recommend"]

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
        key: a stable name of the table row, e.g. ``"moderate"``.
        finding: the row's condition in words.
        action: what to do, in words.
        refer: whether the patient is referred to an ophthalmologist.
        urgent: whether the referral (or re-imaging) is urgent.
        interval_months: re-screening or referral interval, (shortest, longest).
    """

    key: str
    finding: str
    action: str
    refer: bool
    urgent: bool
    interval_months: tuple[int, int]


NO_DR = Recommendation("no_dr", "No apparent retinopathy, no maculopathy",
                       "Re-screen in 12 months", False, False, (12, 12))
MILD = Recommendation("mild", "Mild NPDR, no maculopathy",
                      "Re-screen in 6 to 12 months", False, False, (6, 12))
MODERATE = Recommendation("moderate", "Moderate NPDR, no maculopathy",
                          "Refer to an ophthalmologist within 3 months", True, False, (0, 3))
URGENT = Recommendation("urgent", "Severe NPDR, proliferative DR, or maculopathy",
                        "Refer urgently to an ophthalmologist (within 1 month)",
                        True, True, (0, 1))
UNGRADABLE = Recommendation("ungradable", "Ungradable images",
                            "Re-image within 1 month; if still ungradable, refer for "
                            "examination", False, True, (0, 1))

#: The rows in the order the module docstring shows them.
GUIDELINE_TABLE = (NO_DR, MILD, MODERATE, URGENT, UNGRADABLE)


def recommend(finding: Finding) -> Recommendation:
    """The recommendation for a patient-level (worse-eye) finding.

    Maculopathy that was not assessed (``None``) counts as absent; the report
    says it was not assessed.
    """
    if finding.grade is None:
        return UNGRADABLE
    if finding.maculopathy or finding.grade >= DrGrade.SEVERE:
        return URGENT
    return {DrGrade.NO_DR: NO_DR, DrGrade.MILD: MILD, DrGrade.MODERATE: MODERATE}[finding.grade]
