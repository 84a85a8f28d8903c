"""Encapsulated PDF (PS3.3 A.45.1): a printable report kept in the study it reports on.

The PDF is stored as it is, in the Encapsulated Document attribute, with:

- the patient and the order's study from :mod:`~imaging_common.builders.identity`
  (PS3.17 J.2.2: Study Instance UID, Accession Number and the Request
  Attributes Sequence of the order), so the document belongs to the same study;
- its own series (Encapsulated Document Series, C.24.1, modality DOC), one per
  study for every report of it;
- SC Equipment (C.8.6.1) with Conversion Type WSD: the document was made on a
  workstation, not scanned;
- Encapsulated Document (C.24.2): Document Title, Concept Name Code Sequence,
  Burned In Annotation YES (the pages show the patient's name), MIME type,
  content date and time, the Source Instance Sequence of the instances the
  document was made from, and the Encapsulated Document Length.

PS3.3 C.24.2.1 (and A.45.1.4.1): a value of odd length is padded with one
trailing NUL to the even length of PS3.5 7.1; Encapsulated Document Length
(0042,0015) is the document's own length, without the padding, so a reader
gets the PDF back byte for byte (:func:`encapsulated_document`).
"""

from __future__ import annotations

from collections.abc import Sequence as Sequence_
from dataclasses import dataclass, field
from datetime import datetime

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, EncapsulatedPDFStorage, ExplicitVRLittleEndian

from imaging_common.builders.identity import Equipment, Patient, Request
from imaging_common.codes import DIAGNOSTIC_IMAGING_REPORT, Code
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    derived_uid,
    new_uid,
    validate_uid,
)

__all__ = ["PDF_MIME_TYPE", "EncapsulatedPdf", "ReferencedInstance",
           "build_encapsulated_pdf", "encapsulated_document", "report_pdf_series_uid"]

#: MIME Type of Encapsulated Document (0042,0012) of a PDF.
PDF_MIME_TYPE = "application/pdf"
#: Series Description of the reports' series (LO, at most 64 characters).
REPORT_SERIES_DESCRIPTION = "Screening reports (PDF) - research use only"
#: PS3.5 6.2: LO values hold at most 64 characters; ST at most 1024.
_LO_MAX = 64
#: Every PDF starts with its header, "%PDF-" and the version (ISO 32000-1 7.5.2).
_PDF_HEADER = b"%PDF-"
#: The most the Encapsulated Document can hold: an OB value of undefined length
#: is not allowed there, and UL counts up to 2**32 - 2 bytes of even length.
_MAX_LENGTH = 0xFFFFFFFE


@dataclass(frozen=True)
class ReferencedInstance:
    """One instance the document was made from (SOP Instance Reference Macro, Table 10-11)."""

    sop_class_uid: str
    sop_instance_uid: str

    def __post_init__(self) -> None:
        validate_uid(self.sop_class_uid, "ReferencedSOPClassUID")
        validate_uid(self.sop_instance_uid, "ReferencedSOPInstanceUID")

    def to_item(self) -> Dataset:
        item = Dataset()
        item.ReferencedSOPClassUID = self.sop_class_uid
        item.ReferencedSOPInstanceUID = self.sop_instance_uid
        return item


@dataclass(frozen=True)
class EncapsulatedPdf:
    """A PDF document and what the Encapsulated Document module says of it.

    Args:
        document: the PDF file's bytes, as they are.
        title: Document Title (0042,0010), at most 64 characters.
        created_at: Content Date and Time: when the document's content was
            made (a report: when it was signed or rendered), in local time.
        sources: the instances the document was made from; they become the
            Source Instance Sequence (0042,0013).
        concept: the Concept Name Code Sequence's document title code (CID 7000).
        shows_identity: whether the pages show the patient's identity
            (Burned In Annotation, PS3.3 C.24.2).

    Raises:
        DicomInputError: not a PDF, empty or too large, or a title too long.
    """

    document: bytes = field(repr=False)
    title: str
    created_at: datetime
    sources: tuple[ReferencedInstance, ...] = ()
    concept: Code = DIAGNOSTIC_IMAGING_REPORT
    shows_identity: bool = True

    def __post_init__(self) -> None:
        if not self.document.startswith(_PDF_HEADER):
            raise DicomInputError("the document is not a PDF: it lacks the %PDF- header")
        if len(self.document) > _MAX_LENGTH - 1:
            raise DicomInputError("the PDF is too large for an Encapsulated Document")
        if not self.title.strip() or len(self.title) > _LO_MAX or "\\" in self.title:
            raise DicomInputError(f"the document title must be 1 to {_LO_MAX} characters "
                                  "without a backslash")


def report_pdf_series_uid(study_instance_uid: str) -> UID:
    """The Series Instance UID of the printable reports of a study: one series for all."""
    validate_uid(study_instance_uid, "StudyInstanceUID")
    return derived_uid("fovea-report-pdf-series", study_instance_uid)


def build_encapsulated_pdf(
    pdf: EncapsulatedPdf,
    patient: Patient,
    request: Request,
    equipment: Equipment,
    *,
    study_started: datetime | None = None,
    series_number: int = 950,
    instance_number: int = 1,
    sop_instance_uid: str | None = None,
) -> Dataset:
    """Build an Encapsulated PDF Storage instance of ``pdf`` in the request's study.

    Args:
        study_started: Study Date and Time, which every instance of the study
            carries (Type 2; empty when unknown).
        series_number: Series Number of the reports' series.
        instance_number: Instance Number of this document in its series.
        sop_instance_uid: the document's UID; a new one when not given.

    Raises:
        DicomInputError: a UID is malformed.
    """
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    patient.apply(ds)
    request.apply(ds)
    ds.StudyDate = study_started.strftime("%Y%m%d") if study_started else ""
    ds.StudyTime = study_started.strftime("%H%M%S") if study_started else ""
    equipment.apply(ds)
    _series(ds, request.study_instance_uid, series_number)
    ds.ConversionType = "WSD"  # PS3.3 C.8.6.1: made on a workstation
    _document(ds, pdf, instance_number)
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = validate_uid(sop_instance_uid or new_uid(), "SOPInstanceUID")
    ds.InstanceCreationDate = ds.ContentDate
    ds.InstanceCreationTime = ds.ContentTime
    ds.file_meta = _file_meta(ds)
    return ds


def _series(ds: Dataset, study_instance_uid: str, number: int) -> None:
    """Encapsulated Document Series (PS3.3 C.24.1)."""
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = report_pdf_series_uid(study_instance_uid)
    ds.SeriesNumber = number
    ds.SeriesDescription = REPORT_SERIES_DESCRIPTION


def _document(ds: Dataset, pdf: EncapsulatedPdf, instance_number: int) -> None:
    """Encapsulated Document (PS3.3 C.24.2), the PDF padded to even length."""
    ds.InstanceNumber = instance_number
    ds.ContentDate = pdf.created_at.strftime("%Y%m%d")
    ds.ContentTime = pdf.created_at.strftime("%H%M%S")
    ds.AcquisitionDateTime = ""
    ds.BurnedInAnnotation = "YES" if pdf.shows_identity else "NO"
    if pdf.sources:
        ds.SourceInstanceSequence = Sequence(_unique_items(pdf.sources))
    ds.DocumentTitle = pdf.title
    ds.ConceptNameCodeSequence = Sequence([pdf.concept.to_item()])
    ds.MIMETypeOfEncapsulatedDocument = PDF_MIME_TYPE
    padding = b"\x00" * (len(pdf.document) % 2)
    ds.EncapsulatedDocument = pdf.document + padding
    ds.EncapsulatedDocumentLength = len(pdf.document)


def _unique_items(sources: Sequence_[ReferencedInstance]) -> list[Dataset]:
    seen: dict[str, ReferencedInstance] = {}
    for source in sources:
        seen.setdefault(source.sop_instance_uid, source)
    return [source.to_item() for source in seen.values()]


def _file_meta(ds: Dataset) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def encapsulated_document(ds: Dataset) -> bytes:
    """The document an Encapsulated Document instance holds, without its padding.

    Encapsulated Document Length gives the length where it is present; older
    instances lack it, and a PDF's trailing NUL padding is then dropped.

    Raises:
        DicomInputError: no Encapsulated Document, or a length beyond it.
    """
    data = ds.get("EncapsulatedDocument")
    if not data:
        raise DicomInputError("the instance holds no Encapsulated Document")
    length = ds.get("EncapsulatedDocumentLength")
    if length is None:
        return bytes(data).rstrip(b"\x00") if len(data) % 2 == 0 else bytes(data)
    if not 0 < int(length) <= len(data):
        raise DicomInputError("Encapsulated Document Length exceeds the document")
    return bytes(data[:int(length)])
