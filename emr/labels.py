"""Training labels: reviewed findings per source image, as CSV for the next model.

One row per graded image (SOP Instance UID) of every reviewed eye, with the
label the ophthalmologist signed off and the AI finding of that photograph
(the eye's, for results that list no photographs). A simulated capture is no
photograph of the eye the label describes: it gives no row.
Rows carry DICOM identifiers only: no name, MRN, birth date or free text; every
cell is spreadsheet-safe (a model name beginning with ``=`` stays text).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from emr.models import AiResult, EyeResult, Order, Review
from imaging_common.web.spreadsheet import spreadsheet_row

__all__ = ["LABEL_COLUMNS", "label_rows", "labels_csv"]

LABEL_COLUMNS = (
    "sop_instance_uid", "study_instance_uid", "accession_number", "laterality",
    "label_grade", "label_maculopathy", "label_source", "ai_grade", "ai_maculopathy",
    "model_name", "model_version", "sr_sop_instance_uid", "reviewer_id", "reviewed_at",
)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _grade(value: int | None) -> str:
    return "ungradable" if value is None else str(value)


def label_rows(db: Session, since: datetime | None = None,
               corrections_only: bool = False) -> Iterator[dict[str, str]]:
    """Yield one label row per source image of each reviewed eye."""
    reviewed = select(Review.eye_result_id)
    if since is not None:
        reviewed = reviewed.where(Review.created_at >= since)
    query = (select(EyeResult).join(EyeResult.result).join(AiResult.order)
             .where(EyeResult.id.in_(reviewed))
             .options(selectinload(EyeResult.reviews), selectinload(EyeResult.images),
                      selectinload(EyeResult.result).selectinload(AiResult.order))
             .order_by(Order.id, AiResult.id, EyeResult.laterality.desc()))
    for eye in db.scalars(query):
        review = eye.review
        if review is None or (corrections_only and review.decision.value != "correct"):
            continue
        yield from _rows(eye, review)


def _rows(eye: EyeResult, review: Review) -> Iterator[dict[str, str]]:
    """One row per photograph but the simulated ones; its AI grade is its own where the
    result lists it."""
    result = eye.result
    own = {image.sop_instance_uid: image for image in eye.images}
    for uid in eye.source_sop_instance_uids:
        image = own.get(uid)
        if image is not None and image.simulated:
            continue
        yield {
            "sop_instance_uid": uid,
            "study_instance_uid": result.order.study_instance_uid,
            "accession_number": result.order.accession_number,
            "laterality": eye.laterality,
            "label_grade": _grade(review.grade),
            "label_maculopathy": _text(review.maculopathy),
            "label_source": "corrected" if review.decision.value == "correct" else "approved",
            "ai_grade": _grade(eye.grade if image is None else image.grade),
            "ai_maculopathy": _text(eye.maculopathy if image is None else image.maculopathy),
            "model_name": result.model_name,
            "model_version": result.model_version,
            "sr_sop_instance_uid": result.sr_sop_instance_uid,
            "reviewer_id": str(review.reviewer_id),
            "reviewed_at": review.created_at.isoformat(),
        }


def labels_csv(rows: Iterator[dict[str, str]]) -> Iterator[str]:
    """Render label rows as CSV text (RFC 4180), header first, chunk by chunk."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LABEL_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(spreadsheet_row(row))
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
