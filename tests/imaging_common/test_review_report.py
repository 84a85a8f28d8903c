"""The verified DR report: an ophthalmologist's sign-off of the AI report as an SR.

Each document is written, read back under strict pydicom and checked by
dciodvfy (no errors; only the warnings of KNOWN_WARNINGS) and parsed by
DCMTK's dsrdump; the tests read the verification, the references, the
predecessor chain and each eye's codes back from the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import Comprehensive3DSRStorage

from imaging_common.builders import (
    AlgorithmIdentity,
    Equipment,
    EyeFinding,
    EyeSignOff,
    Laterality,
    OphthalmicImage,
    Patient,
    Request,
    Verifier,
    build_dr_report,
    build_ophthalmic_photograph,
    build_verified_report,
    verified_report_series_uid,
)
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import derived_uid, new_uid
from tests.conftest import dcmtk
from tests.imaging_common.test_ai_results import _write_and_verify

PATIENT = Patient("MRN-0042", "Doe^Jane", date(1961, 7, 14), "F")
EQUIPMENT = Equipment(model_name="Fundus simulator", station_name="FUNDUS_CAM1")
ALGORITHM = AlgorithmIdentity("fovea-dr", "1.2.0", derived_uid("test", "fovea-dr", "1.2.0"))
SIGNED = datetime(2026, 12, 6, 7, 30, tzinfo=timezone.utc)
VERIFIER = Verifier("Okafor^Ada", "Fovea Eye Clinic", SIGNED)


@pytest.fixture
def study() -> tuple[Dataset, Dataset, Dataset]:
    """Two photographs (right, left) and the AI report grading them."""
    request = Request(new_uid(), accession_number="A20261206001", requested_procedure_id="RP1",
                      scheduled_procedure_step_id="SPS1",
                      requested_procedure_description="AI diabetic-retinopathy screening")
    photographs = []
    for number, side in enumerate((Laterality.RIGHT, Laterality.LEFT), start=1):
        pixels = np.random.default_rng(number).integers(0, 255, (64, 80, 3), dtype=np.uint8)
        photographs.append(build_ophthalmic_photograph(
            OphthalmicImage(side, pixels=pixels, acquired_at=datetime(2026, 12, 5, 9)),
            PATIENT, request, EQUIPMENT,
            series_instance_uid=derived_uid(request.study_instance_uid, "op"),
            instance_number=number))
    right, left = photographs
    report = build_dr_report([
        EyeFinding("R", right, 2, (0.05, 0.1, 0.7, 0.1, 0.05), 0.85, True,
                   referral_threshold=0.4403),
        EyeFinding("L", left, None, (), None, None, ("too dark",)),
    ], ALGORITHM)
    return right, left, report


def _sign_offs(right: Dataset, left: Dataset) -> list[EyeSignOff]:
    """The right eye corrected to severe NPDR with oedema; the left (ungradable) approved."""
    return [EyeSignOff("L", True, None, None, None, photographs=(left.SOPInstanceUID,)),
            EyeSignOff("R", False, 3, True, True, "haemorrhages in four quadrants",
                       photographs=(right.SOPInstanceUID,))]


def _content(ds: Dataset) -> Iterator[Dataset]:
    for item in ds.get("ContentSequence", []):
        yield item
        yield from _content(item)


def _groups(ds: Dataset) -> dict[str, Dataset]:
    """The measurement groups by Tracking Identifier."""
    groups = {}
    for item in _content(ds):
        if item.ValueType == "CONTAINER" and \
                item.ConceptNameCodeSequence[0].CodeValue == "125007":
            (name,) = [c.TextValue for c in item.ContentSequence
                       if c.ConceptNameCodeSequence[0].get("CodeValue") == "112039"]
            groups[name] = item
    return groups


def _coded(group: Dataset) -> dict[str, tuple[str, str]]:
    """Each coded item of a group: concept meaning -> (code value, scheme)."""
    return {item.ConceptNameCodeSequence[0].CodeMeaning:
            (item.ConceptCodeSequence[0].CodeValue,
             item.ConceptCodeSequence[0].CodingSchemeDesignator)
            for item in group.ContentSequence if item.ValueType == "CODE"}


def _evidence(ds: Dataset) -> set[tuple[str, str, str]]:
    return {(series.SeriesInstanceUID, ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID)
            for study in ds.CurrentRequestedProcedureEvidenceSequence
            for series in study.ReferencedSeriesSequence
            for ref in series.ReferencedSOPSequence}


def test_first_signing_validates_and_is_verified(
        tmp_path: Path, study: tuple[Dataset, Dataset, Dataset]) -> None:
    right, left, ai_report = study
    uid = new_uid()
    document = _write_and_verify(
        build_verified_report(ai_report, _sign_offs(right, left), VERIFIER,
                              sop_instance_uid=uid), tmp_path / "verified.dcm")
    assert document.SOPClassUID == Comprehensive3DSRStorage
    assert document.SOPInstanceUID == uid
    assert (document.VerificationFlag, document.CompletionFlag,
            document.PreliminaryFlag) == ("VERIFIED", "COMPLETE", "FINAL")
    (observer,) = document.VerifyingObserverSequence
    assert str(observer.VerifyingObserverName) == "Okafor^Ada"
    assert observer.VerifyingOrganization == "Fovea Eye Clinic"
    assert observer.VerificationDateTime == "20261206073000+0000"
    assert "PredecessorDocumentsSequence" not in document
    # The same study and patient as the AI report, in the verified report series.
    for keyword in ("StudyInstanceUID", "PatientID", "PatientName", "AccessionNumber",
                    "StudyDate"):
        assert document[keyword].value == ai_report[keyword].value
    assert document.SeriesInstanceUID == verified_report_series_uid(ai_report.StudyInstanceUID)
    assert document.SeriesInstanceUID != ai_report.SeriesInstanceUID
    assert document.ReferencedRequestSequence[0].AccessionNumber == "A20261206001"
    # Evidence: the AI report and both photographs, with their series.
    assert _evidence(document) == {
        (ds.SeriesInstanceUID, ds.SOPClassUID, ds.SOPInstanceUID)
        for ds in (ai_report, right, left)}
    (assessed,) = [item for item in _content(document) if item.ValueType == "COMPOSITE"]
    assert assessed.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == \
        ai_report.SOPInstanceUID
    dump = dcmtk("dsrdump", str(tmp_path / "verified.dcm")).stdout
    assert "Verification Flag   : VERIFIED" in dump
    assert "Okafor^Ada" in dump


def test_each_eye_carries_the_signed_codes(
        tmp_path: Path, study: tuple[Dataset, Dataset, Dataset]) -> None:
    right, left, ai_report = study
    document = _write_and_verify(
        build_verified_report(ai_report, _sign_offs(right, left), VERIFIER,
                              sop_instance_uid=new_uid()), tmp_path / "verified.dcm")
    groups = _groups(document)
    assert list(groups) == ["Right eye", "Left eye"]
    corrected = _coded(groups["Right eye"])
    assert corrected["Assessment of the AI finding"] == ("122776", "DCM")
    assert corrected["Diabetic retinopathy severity (ICDR)"] == ("312905005", "SCT")
    assert corrected["Referable diabetic macular oedema"] == ("373066001", "SCT")
    assert corrected["Referable diabetic retinopathy"] == ("373066001", "SCT")
    (comment,) = [item.TextValue for item in groups["Right eye"].ContentSequence
                  if item.ValueType == "TEXT" and item.ConceptNameCodeSequence[0].CodeValue
                  == "121106"]
    assert comment == "haemorrhages in four quadrants"
    approved = _coded(groups["Left eye"])
    assert approved["Assessment of the AI finding"] == ("122775", "DCM")
    assert approved["Image Quality"] == ("111235", "DCM")
    assert approved["Recommendation"] == ("FOVEA-REIMAGE", "99FOVEA")
    assert "Diabetic retinopathy severity (ICDR)" not in approved
    assert "Referable diabetic macular oedema" not in approved
    # Each eye references its own photograph, and tracks the AI report's eye.
    for name, photograph in (("Right eye", right), ("Left eye", left)):
        (image,) = [item for item in groups[name].ContentSequence if item.ValueType == "IMAGE"]
        assert image.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == \
            photograph.SOPInstanceUID
    ai_groups = _groups(ai_report)
    for name in ("Right eye", "Left eye"):
        assert _tracking_uid(groups[name]) == _tracking_uid(ai_groups[name])


def _tracking_uid(group: Dataset) -> str:
    (uid,) = [item.UID for item in group.ContentSequence
              if item.ConceptNameCodeSequence[0].get("CodeValue") == "112040"]
    return str(uid)


def test_oedema_not_assessed_is_never_written_as_absent(
        tmp_path: Path, study: tuple[Dataset, Dataset, Dataset]) -> None:
    right, left, ai_report = study
    eyes = [EyeSignOff("R", True, 1, None, False, photographs=(right.SOPInstanceUID,)),
            EyeSignOff("L", False, 0, False, False, "gradable on review",
                       photographs=(left.SOPInstanceUID,))]
    document = _write_and_verify(build_verified_report(
        ai_report, eyes, VERIFIER, sop_instance_uid=new_uid()), tmp_path / "verified.dcm")
    groups = _groups(document)
    assert _coded(groups["Right eye"])["Referable diabetic macular oedema"] == (
        "NOT-ASSESSED", "99FOVEA")
    assert _coded(groups["Left eye"])["Referable diabetic macular oedema"] == (
        "373067005", "SCT")
    assert _coded(groups["Left eye"])["Diabetic retinopathy severity (ICDR)"] == (
        "LA18643-9", "LN")


def test_a_correction_supersedes_the_previous_signing(
        tmp_path: Path, study: tuple[Dataset, Dataset, Dataset]) -> None:
    right, left, ai_report = study
    first = build_verified_report(ai_report, _sign_offs(right, left), VERIFIER,
                                  sop_instance_uid=new_uid())
    later = Verifier("Okafor^Ada", "Fovea Eye Clinic",
                     datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc))
    eyes = [EyeSignOff("R", False, 4, True, True, "new vessels on the disc",
                       photographs=(right.SOPInstanceUID,)),
            EyeSignOff("L", True, None, None, None, photographs=(left.SOPInstanceUID,))]
    second = _write_and_verify(build_verified_report(
        ai_report, eyes, later, sop_instance_uid=new_uid(),
        predecessor=first.SOPInstanceUID, instance_number=2), tmp_path / "second.dcm")
    assert second.SeriesInstanceUID == first.SeriesInstanceUID
    assert second.InstanceNumber == 2
    (study_item,) = second.PredecessorDocumentsSequence
    assert study_item.StudyInstanceUID == first.StudyInstanceUID
    (series_item,) = study_item.ReferencedSeriesSequence
    assert series_item.SeriesInstanceUID == first.SeriesInstanceUID
    (instance,) = series_item.ReferencedSOPSequence
    assert (instance.ReferencedSOPClassUID, instance.ReferencedSOPInstanceUID) == (
        first.SOPClassUID, first.SOPInstanceUID)
    assert _coded(_groups(second)["Right eye"])["Diabetic retinopathy severity (ICDR)"] == (
        "59276001", "SCT")


def test_names_outside_ascii_are_written_in_utf8(
        tmp_path: Path, study: tuple[Dataset, Dataset, Dataset]) -> None:
    right, left, ai_report = study
    verifier = Verifier("Müller José", "Clínica Ocular", SIGNED)
    document = _write_and_verify(build_verified_report(
        ai_report, _sign_offs(right, left), verifier, sop_instance_uid=new_uid()),
        tmp_path / "verified.dcm")
    assert document.SpecificCharacterSet == "ISO_IR 192"
    assert str(document.VerifyingObserverSequence[0].VerifyingObserverName) == "Müller José^"
    with open(tmp_path / "verified.dcm", "rb") as handle:
        assert "Clínica Ocular".encode() in handle.read()


@pytest.mark.parametrize(("change", "message"), [
    ("unknown photograph", "is not in the AI report's evidence"),
    ("eye twice", "each eye once"),
    ("no eyes", "at least one eye"),
    ("bad predecessor", "not a valid UID"),
])
def test_bad_input_is_refused(study: tuple[Dataset, Dataset, Dataset], change: str,
                              message: str) -> None:
    right, left, ai_report = study
    eyes = _sign_offs(right, left)
    predecessor = None
    if change == "unknown photograph":
        eyes[1] = EyeSignOff("R", True, 2, None, True, photographs=(new_uid(),))
    elif change == "eye twice":
        eyes = [eyes[1], EyeSignOff("R", True, 2, None, True, photographs=(left.SOPInstanceUID,))]
    elif change == "no eyes":
        eyes = []
    else:
        predecessor = "not-a-uid"
    with pytest.raises(DicomInputError, match=message):
        build_verified_report(ai_report, eyes, VERIFIER, sop_instance_uid=new_uid(),
                              predecessor=predecessor)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: EyeSignOff("X", True, 1, None, False, photographs=("1.2.3",)), "'R' or 'L'"),
    (lambda: EyeSignOff("R", True, 5, None, False, photographs=("1.2.3",)), "ICDR grade"),
    (lambda: EyeSignOff("R", True, None, False, None, photographs=("1.2.3",)), "ungradable"),
    (lambda: EyeSignOff("R", True, 2, None, None, photographs=("1.2.3",)), "referral"),
    (lambda: EyeSignOff("R", True, 2, None, True), "names its photographs"),
    (lambda: Verifier("", "Clinic", SIGNED), "person name"),
    (lambda: Verifier("A\\B", "Clinic", SIGNED), "person name"),
    (lambda: Verifier("Okafor^Ada", "", SIGNED), "VerifyingOrganization"),
    (lambda: Verifier("Okafor^Ada", "Clinic", datetime(2026, 12, 6)), "timezone"),
])
def test_invalid_sign_offs_are_refused(make: object, message: str) -> None:
    with pytest.raises(DicomInputError, match=message):
        make()  # type: ignore[operator]


def test_the_ai_report_must_identify_itself(study: tuple[Dataset, Dataset, Dataset]) -> None:
    right, left, ai_report = study
    del ai_report.SeriesInstanceUID
    with pytest.raises(DicomInputError, match="SeriesInstanceUID"):
        build_verified_report(ai_report, _sign_offs(right, left), VERIFIER,
                              sop_instance_uid=new_uid())
