"""The research export: PS3.15 Basic Profile, modified dates, new UIDs, flagged captures.

Studies are built with the real builders, stored through the archive's own
store into a real archive folder and index, exported with ``main()`` as the
command line runs it, and the files checked byte for byte and by dciodvfy.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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
from imaging_common.deidentify import Deidentifier, shift_datetime
from pacs_scp.export import REPORT_NAME, main
from pacs_scp.server import build_context
from tests.conftest import pacs_settings, require_tool

SALT = bytes(range(32))
WHEN = datetime(2026, 11, 22, 10, 30)
ALGORITHM = AlgorithmIdentity("fovea-dr", "1.2.0", "2.25.1234567890")
EQUIPMENT = Equipment(model_name="Fundus simulator", station_name="FUNDUS_CAM1",
                      device_serial_number="SN-778899", institution_name="Eye Clinic North")
JANE = Patient("MRN-0042", "Doe^Jane", date(1961, 7, 14), "F")
RICHARD = Patient("MRN-0077", "Roe^Richard", date(1950, 1, 2), "M")
PHI = [b"Doe^Jane", b"MRN-0042", b"19610714", b"Roe^Richard", b"MRN-0077", b"19500102",
       b"A20261122001", b"A20261122002", b"Eye Clinic North", b"FUNDUS_CAM1", b"SN-778899",
       b"Smith^John", b"RP001", b"SPS001", b"20261122"]


@dataclass
class Stored:
    """What went into the archive: the datasets, by role, per patient."""

    op: Dataset
    sr: Dataset
    sc: Dataset
    other_op: Dataset

    def all(self) -> list[Dataset]:
        return [self.op, self.sr, self.sc, self.other_op]


def _photograph(patient: Patient, accession: str) -> Dataset:
    request = Request(pydicom.uid.generate_uid(prefix="2.25."), accession_number=accession,
                      requested_procedure_id="RP001", scheduled_procedure_step_id="SPS001",
                      requested_procedure_description="AI DR screening", study_id="S1",
                      referring_physician_name="Smith^John")
    pixels = np.random.default_rng(1).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    return build_ophthalmic_photograph(
        OphthalmicImage(Laterality.RIGHT, pixels=pixels, acquired_at=WHEN), patient, request,
        EQUIPMENT, series_instance_uid=pydicom.uid.generate_uid(prefix="2.25."),
        instance_number=1)


@pytest.fixture
def archive(tmp_path: Path, network_file: Path) -> tuple[list[str], Stored]:
    """A real archive holding two studies; returns the export's base options."""
    options = ["--config", str(network_file), "--data-dir", str(tmp_path / "pacs"),
               "--log-format", "json"]
    ctx = build_context(pacs_settings(network_file, tmp_path / "pacs"))
    op = _photograph(JANE, "A20261122001")
    finding = EyeFinding("R", op, 2, (0.05, 0.1, 0.7, 0.1, 0.05), 0.85, True)
    overlay = np.random.default_rng(5).integers(0, 255, (128, 160, 3), dtype=np.uint8)
    stored = Stored(op, build_dr_report([finding], ALGORITHM, content_datetime=WHEN),
                    build_heatmap_capture(finding, overlay, ALGORITHM),
                    _photograph(RICHARD, "A20261122002"))
    for number, ds in enumerate(stored.all()):
        path = tmp_path / f"in{number}.dcm"
        ds.save_as(path, enforce_file_format=True)
        ctx.store.store(path.read_bytes(), str(ds.file_meta.TransferSyntaxUID), "TESTSCU")
    return options, stored


def _export(options: list[str], out: Path, *extra: str) -> dict[str, Dataset]:
    """Run the command; return the exported datasets by their file's relative path."""
    assert main([*options, "--out", str(out), *extra]) == 0
    return {p.relative_to(out).as_posix(): pydicom.dcmread(p) for p in out.glob("*/*/*.dcm")}


def _by_modality(files: dict[str, Dataset], modality: str) -> list[Dataset]:
    return [ds for ds in files.values() if ds.Modality == modality]


def test_export_removes_phi_and_replaces_uids(
        archive: tuple[list[str], Stored], tmp_path: Path) -> None:
    options, stored = archive
    out = tmp_path / "export"
    files = _export(options, out, "--all", "--salt-file", str(tmp_path / "salt"))
    assert sorted(ds.Modality for ds in files.values()) == ["OP", "OP", "SR"]
    originals = {str(ds[k].value).encode() for ds in stored.all()
                 for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")}
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaked = [value for value in [*PHI, *originals] if value in data]
            assert leaked == [], path.name
    for relative, ds in files.items():
        assert relative == f"{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.PatientIdentityRemoved == "YES"
        assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == [
            "113100", "113107"]
        assert not [e for e in ds.iterall() if e.tag.is_private]
        assert "InstitutionName" not in ds and "RequestAttributesSequence" not in ds
    assert {(ds.PatientID, str(ds.PatientName)) for ds in files.values()} == {
        ("RESEARCH-0001", "RESEARCH^0001"), ("RESEARCH-0002", "RESEARCH^0002")}


def test_references_follow_the_new_uids(
        archive: tuple[list[str], Stored], tmp_path: Path) -> None:
    options, stored = archive
    files = _export(options, tmp_path / "export", "--study", stored.op.StudyInstanceUID)
    (op,) = _by_modality(files, "OP")
    (sr,) = _by_modality(files, "SR")
    assert sr.StudyInstanceUID == op.StudyInstanceUID != stored.op.StudyInstanceUID
    assert sr.PatientID == op.PatientID
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == op.StudyInstanceUID
    series = evidence.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == op.SeriesInstanceUID
    assert series.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == op.SOPInstanceUID
    referenced = {e.value for e in sr.iterall() if e.keyword == "ReferencedSOPInstanceUID"}
    assert referenced == {op.SOPInstanceUID}
    # The SR's text is kept; UIDREF content items are replaced.
    texts = [e.value for e in sr.iterall() if e.keyword == "TextValue"]
    assert any("RESEARCH USE ONLY" in text for text in texts)
    originals = {e.value for e in stored.sr.iterall() if e.keyword == "UID"}
    assert originals and not originals & {e.value for e in sr.iterall() if e.keyword == "UID"}


def test_dates_shift_per_patient_and_times_stay(
        archive: tuple[list[str], Stored], tmp_path: Path) -> None:
    options, stored = archive
    salt_file = tmp_path / "salt"
    salt_file.write_text(SALT.hex())
    files = _export(options, tmp_path / "export", "--all", "--salt-file", str(salt_file))
    deidentifier = Deidentifier(SALT)
    shifts = {key: deidentifier.date_shift_days((key, "")) for key in ("MRN-0042", "MRN-0077")}
    # As computed for this fixed salt: both patients move, by different amounts.
    assert shifts["MRN-0042"] != shifts["MRN-0077"]
    assert all(-3650 <= days <= -1 for days in shifts.values())
    moved = {days: (WHEN.date() + timedelta(days=days)).strftime("%Y%m%d")
             for days in shifts.values()}
    for ds in files.values():
        days = shifts["MRN-0042" if ds.PatientID == _pseudonym_with_sr(files) else "MRN-0077"]
        dates = {e.value for e in ds.iterall() if e.VR == "DA" and e.value
                 and e.keyword not in ("InstanceCreationDate",)}
        assert dates == {moved[days]}, ds.Modality
        assert ds.StudyTime == "103000"
        assert ds.PatientBirthDate == ""
    (op,) = [ds for ds in _by_modality(files, "OP")
             if ds.PatientID == _pseudonym_with_sr(files)]
    assert op.AcquisitionDateTime == shift_datetime(str(stored.op.AcquisitionDateTime),
                                                    shifts["MRN-0042"])


def _pseudonym_with_sr(files: dict[str, Dataset]) -> str:
    """The pseudonym of Jane, the patient with an SR."""
    (sr,) = _by_modality(files, "SR")
    return str(sr.PatientID)


def test_burned_in_capture_is_flagged_and_left_out(
        archive: tuple[list[str], Stored], tmp_path: Path) -> None:
    options, stored = archive
    out, salt = tmp_path / "export", ["--salt-file", str(tmp_path / "salt")]
    files = _export(options, out, "--study", stored.op.StudyInstanceUID, *salt)
    assert not _by_modality(files, "OT")
    report = json.loads((out / REPORT_NAME).read_text())
    assert (report["instances_selected"], report["instances_exported"]) == (3, 2)
    (flag,) = report["flagged"]
    assert (flag["burned_in_annotation"], flag["exported"]) == ("YES", False)
    included = _export(options, tmp_path / "with", "--study", stored.op.StudyInstanceUID,
                       "--include-burned-in", *salt)
    (sc,) = _by_modality(included, "OT")
    assert sc.SOPInstanceUID == flag["sop_instance_uid"] != stored.sc.SOPInstanceUID
    (op,) = _by_modality(included, "OP")
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == op.SOPInstanceUID


def test_exported_op_and_sr_pass_dciodvfy(
        archive: tuple[list[str], Stored], tmp_path: Path) -> None:
    options, stored = archive
    out = tmp_path / "export"
    files = _export(options, out, "--study", stored.op.StudyInstanceUID)
    tool = require_tool("dciodvfy")
    for relative, ds in files.items():
        result = subprocess.run([tool, "-new", str(out / relative)],
                                capture_output=True, text=True)
        lines = (result.stdout + result.stderr).splitlines()
        assert [line for line in lines if line.startswith("Error")] == [], ds.Modality
        assert not [line for line in lines if "PatientName" in line]


def test_same_salt_same_uids_and_key_file(
        archive: tuple[list[str], Stored], tmp_path: Path) -> None:
    options, _ = archive
    salt_file, key_file = tmp_path / "salt", tmp_path / "private" / "key.csv"
    first = _export(options, tmp_path / "one", "--all", "--salt-file", str(salt_file),
                    "--key-file", str(key_file))
    again = _export(options, tmp_path / "two", "--all", "--salt-file", str(salt_file))
    other = _export(options, tmp_path / "three", "--all")
    assert sorted(first) == sorted(again)
    assert not set(first) & set(other)
    assert key_file.stat().st_mode & 0o077 == 0 and salt_file.stat().st_mode & 0o077 == 0
    rows = key_file.read_text().splitlines()
    assert rows[0] == "pseudonym,patient_id,issuer_of_patient_id,date_shift_days"
    assert {row.split(",")[1] for row in rows[1:]} == {"MRN-0042", "MRN-0077"}
    assert main([*options, "--all", "--out", str(tmp_path / "four"),
                 "--key-file", str(tmp_path / "four" / "key.csv")]) == 2
    assert main([*options, "--study", "1.2.3.4", "--out", str(tmp_path / "five")]) == 2
