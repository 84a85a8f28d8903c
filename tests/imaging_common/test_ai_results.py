"""The AI node's results: the DR report (SR, TID 1500) and the heat map capture (SC).

Each is written, read back under strict pydicom and checked by dciodvfy (no
errors; only the warnings listed in KNOWN_WARNINGS); the report is also parsed
by DCMTK's dsrdump.
"""

from __future__ import annotations

import copy
import logging
import re
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from imaging_common.builders import (
    AlgorithmIdentity,
    Equipment,
    EyeFinding,
    Laterality,
    OphthalmicImage,
    Patient,
    Request,
    build_dr_report,
    build_heatmap_capture,
    build_ophthalmic_photograph,
)
from imaging_common.builders.heatmap_capture import SIMULATED_LINE, caption_lines
from imaging_common.exceptions import DicomInputError
from imaging_common.simulation import mark_simulated
from imaging_common.uids import derived_uid, new_uid
from tests.conftest import require_tool

PATIENT = Patient("MRN-0042", "Doe^Jane", date(1961, 7, 14), "F")
EQUIPMENT = Equipment(model_name="Fundus simulator", station_name="FUNDUS_CAM1")
ALGORITHM = AlgorithmIdentity("fovea-dr", "1.2.0", derived_uid("test", "fovea-dr", "1.2.0"))
OTHER_VERSION = AlgorithmIdentity("fovea-dr", "1.3.0", derived_uid("test", "fovea-dr", "1.3.0"))
GRADED = (0.05, 0.1, 0.7, 0.1, 0.05)
WHEN = datetime(2026, 11, 22, 10, 30)

#: What this dciodvfy (dicom3tools 2022) says of objects that follow the
#: current standard: it does not know local "99" coding schemes (PS3.3 8.2),
#: nor Device UID in the Contributing Equipment Sequence (added to PS3.3 C.12.1
#: after its release).
KNOWN_WARNINGS = (
    re.compile(r"CodingSchemeDesignator.*Unrecognized defined term = <99FOVEA>"),
    re.compile(r"ContributingEquipmentSequence\(0018,a001\)\[\d\]/DeviceUID\(0018,1002\)> "
               r"- Attribute is not present in standard DICOM IOD"),
)


def _photograph(laterality: Laterality, request: Request, number: int) -> Dataset:
    pixels = np.random.default_rng(number).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    return build_ophthalmic_photograph(
        OphthalmicImage(laterality, pixels=pixels, acquired_at=WHEN), PATIENT, request,
        EQUIPMENT, series_instance_uid=derived_uid(request.study_instance_uid, "op"),
        instance_number=number)


@pytest.fixture
def order() -> Request:
    return Request(new_uid(), accession_number="A20261122001", requested_procedure_id="RP001",
                   scheduled_procedure_step_id="SPS001",
                   requested_procedure_description="AI diabetic-retinopathy screening")


@pytest.fixture
def right(order: Request) -> EyeFinding:
    """A graded right eye: moderate NPDR, referable, macular oedema not assessed."""
    return EyeFinding("R", _photograph(Laterality.RIGHT, order, 1), 2, GRADED, 0.85, True,
                      referral_threshold=0.4403, borderline=False)


@pytest.fixture
def left(order: Request) -> EyeFinding:
    """An ungradable left eye."""
    return EyeFinding("L", _photograph(Laterality.LEFT, order, 2), None, (), None, None,
                      ("too dark", "out of focus"))


@pytest.fixture
def overlay() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 255, (128, 160, 3), dtype=np.uint8)


def _write_and_verify(ds: Dataset, path: Path) -> Dataset:
    """Save, read back strictly, and run dciodvfy: no errors, no unknown warnings."""
    ds.save_as(path, enforce_file_format=True)
    with pydicom.config.strict_reading():
        again = pydicom.dcmread(path)
        again.decode()
    report = subprocess.run([require_tool("dciodvfy"), "-new", str(path)],
                            capture_output=True, text=True)
    lines = (report.stdout + report.stderr).splitlines()
    assert [line for line in lines if line.startswith("Error")] == []
    unknown = [line for line in lines if line.startswith("Warning")
               and not any(known.search(line) for known in KNOWN_WARNINGS)]
    assert unknown == []
    return again


def _content(ds: Dataset) -> Iterator[Dataset]:
    """Every content item of an SR tree, depth first."""
    for item in ds.get("ContentSequence", []):
        yield item
        yield from _content(item)


def _named(ds: Dataset, meaning: str) -> list[Dataset]:
    return [item for item in _content(ds)
            if item.ConceptNameCodeSequence[0].CodeMeaning == meaning]


def _evaluation(group: Dataset, meaning: str) -> str:
    """The meaning of the coded value of the one evaluation named ``meaning``."""
    (item,) = _named(group, meaning)
    return str(item.ConceptCodeSequence[0].CodeMeaning)


def _code_values(ds: Dataset) -> set[str]:
    return {item.ConceptCodeSequence[0].CodeValue for item in _content(ds)
            if "ConceptCodeSequence" in item}


def test_report_validates_and_carries_the_findings(
        tmp_path: Path, right: EyeFinding, left: EyeFinding) -> None:
    report = _write_and_verify(build_dr_report([left, right], ALGORITHM,
                                               content_datetime=WHEN), tmp_path / "sr.dcm")
    source = right.source
    assert report.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
    assert (report.StudyInstanceUID, report.PatientID, report.AccessionNumber) == (
        source.StudyInstanceUID, source.PatientID, source.AccessionNumber)
    assert (report.Modality, report.SeriesNumber) == ("SR", 900)
    assert report.SeriesInstanceUID != source.SeriesInstanceUID
    assert (report.VerificationFlag, report.CompletionFlag) == ("UNVERIFIED", "COMPLETE")
    assert report.ContentDate == "20261122"
    assert report.ReferencedRequestSequence[0].AccessionNumber == "A20261122001"
    (evidence,) = report.CurrentRequestedProcedureEvidenceSequence
    referenced = {i.ReferencedSOPInstanceUID
                  for s in evidence.ReferencedSeriesSequence for i in s.ReferencedSOPSequence}
    assert referenced == {right.sop_instance_uid, left.sop_instance_uid}
    groups = _named(report, "Measurement Group")
    assert [_named(g, "Tracking Identifier")[0].TextValue for g in groups] == [
        "Right eye", "Left eye"]
    sources = [_named(g, "Source of Measurement")[0].ReferencedSOPSequence[0]
               for g in groups]
    assert [s.ReferencedSOPInstanceUID for s in sources] == [
        right.sop_instance_uid, left.sop_instance_uid]
    assert _named(report, "Algorithm Version")[0].TextValue == "1.2.0"
    assert _named(report, "Device Observer UID")[0].UID == ALGORITHM.device_uid
    procedures = {i.ConceptCodeSequence[0].CodeValue for i in _named(report, "Procedure reported")}
    assert procedures == {"20067007", "134395001"}
    assert "RESEARCH USE ONLY" in _named(report, "Comment")[0].TextValue


def test_report_codes_grade_referral_and_quality(
        tmp_path: Path, right: EyeFinding, left: EyeFinding) -> None:
    report = build_dr_report([right, left], ALGORITHM)
    graded, ungradable = _named(report, "Measurement Group")
    assert {"312904009", "373066001", "122741", "4855003", "24028007"} <= _code_values(graded)
    probability = _named(graded, "Probability of ICDR grade 2")[0].MeasuredValueSequence[0]
    assert float(probability.NumericValue) == pytest.approx(0.7)
    assert probability.MeasurementUnitsCodeSequence[0].CodeValue == "1"
    assert float(_named(graded, "Probability of referable diabetic retinopathy")[0]
                 .MeasuredValueSequence[0].NumericValue) == pytest.approx(0.85)
    assert float(_named(graded, "Referral threshold of the referable probability")[0]
                 .MeasuredValueSequence[0].NumericValue) == pytest.approx(0.4403)
    assert _evaluation(graded, "Referral decision borderline") == "No"
    # Macular oedema not assessed is said, never left to be read as "no".
    assert _evaluation(graded, "Referable diabetic macular oedema") == "Not assessed"
    assert _named(graded, "Probability of referable diabetic macular oedema") == []
    assert _evaluation(graded, "Photograph deciding the eye's finding") == "Yes"
    # The ungradable eye: no grade nor probabilities, "unusable", re-image, reasons.
    assert {"111235", "FOVEA-REIMAGE", "7771000"} <= _code_values(ungradable)
    assert _named(ungradable, "Diabetic retinopathy severity (ICDR)") == []
    assert _named(ungradable, "Referable diabetic retinopathy") == []  # unknown, not "no"
    assert _named(ungradable, "Referable diabetic macular oedema") == []
    assert [i for i in _content(ungradable) if i.ValueType == "NUM"] == []
    assert [i.TextValue for i in _named(ungradable, "Reason for Repeating Acquisition")] == [
        "too dark", "out of focus"]


def test_report_names_the_model_as_contributing_equipment(right: EyeFinding) -> None:
    report = build_dr_report([right], ALGORITHM)
    purposes = {item.ManufacturerModelName: item.PurposeOfReferenceCodeSequence[0].CodeValue
                for item in report.ContributingEquipmentSequence}
    # The camera acquired, the model processed (CID 7005).
    assert purposes["Fundus simulator"] == "109101"
    assert purposes["fovea-dr"] == "109102"
    (model,) = [item for item in report.ContributingEquipmentSequence
                if item.ManufacturerModelName == "fovea-dr"]
    assert (model.Manufacturer, model.SoftwareVersions, model.DeviceUID) == (
        "Fovea", "1.2.0", ALGORITHM.device_uid)
    assert (report.ManufacturerModelName, report.DeviceUID) == ("fovea-dr", ALGORITHM.device_uid)
    assert report.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99FOVEA"


def test_report_uids_are_derived_from_photographs_and_model(
        right: EyeFinding, left: EyeFinding, order: Request) -> None:
    first = build_dr_report([right, left], ALGORITHM)
    again = build_dr_report([left, right], ALGORITHM, content_datetime=WHEN)
    assert (again.SOPInstanceUID, again.SeriesInstanceUID) == (
        first.SOPInstanceUID, first.SeriesInstanceUID)
    assert again.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    other_model = build_dr_report([right, left], OTHER_VERSION)
    assert other_model.SOPInstanceUID != first.SOPInstanceUID
    assert other_model.SeriesInstanceUID != first.SeriesInstanceUID
    retaken = replace(left, source=_photograph(Laterality.LEFT, order, 3))
    other_photo = build_dr_report([right, retaken], ALGORITHM)
    assert other_photo.SOPInstanceUID != first.SOPInstanceUID
    assert other_photo.SeriesInstanceUID == first.SeriesInstanceUID


def test_report_parses_with_dsrdump(tmp_path: Path, right: EyeFinding, left: EyeFinding) -> None:
    path = tmp_path / "sr.dcm"
    build_dr_report([right, left], ALGORITHM).save_as(path, enforce_file_format=True)
    dump = subprocess.run([require_tool("dsrdump"), str(path)], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    assert "Imaging Measurement Report" in dump.stdout
    assert "Verification Flag   : UNVERIFIED" in dump.stdout
    assert "Moderate nonproliferative diabetic retinopathy" in dump.stdout
    assert not [line for line in dump.stderr.splitlines() if line.startswith(("E:", "F:"))]


def test_capture_validates_and_references_the_photograph(
        tmp_path: Path, right: EyeFinding, overlay: np.ndarray) -> None:
    capture = _write_and_verify(build_heatmap_capture(right, overlay, ALGORITHM),
                                tmp_path / "sc.dcm")
    source = right.source
    assert capture.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
    assert (capture.StudyInstanceUID, capture.PatientID) == (
        source.StudyInstanceUID, source.PatientID)
    assert (capture.SeriesNumber, capture.InstanceNumber) == (901, 1)
    assert (capture.ConversionType, capture.BurnedInAnnotation) == ("WSD", "YES")
    assert capture.ImageLaterality == "R"
    assert "NOT FOR CLINICAL USE" in capture.ImageComments
    assert capture.ImageComments.splitlines()[:3] == caption_lines(right, ALGORITHM)[:3]
    (reference,) = capture.SourceImageSequence
    assert reference.ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert reference.ReferencedSOPClassUID == source.SOPClassUID
    assert capture.RequestAttributesSequence[0].RequestedProcedureID == "RP001"
    (model,) = [i for i in capture.ContributingEquipmentSequence
                if i.get("ManufacturerModelName") == "fovea-dr"]
    assert model.PurposeOfReferenceCodeSequence[0].CodeValue == "109102"
    assert (model.SoftwareVersions, model.DeviceUID) == ("1.2.0", ALGORITHM.device_uid)
    # The caption is drawn on a band at the foot; the rest is the overlay as given.
    pixels = capture.pixel_array
    assert pixels.shape == overlay.shape
    assert not np.array_equal(pixels, overlay)
    assert np.array_equal(pixels[:32], overlay[:32])


def test_capture_uids_are_derived_and_both_eyes_share_a_series(
        right: EyeFinding, left: EyeFinding, overlay: np.ndarray) -> None:
    first = build_heatmap_capture(right, overlay, ALGORITHM)
    again = build_heatmap_capture(right, overlay, ALGORITHM)
    other_eye = build_heatmap_capture(left, overlay, ALGORITHM, instance_number=2)
    other_model = build_heatmap_capture(right, overlay, OTHER_VERSION)
    assert (again.SOPInstanceUID, again.SeriesInstanceUID) == (
        first.SOPInstanceUID, first.SeriesInstanceUID)
    assert other_eye.SeriesInstanceUID == first.SeriesInstanceUID
    assert other_eye.SOPInstanceUID != first.SOPInstanceUID
    assert other_model.SOPInstanceUID != first.SOPInstanceUID
    assert other_model.SeriesInstanceUID != first.SeriesInstanceUID
    report = build_dr_report([right, left], ALGORITHM)
    assert report.SeriesInstanceUID != first.SeriesInstanceUID  # SR and OT: two series


def test_ungradable_capture_says_so(tmp_path: Path, right: EyeFinding, left: EyeFinding,
                                    overlay: np.ndarray) -> None:
    capture = _write_and_verify(build_heatmap_capture(left, overlay, ALGORITHM, instance_number=2),
                                tmp_path / "sc.dcm")
    assert capture.ImageLaterality == "L"
    assert not np.array_equal(capture.pixel_array,
                              build_heatmap_capture(right, overlay, ALGORITHM).pixel_array)
    assert caption_lines(left, ALGORITHM) == [
        "Left eye: UNGRADABLE - re-image", "Quality: too dark; out of focus",
        "Model: fovea-dr 1.2.0", "NOT FOR CLINICAL USE - research only"]
    assert caption_lines(right, ALGORITHM)[:3] == [
        "Right eye: Moderate non-proliferative DR (ICDR grade 2)",
        "Confidence 70%, referable: YES (p = 0.85, threshold 0.44)",
        "Macular oedema: not assessed by this model"]


def test_every_photograph_is_reported_with_its_own_grade_and_the_deciding_one_named(
        tmp_path: Path, right: EyeFinding, left: EyeFinding, order: Request,
        overlay: np.ndarray) -> None:
    """A two-photograph right eye: two groups, each with its own source and grade."""
    further = EyeFinding("R", _photograph(Laterality.RIGHT, order, 3), 0,
                         (0.8, 0.1, 0.05, 0.03, 0.02), 0.1, False, referral_threshold=0.4403,
                         borderline=False, decisive=False)
    report = _write_and_verify(build_dr_report([further, left, right], ALGORITHM),
                               tmp_path / "sr.dcm")
    groups = _named(report, "Measurement Group")
    assert [_named(g, "Tracking Identifier")[0].TextValue for g in groups] == [
        "Right eye", "Right eye, further photograph 1", "Left eye"]
    sources = [_named(g, "Source of Measurement")[0].ReferencedSOPSequence[0]
               .ReferencedSOPInstanceUID for g in groups]
    assert sources == [right.sop_instance_uid, further.sop_instance_uid, left.sop_instance_uid]
    decides = [_evaluation(g, "Photograph deciding the eye's finding") for g in groups]
    assert decides == ["Yes", "No", "Yes"]
    assert [_evaluation(g, "Diabetic retinopathy severity (ICDR)") for g in groups[:2]] == [
        "Moderate nonproliferative diabetic retinopathy", "No apparent retinopathy"]
    (evidence,) = report.CurrentRequestedProcedureEvidenceSequence
    assert len(evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence) == 3
    assert "Another photograph of this eye decides its finding" in caption_lines(
        further, ALGORITHM)
    capture = _write_and_verify(build_heatmap_capture(further, overlay, ALGORITHM),
                                tmp_path / "sc.dcm")
    assert capture.SourceImageSequence[0].ReferencedSOPInstanceUID == further.sop_instance_uid
    assert capture.SOPInstanceUID != build_heatmap_capture(right, overlay,
                                                           ALGORITHM).SOPInstanceUID


def test_the_referral_decision_is_written_as_the_node_made_it(
        tmp_path: Path, order: Request, overlay: np.ndarray) -> None:
    """Issue 15's vector: top grade 0, referable probability 0.45 over 0.4403: referable."""
    vector = (0.29, 0.26, 0.21, 0.14, 0.10)
    finding = EyeFinding("R", _photograph(Laterality.RIGHT, order, 1), 0, vector, 0.45, True,
                         referral_threshold=0.4403, borderline=True)
    report = _write_and_verify(build_dr_report([finding], ALGORITHM), tmp_path / "sr.dcm")
    (group,) = _named(report, "Measurement Group")
    assert _evaluation(group, "Diabetic retinopathy severity (ICDR)") == (
        "No apparent retinopathy")
    assert _evaluation(group, "Referable diabetic retinopathy") == "Yes"
    assert _evaluation(group, "Referral decision borderline") == "Yes"
    assert caption_lines(finding, ALGORITHM)[1] == (
        "Confidence 29%, referable: YES (p = 0.45, threshold 0.44, borderline)")
    _write_and_verify(build_heatmap_capture(finding, overlay, ALGORITHM), tmp_path / "sc.dcm")


def test_an_assessed_macular_oedema_is_coded_with_its_probability(
        tmp_path: Path, order: Request) -> None:
    finding = EyeFinding("L", _photograph(Laterality.LEFT, order, 2), 1,
                         (0.2, 0.6, 0.1, 0.05, 0.05), 0.76, True, referral_threshold=0.4403,
                         borderline=False, dme_probability=0.7, dme=True)
    report = _write_and_verify(build_dr_report([finding], ALGORITHM), tmp_path / "sr.dcm")
    (group,) = _named(report, "Measurement Group")
    assert _evaluation(group, "Referable diabetic macular oedema") == "Yes"
    assert float(_named(group, "Probability of referable diabetic macular oedema")[0]
                 .MeasuredValueSequence[0].NumericValue) == pytest.approx(0.7)
    assert caption_lines(finding, ALGORITHM)[2] == "Macular oedema: YES (p = 0.70)"
    absent = replace(finding, dme_probability=0.1, dme=False)
    (group,) = _named(build_dr_report([absent], ALGORITHM), "Measurement Group")
    assert _evaluation(group, "Referable diabetic macular oedema") == "No"


def test_a_laterality_doubt_is_recorded_as_text(tmp_path: Path, right: EyeFinding,
                                                overlay: np.ndarray) -> None:
    doubt = "the optic disc lies left of the macula, as in a left eye"
    finding = replace(right, laterality_doubt=doubt)
    report = _write_and_verify(build_dr_report([finding], ALGORITHM), tmp_path / "sr.dcm")
    assert [i.TextValue for i in _named(report, "Laterality doubt")] == [doubt]
    assert _named(build_dr_report([right], ALGORITHM), "Laterality doubt") == []
    assert f"Laterality doubt: {doubt}" in caption_lines(finding, ALGORITHM)
    long = replace(right, laterality_doubt="very " * 40 + "doubtful")
    line = [x for x in caption_lines(long, ALGORITHM) if x.startswith("Laterality")][0]
    assert len(line) <= 80 and line.endswith("...")
    _write_and_verify(build_heatmap_capture(finding, overlay, ALGORITHM), tmp_path / "sc.dcm")


def test_a_simulated_capture_is_said_to_be_one_in_the_report_and_its_capture(
        tmp_path: Path, right: EyeFinding, left: EyeFinding, overlay: np.ndarray) -> None:
    """Read from the photograph's own markers: the SR's group and the capture say so."""
    simulated = replace(right, source=mark_simulated(copy.deepcopy(right.source),
                                                     "ICDR severity 2, seed 7"))
    assert simulated.simulated and not right.simulated and not left.simulated
    report = _write_and_verify(build_dr_report([simulated, left], ALGORITHM),
                               tmp_path / "sr.dcm")
    right_group, left_group = _named(report, "Measurement Group")
    (item,) = _named(right_group, "Simulated image")
    assert (item.ValueType, item.TextValue) == ("TEXT", "synthetic, not a photograph of the "
                                                "patient")
    assert item.ConceptNameCodeSequence[0].CodeValue == "SIMULATED-IMAGE"
    assert _named(left_group, "Simulated image") == []
    lines = caption_lines(simulated, ALGORITHM)
    assert lines[0] == SIMULATED_LINE == (
        "SIMULATED image: synthetic, not a photograph of the patient")
    assert lines[1].startswith("Right eye: Moderate")
    assert SIMULATED_LINE not in caption_lines(right, ALGORITHM)
    capture = _write_and_verify(build_heatmap_capture(simulated, overlay, ALGORITHM),
                                tmp_path / "sc.dcm")
    assert capture.ImageComments.startswith(SIMULATED_LINE)
    assert "simulated capture" in capture.DerivationDescription
    assert not np.array_equal(capture.pixel_array,
                              build_heatmap_capture(right, overlay, ALGORITHM).pixel_array)


def test_finding_repr_shows_no_patient_data(right: EyeFinding) -> None:
    assert "Doe" not in repr(right) and "MRN" not in repr(right)


def test_no_patient_data_is_logged_and_names_keep_their_characters(
        tmp_path: Path, order: Request, overlay: np.ndarray,
        caplog: pytest.LogCaptureFixture) -> None:
    """highdicom logs a name without a caret; the builders never hand it one."""
    patient = Patient("MRN-7731", "Zoë Müller", date(1950, 1, 2), "F")
    photo = build_ophthalmic_photograph(
        OphthalmicImage(Laterality.LEFT, pixels=np.zeros((64, 80, 3), np.uint8)),
        patient, order, EQUIPMENT, series_instance_uid=new_uid())
    finding = EyeFinding("L", photo, 0, (0.9, 0.05, 0.03, 0.01, 0.01), 0.02, False)
    before = copy.deepcopy(photo)
    with caplog.at_level(logging.DEBUG):
        report = build_dr_report([finding], ALGORITHM)
        capture = build_heatmap_capture(finding, overlay, ALGORITHM)
    assert "Müller" not in caplog.text and "MRN-7731" not in caplog.text
    assert photo == before  # the photograph is read, never changed
    for ds in (report, capture):  # a caret-less name is legal, if old-fashioned (PS3.5 6.2)
        ds.save_as(tmp_path / "result.dcm", enforce_file_format=True)
        with pydicom.config.strict_reading():
            again = pydicom.dcmread(tmp_path / "result.dcm")
        assert again.SpecificCharacterSet == "ISO_IR 192"
        assert again.PatientName == "Zoë Müller"
        assert again.PatientBirthDate == "19500102"


def _finding(photo: Dataset, **changes: object) -> EyeFinding:
    values: dict[str, object] = dict(laterality="R", source=photo, grade=2, probabilities=GRADED,
                                     referable_probability=0.85, referable=True)
    values.update(changes)
    return EyeFinding(**values)  # type: ignore[arg-type]


def _without(ds: Dataset, keyword: str) -> Dataset:
    copy = Dataset()
    copy.update(ds)
    del copy[keyword]
    return copy


@pytest.mark.parametrize(
    "changes",
    [
        {"laterality": "X"},
        {"laterality": "L"},  # the photograph is of the right eye
        {"grade": 5},
        {"grade": True},
        {"probabilities": GRADED[:4]},
        {"probabilities": (0.5, 0.5, 0.5, 0.5, 1.5)},
        {"grade": None},  # probabilities given for an ungradable eye
        {"referable_probability": float("nan")},
        {"referable": None},  # a graded photograph carries the node's decision
        {"referable_probability": None},
        {"referral_threshold": 1.5},
        {"dme": True},  # an oedema finding without its probability
        {"dme_probability": 0.3},
        {"quality_reasons": ("",)},
        {"laterality_doubt": "x" * 1025},
    ],
)
def test_invalid_findings_are_refused(right: EyeFinding, changes: dict[str, object]) -> None:
    with pytest.raises(DicomInputError):
        _finding(right.source, **changes)


@pytest.mark.parametrize("keyword", ["SOPInstanceUID", "StudyInstanceUID", "PatientID"])
def test_a_photograph_without_identifiers_is_refused(right: EyeFinding, keyword: str) -> None:
    with pytest.raises(DicomInputError, match=keyword):
        _finding(_without(right.source, keyword))


@pytest.mark.parametrize(
    "make",
    [
        lambda: AlgorithmIdentity("", "1.0", derived_uid("x")),
        lambda: AlgorithmIdentity("fovea-dr", "v" * 65, derived_uid("x")),
        lambda: AlgorithmIdentity("fovea-dr", "1.0", "not-a-uid"),
    ],
)
def test_invalid_algorithms_are_refused(make: object) -> None:
    with pytest.raises(DicomInputError):
        make()  # type: ignore[operator]


def test_reports_of_no_eye_or_mixed_eyes_are_refused(
        right: EyeFinding, left: EyeFinding, order: Request) -> None:
    with pytest.raises(DicomInputError, match="at least one"):
        build_dr_report([], ALGORITHM)
    with pytest.raises(DicomInputError, match="one finding per photograph"):
        build_dr_report([right, right], ALGORITHM)
    second = replace(right, source=_photograph(Laterality.RIGHT, order, 7))
    with pytest.raises(DicomInputError, match="one photograph of each eye decides"):
        build_dr_report([right, second], ALGORITHM)  # two decide the right eye
    with pytest.raises(DicomInputError, match="one photograph of each eye decides"):
        build_dr_report([replace(right, decisive=False), left], ALGORITHM)
    elsewhere = Request(new_uid())
    stranger = replace(left, source=_photograph(Laterality.LEFT, elsewhere, 4))
    with pytest.raises(DicomInputError, match="one study"):
        build_dr_report([right, stranger], ALGORITHM)


@pytest.mark.parametrize(
    "overlay",
    [
        np.zeros((128, 160, 3), np.uint16),
        np.zeros((128, 160), np.uint8),
        np.zeros((32, 160, 3), np.uint8),
    ],
)
def test_unusable_overlays_are_refused(right: EyeFinding, overlay: np.ndarray) -> None:
    with pytest.raises(DicomInputError):
        build_heatmap_capture(right, overlay, ALGORITHM)
