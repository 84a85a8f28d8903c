"""Encapsulated PDF: dciodvfy with no errors, the PDF back byte for byte, input checks."""

from __future__ import annotations

import subprocess
from datetime import date, datetime
from pathlib import Path

import pydicom
import pytest
from fpdf import FPDF
from pydicom.uid import (
    ComprehensiveSRStorage,
    EncapsulatedPDFStorage,
    OphthalmicPhotography8BitImageStorage,
)

from imaging_common.builders import (
    EncapsulatedPdf,
    Equipment,
    Patient,
    ReferencedInstance,
    Request,
    build_encapsulated_pdf,
    encapsulated_document,
    report_pdf_series_uid,
)
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import new_uid
from tests.conftest import require_tool

EQUIPMENT = Equipment(model_name="Fovea EMR", software_versions="0.1.0")
SIGNED_AT = datetime(2026, 3, 1, 10, 15, 30)


def _pdf(text: str = "Screening report") -> bytes:
    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=12)
    document.cell(text=text)
    return bytes(document.output())


def _request() -> Request:
    return Request(new_uid(), accession_number="A20260301001", requested_procedure_id="RP001",
                   scheduled_procedure_step_id="SPS001",
                   requested_procedure_description="AI diabetic retinopathy screening",
                   referring_physician_name="Nurse^Nora")


def _write_and_verify(ds: pydicom.Dataset, path: Path) -> pydicom.Dataset:
    """Save, read back under strict validation, and run dciodvfy: no errors."""
    ds.save_as(path, enforce_file_format=True)
    with pydicom.config.strict_reading():
        again = pydicom.dcmread(path)
    report = subprocess.run([require_tool("dciodvfy"), "-new", str(path)],
                            capture_output=True, text=True)
    errors = [line for line in (report.stdout + report.stderr).splitlines()
              if line.startswith("Error")]
    assert errors == []
    return again


@pytest.mark.parametrize("parity", [0, 1])
def test_the_pdf_comes_back_byte_for_byte(tmp_path: Path, parity: int) -> None:
    """PS3.3 C.24.2.1: an odd-length PDF is padded with one NUL; the length says where
    the document ends."""
    document = _pdf()
    if len(document) % 2 != parity:
        document += b"\n"  # whitespace after %%EOF leaves the PDF intact
    assert len(document) % 2 == parity
    photograph = ReferencedInstance(OphthalmicPhotography8BitImageStorage, new_uid())
    ds = build_encapsulated_pdf(
        EncapsulatedPdf(document, "Diabetic retinopathy screening report", SIGNED_AT,
                        sources=(photograph, photograph)),
        Patient("MRN-0042", "Doe^Jane", date(1961, 7, 14), "F"), _request(), EQUIPMENT)
    again = _write_and_verify(ds, tmp_path / "report.dcm")
    stored = again["EncapsulatedDocument"].value
    assert len(stored) == len(document) + parity
    assert again.EncapsulatedDocumentLength == len(document)
    assert encapsulated_document(again) == document
    del again.EncapsulatedDocumentLength  # an instance written before the attribute existed
    assert encapsulated_document(again) == document.rstrip(b"\x00")
    assert len(again.SourceInstanceSequence) == 1  # listed once


def test_identity_title_code_and_sources(tmp_path: Path) -> None:
    request = _request()
    photographs = [ReferencedInstance(OphthalmicPhotography8BitImageStorage, new_uid())
                   for _ in range(2)]
    report = ReferencedInstance(ComprehensiveSRStorage, new_uid())
    ds = build_encapsulated_pdf(
        EncapsulatedPdf(_pdf(), "Diabetic retinopathy screening report", SIGNED_AT,
                        sources=(*photographs, report)),
        Patient("MRN-0042", "山田^太郎", date(1961, 7, 14), "M"), request, EQUIPMENT,
        study_started=datetime(2026, 3, 1, 9, 30), instance_number=2)
    again = _write_and_verify(ds, tmp_path / "report.dcm")
    assert again.SOPClassUID == EncapsulatedPDFStorage
    assert again.file_meta.MediaStorageSOPInstanceUID == again.SOPInstanceUID
    assert str(again.PatientName) == "山田^太郎"
    assert (again.PatientID, again.PatientBirthDate, again.PatientSex) == (
        "MRN-0042", "19610714", "M")
    assert again.StudyInstanceUID == request.study_instance_uid
    assert (again.AccessionNumber, again.StudyDate, again.StudyTime) == (
        "A20260301001", "20260301", "093000")
    (item,) = again.RequestAttributesSequence
    assert (item.RequestedProcedureID, item.ScheduledProcedureStepID) == ("RP001", "SPS001")
    assert again.Modality == "DOC"
    assert again.SeriesInstanceUID == report_pdf_series_uid(request.study_instance_uid)
    assert again.InstanceNumber == 2
    assert again.BurnedInAnnotation == "YES"
    assert again.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert again.DocumentTitle == "Diabetic retinopathy screening report"
    (concept,) = again.ConceptNameCodeSequence
    assert (concept.CodeValue, concept.CodingSchemeDesignator) == ("18748-4", "LN")
    assert (again.ContentDate, again.ContentTime) == ("20260301", "101530")
    assert [(s.ReferencedSOPClassUID, s.ReferencedSOPInstanceUID)
            for s in again.SourceInstanceSequence] == [
        (r.sop_class_uid, r.sop_instance_uid) for r in (*photographs, report)]


def test_every_report_of_a_study_shares_one_series() -> None:
    study = new_uid()
    assert report_pdf_series_uid(study) == report_pdf_series_uid(study)
    assert report_pdf_series_uid(study) != report_pdf_series_uid(new_uid())


@pytest.mark.parametrize(("document", "title", "message"), [
    (b"", "Report", "not a PDF"),
    (b"\x89PNG\r\n\x1a\n", "Report", "not a PDF"),
    (b"%PDF-1.7 ...", "", "document title"),
    (b"%PDF-1.7 ...", "R" * 65, "document title"),
    (b"%PDF-1.7 ...", "a\\b", "document title"),
])
def test_bad_documents_are_refused(document: bytes, title: str, message: str) -> None:
    with pytest.raises(DicomInputError, match=message):
        EncapsulatedPdf(document, title, SIGNED_AT)


def test_a_malformed_reference_is_refused() -> None:
    with pytest.raises(DicomInputError, match="ReferencedSOPInstanceUID"):
        ReferencedInstance(OphthalmicPhotography8BitImageStorage, "1.2.abc")


def test_a_length_beyond_the_document_is_refused() -> None:
    ds = build_encapsulated_pdf(EncapsulatedPdf(_pdf(), "Report", SIGNED_AT),
                                Patient("MRN-1"), _request(), EQUIPMENT)
    ds.EncapsulatedDocumentLength = len(ds.EncapsulatedDocument) + 2
    with pytest.raises(DicomInputError, match="exceeds"):
        encapsulated_document(ds)
