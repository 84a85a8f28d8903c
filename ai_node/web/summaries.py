"""What the nurses' page shows of an order beyond its state: the patient, the
result the EMR stored, the link to its report.

Demographics come in the order's JSON only when the node's EMR token has the
``patients:read`` scope; they are shown on the page, never logged. A result,
once the EMR stored it, does not change: :class:`ResultCache` keeps each
order's summary so that the page's polling asks the EMR once per order.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

__all__ = ["ResultCache", "patient_name", "report_url", "result_summary"]

#: Summaries kept by :class:`ResultCache` (the page shows at most the recent jobs).
CACHED_RESULTS = 256


def patient_name(dicom_name: str) -> str:
    """A DICOM Person Name (PS3.5 6.2, ``Family^Given^Middle^Prefix^Suffix``) as
    "Family, Given Middle"."""
    parts = [p.strip() for p in dicom_name.split("=")[0].split("^")]
    family, given = parts[0], " ".join(p for p in parts[1:3] if p)
    return f"{family}, {given}" if family and given else family or given


def result_summary(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest result's worse eye, as the EMR stores it: the eye of the highest
    ICDR grade, and whether any eye is referable; ``None`` without a gradable eye."""
    if not results:
        return None
    eyes = [e for e in results[-1].get("eyes", []) if e.get("grade") is not None]
    if not eyes:
        return None
    worse = max(eyes, key=lambda e: int(e["grade"]))
    return {"grade": int(worse["grade"]), "grade_label": str(worse.get("grade_label", "")),
            "laterality": str(worse.get("laterality", "")),
            "referable": any(bool(e.get("referable")) for e in eyes)}


def report_url(emr_url: str, order_id: int) -> str:
    """The EMR's report page of an order (``/orders/<id>/report``)."""
    return f"{emr_url.rstrip('/')}/orders/{int(order_id)}/report"


class ResultCache:
    """Each graded order's result summary, by order id and Accession Number
    (an order id of an earlier EMR database is another order)."""

    def __init__(self, size: int = CACHED_RESULTS) -> None:
        self.size = size
        self._summaries: OrderedDict[tuple[int, str], dict[str, Any] | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, order_id: int, accession_number: str,
            fetch: Callable[[int], list[dict[str, Any]]]) -> dict[str, Any] | None:
        """The order's summary; ``fetch`` (the EMR's results of an order) is called
        when none is kept. Raises what ``fetch`` raises."""
        key = (int(order_id), accession_number)
        with self._lock:
            if key in self._summaries:
                self._summaries.move_to_end(key)
                return self._summaries[key]
        summary = result_summary(fetch(int(order_id)))
        if summary is not None:  # none yet: ask again on the next poll
            with self._lock:
                self._summaries[key] = summary
                while len(self._summaries) > self.size:
                    self._summaries.popitem(last=False)
        return summary
