"""The station's domain counters for Prometheus: acquisitions and image deliveries.

They live in prometheus_client's process-wide registry, which the app's
``/metrics`` serves (:func:`imaging_common.web_metrics.init_metrics`) beside
its HTTP request metrics. Labels are eyes and outcomes only: nothing
identifies a patient or an examination.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter

from imaging_common.store_scu import StoreOutcome

from modality_scu.delivery import Delivery, OutgoingImage
from modality_scu.models import OutboxImage

__all__ = ["ACQUISITIONS", "IMAGES_ACQUIRED", "IMAGES_COMMITTED", "IMAGES_SENT",
           "LATERALITY_DOUBTS", "count_acquisition", "count_delivery", "count_laterality_doubts"]

PREFIX = "fovea_station"

#: Examinations whose photographs were taken and queued for the archive.
ACQUISITIONS = Counter(f"{PREFIX}_acquisitions_total",
                       "Examinations whose photographs were queued for the archive")
#: Ophthalmic Photography images made, by Image Laterality (0020,0062).
IMAGES_ACQUIRED = Counter(f"{PREFIX}_images_acquired_total",
                          "Ophthalmic Photography images made and queued, by eye (R, L)",
                          ["laterality"])
#: C-STORE attempts: ``stored``, ``refused`` (a failure status from the
#: archive) or ``failed`` (not sent: no association, or it broke off).
IMAGES_SENT = Counter(f"{PREFIX}_images_sent_total",
                      "Images sent to the archive by C-STORE, by outcome "
                      "(stored, refused, failed)", ["outcome"])
#: Images the archive took responsibility for (storage commitment, PS3.4 J.3).
IMAGES_COMMITTED = Counter(f"{PREFIX}_images_committed_total",
                           "Images the archive committed to (storage commitment)")

#: Photographs the laterality check held back as looking like the other eye.
LATERALITY_DOUBTS = Counter(f"{PREFIX}_laterality_doubts_total",
                            "Photographs held back because they look like the other eye")


def count_laterality_doubts(photographs: int) -> None:
    """The laterality check held back a set with ``photographs`` in doubt."""
    LATERALITY_DOUBTS.inc(photographs)


def _sent(outcome: StoreOutcome) -> str:
    if outcome.kept:
        return "stored"
    return "failed" if outcome.status is None else "refused"


def count_acquisition(images: Sequence[OutboxImage]) -> None:
    """An examination's photographs went into the outbox."""
    ACQUISITIONS.inc()
    for image in images:
        IMAGES_ACQUIRED.labels(laterality=image.laterality).inc()


def count_delivery(batch: Sequence[OutgoingImage], delivery: Delivery | None) -> None:
    """What one delivery round did with ``batch``; ``delivery`` is ``None`` when the
    association failed before anything was sent."""
    for image in batch:
        if delivery is None:
            if image.send:
                IMAGES_SENT.labels(outcome="failed").inc()
            continue
        outcome = delivery.stored.get(image.sop_instance_uid)
        if outcome is not None:
            IMAGES_SENT.labels(outcome=_sent(outcome)).inc()
        if image.sop_instance_uid in delivery.committed:
            IMAGES_COMMITTED.inc()
