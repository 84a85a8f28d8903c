"""The verified report of a signing: what the ophthalmologist signed, as an SR for the PACS.

IHE AI Results: the AI node's report stays unverified; the signed finding is a
new document in the study (:func:`imaging_common.builders.build_verified_report`)
that references it and the photographs.

- :func:`record_signing`, called in the signing's transaction, gives the
  signing's reviews the verified report's SOP Instance UID and owes it to the
  PACS in the archive outbox (:mod:`emr.archive_outbox`), superseding the
  previous verified report of the same result, if any;
- :func:`build_verified_sr`, called when the outbox first sends it, retrieves
  the AI report from the PACS by C-GET (it holds the series and SOP classes
  of the photographs, which the EMR does not know) and builds the document
  from the reviews.

The signed finding of each eye is the review's (:attr:`emr.models.Review.finding`):
the AI's as it was, referral included, for an approval; the ophthalmologist's,
referable by :meth:`emr.grading.Finding.graded_by_ophthalmologist`, for a correction.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset
from pydicom.uid import Comprehensive3DSRStorage, ComprehensiveSRStorage
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emr.config import EmrConfig
from emr.models import (AiResult, ArchiveItem, ArchiveKind, Decision, Order, Review,
                        User)
from imaging_common.builders import EyeSignOff, Verifier, build_verified_report
from imaging_common.dimse import make_ae
from imaging_common.exceptions import DicomInputError, PeerError
from imaging_common.logs import get_logger
from imaging_common.retrieve_scu import get_study
from imaging_common.uids import new_uid

__all__ = ["build_verified_sr", "fetch_ai_report", "record_signing", "verifier_name"]

log = get_logger(__name__)

#: The SOP classes an AI report may be archived as (the AI node writes the 3D one).
AI_REPORT_CLASSES = (Comprehensive3DSRStorage, ComprehensiveSRStorage)
#: PS3.5 6.2: a person name component holds at most 64 characters.
_PN_COMPONENT_MAX = 64


def record_signing(db: Session, order: Order, result: AiResult, reviews: Sequence[Review],
                   signer: User) -> ArchiveItem:
    """Owe the PACS the verified report of this signing; return its outbox entry.

    Runs in the signing's transaction: the reviews and the entry are
    committed together or not at all. The report supersedes the latest
    verified report of ``result`` (its Predecessor Documents Sequence).
    """
    previous = db.scalar(select(ArchiveItem).where(
        ArchiveItem.result_id == result.id, ArchiveItem.kind == ArchiveKind.VERIFIED_SR)
        .order_by(ArchiveItem.id.desc()).limit(1))
    uid = str(new_uid())
    for review in reviews:
        review.sr_sop_instance_uid = uid
    item = ArchiveItem(order=order, kind=ArchiveKind.VERIFIED_SR,
                       sop_class_uid=str(Comprehensive3DSRStorage), sop_instance_uid=uid,
                       result=result, signed_by=signer,
                       predecessor_uid=previous.sop_instance_uid if previous else None)
    db.add(item)
    db.flush()
    return item


def verifier_name(full_name: str) -> str:
    """An account's full name as a one-component DICOM person name (PS3.5 6.2.1.2).

    The EMR keeps a name as people write it, not split into family and given
    names, so it is written as it is, marked as one component.
    """
    name = " ".join(full_name.replace("^", " ").replace("=", " ").replace("\\", " ").split())
    return f"{name[:_PN_COMPONENT_MAX].rstrip()}^"


def fetch_ai_report(config: EmrConfig, study_instance_uid: str,
                    sop_instance_uid: str) -> Dataset:
    """The AI report ``sop_instance_uid`` of the study, retrieved from the PACS by C-GET.

    Raises:
        PeerError: the EMR calls no PACS, the PACS could not be reached or
            failed, or it has no such report in the study.
    """
    if config.dicom is None:
        raise PeerError("the EMR has no AE title in the network file: it calls no PACS")
    settings = config.dicom
    pacs = settings.network.node("pacs")
    found: list[Dataset] = []

    def keep(ds: Dataset) -> bool:
        if str(ds.SOPInstanceUID) == sop_instance_uid:
            found.append(ds)
        return True  # any other report of the study: acknowledged, not kept

    get_study(make_ae(settings), pacs, study_instance_uid, AI_REPORT_CLASSES, keep)
    if not found:
        raise PeerError(f"{pacs.ae_title} has no AI report {sop_instance_uid} "
                        f"in study {study_instance_uid}")
    log.info("AI report retrieved", peer=pacs.ae_title, sop_instance_uid=sop_instance_uid)
    return found[0]


def build_verified_sr(db: Session, config: EmrConfig, item: ArchiveItem) -> Dataset:
    """Build the verified report an outbox entry of :func:`record_signing` owes.

    Raises:
        PeerError: the AI report could not be retrieved from the PACS.
        DicomInputError: the signing cannot be written as it is (no reviews
            name the entry, or the AI report lacks a photograph the EMR has).
    """
    result, signer = item.result, item.signed_by
    if result is None or signer is None:
        raise DicomInputError("the outbox entry names no AI result or signer")
    reviews = db.scalars(select(Review).where(Review.sr_sop_instance_uid == item.sop_instance_uid)
                         .order_by(Review.id)).all()
    if not reviews:
        raise DicomInputError("no review names this verified report")
    ai_report = fetch_ai_report(config, item.order.study_instance_uid,
                                result.sr_sop_instance_uid)
    eyes = [_sign_off(review) for review in reviews]
    signed = Verifier(verifier_name(signer.full_name), config.institution,
                      max(review.created_at for review in reviews))
    number = db.scalar(select(func.count(ArchiveItem.id)).where(
        ArchiveItem.order_id == item.order_id, ArchiveItem.kind == ArchiveKind.VERIFIED_SR,
        ArchiveItem.id <= item.id))
    return build_verified_report(ai_report, eyes, signed, sop_instance_uid=item.sop_instance_uid,
                                 predecessor=item.predecessor_uid, instance_number=number or 1)


def _sign_off(review: Review) -> EyeSignOff:
    """One eye's review as the builder takes it: the finding signed, never re-decided."""
    eye = review.eye_result
    finding = review.finding
    photographs = [*eye.source_sop_instance_uids, *(image.sop_instance_uid for image in eye.images)]
    return EyeSignOff(
        laterality=eye.laterality, agrees=review.decision == Decision.APPROVE,
        grade=None if finding.grade is None else int(finding.grade),
        macular_oedema=finding.maculopathy, referable=finding.referable,
        comment=review.comment, photographs=tuple(dict.fromkeys(photographs)))
