"""DCMTK's command-line tools against the archive: echo, store, find, move and get.

What a tool sends is checked in the archive's index and files; what it
receives is read back with pydicom (findscu ``-X`` response files, the files
storescp and getscu write) or from its debug dump of the final DIMSE response.
"""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)
from pynetdicom import sop_class
from sqlalchemy import select

from imaging_common.builders import (
    Equipment,
    Laterality,
    OphthalmicImage,
    Patient,
    Request,
    build_ophthalmic_photograph,
)
from imaging_common.codes import Code
from imaging_common.levels import UNIQUE_KEYS, Level
from imaging_common.status import RetrieveStatus
from imaging_common.uids import derived_uid, new_uid
from pacs_scp.handlers import PacsContext
from pacs_scp.models import Instance
from tests.conftest import DEST_AE, RunningPacs, dcmtk, require_tool
from tests.factory import (
    as_implicit,
    as_jpeg2000,
    as_jpeg_baseline,
    as_rle,
    dcmtk_convert,
    make_instance,
    write,
)


def _uid(name: str) -> str:
    """The UID of a named study, series or instance of the query catalogue."""
    return str(derived_uid("dcmtk-interop", name))


# The query catalogue: two patients, four studies, five series, seven instances.
#: PatientID -> (PatientName, PatientBirthDate).
PATIENTS = {"PAT001": ("DOE^JANE", "19600101"), "PAT002": ("ROE^RICHARD", "19750615")}
#: Study -> (PatientID, StudyDate, AccessionNumber, StudyDescription).
STUDIES = {
    "A": ("PAT001", "20240105", "ACC001", "Screening"),
    "B": ("PAT001", "20240131", "ACC002", "Follow-up"),
    "C": ("PAT002", "20240215", "ACC003", "Screening"),
    "D": ("PAT002", "20231231", "ACC004", "Baseline"),
}
#: Series -> (study, Modality, SeriesDescription).
SERIES = {
    "A1": ("A", "OP", "Fundus right"),
    "A2": ("A", "OT", "Capture"),
    "B1": ("B", "OP", "Fundus left"),
    "C1": ("C", "CT", "Chest"),
    "D1": ("D", "OT", "Capture"),
}
#: Instance -> (series, InstanceNumber, ImageComments, transfer syntax).
INSTANCES = {
    "A1-1": ("A1", 1, "right eye", ExplicitVRLittleEndian),
    "A1-2": ("A1", 2, "right eye", RLELossless),
    "A2-1": ("A2", 1, "capture", ImplicitVRLittleEndian),
    "B1-1": ("B1", 1, "left eye", ExplicitVRLittleEndian),
    "C1-1": ("C1", 1, "slice 1", ExplicitVRLittleEndian),
    "C1-2": ("C1", 2, "slice 2", ExplicitVRLittleEndian),
    "D1-1": ("D1", 1, "capture", ExplicitVRLittleEndian),
}
SOP_CLASSES = {
    "OP": sop_class.OphthalmicPhotography8BitImageStorage,
    "OT": sop_class.SecondaryCaptureImageStorage,
    "CT": sop_class.CTImageStorage,
}
NAMES = {_uid(name): name for name in [*STUDIES, *SERIES, *INSTANCES]}

#: Matching kind -> [(level, matching keys, what matches)]; each is run on both models.
FIND_CASES: dict[str, list[tuple[Level, dict[str, str], set[str]]]] = {
    "single_value": [
        (Level.PATIENT, {"PatientID": "PAT002"}, {"PAT002"}),
        (Level.STUDY, {"AccessionNumber": "ACC003"}, {"C"}),
        (Level.SERIES, {"Modality": "OP"}, {"A1", "B1"}),
        (Level.IMAGE, {"InstanceNumber": "2"}, {"A1-2", "C1-2"}),
    ],
    "universal": [
        (Level.PATIENT, {"PatientName": ""}, set(PATIENTS)),
        (Level.STUDY, {"StudyDate": ""}, set(STUDIES)),
        (Level.SERIES, {"Modality": "*"}, set(SERIES)),
        (Level.IMAGE, {"SOPClassUID": ""}, set(INSTANCES)),
    ],
    "wildcards": [
        (Level.PATIENT, {"PatientName": "DOE*"}, {"PAT001"}),
        (Level.PATIENT, {"PatientID": "PAT00?"}, set(PATIENTS)),
        (Level.STUDY, {"StudyDescription": "Scr*ing"}, {"A", "C"}),
        (Level.STUDY, {"AccessionNumber": "ACC0?2"}, {"B"}),
        (Level.SERIES, {"SeriesDescription": "Fundus*"}, {"A1", "B1"}),
        (Level.SERIES, {"SeriesDescription": "C?pture"}, {"A2", "D1"}),
        (Level.IMAGE, {"ImageComments": "*eye"}, {"A1-1", "A1-2", "B1-1"}),
        (Level.IMAGE, {"ImageComments": "slice ?"}, {"C1-1", "C1-2"}),
    ],
    "date_ranges": [
        (Level.PATIENT, {"PatientBirthDate": "19500101-19651231"}, {"PAT001"}),
        (Level.STUDY, {"StudyDate": "20240101-20240131"}, {"A", "B"}),
        (Level.STUDY, {"StudyDate": "-20240131"}, {"A", "B", "D"}),
        (Level.STUDY, {"StudyDate": "20240101-"}, {"A", "B", "C"}),
        (Level.SERIES, {"SeriesDate": "20240201-"}, {"C1"}),
        (Level.IMAGE, {"ContentDate": "-20231231"}, {"D1-1"}),
    ],
    "uid_lists": [
        (Level.STUDY, {"StudyInstanceUID": f"{_uid('A')}\\{_uid('C')}"}, {"A", "C"}),
        (Level.STUDY, {"StudyInstanceUID": f"{_uid('D')}\\{_uid('absent')}"}, {"D"}),
        (Level.SERIES, {"SeriesInstanceUID": f"{_uid('A2')}\\{_uid('B1')}\\{_uid('C1')}"},
         {"A2", "B1", "C1"}),
        (Level.IMAGE, {"SOPInstanceUID": f"{_uid('A1-2')}\\{_uid('D1-1')}"}, {"A1-2", "D1-1"}),
    ],
    "no_match": [
        (Level.PATIENT, {"PatientID": "NOBODY"}, set()),
        (Level.STUDY, {"StudyDate": "19000101-19001231"}, set()),
        (Level.SERIES, {"Modality": "MR"}, set()),
        (Level.IMAGE, {"SOPInstanceUID": _uid("absent")}, set()),
    ],
}

#: (level, matching keys, return keys and the values they must come back with).
RETURN_KEYS: list[tuple[Level, dict[str, str], dict[str, str]]] = [
    (Level.PATIENT, {"PatientID": "PAT001"},
     {"PatientName": "DOE^JANE", "PatientBirthDate": "19600101", "PatientSex": "F",
      "NumberOfPatientRelatedStudies": "2", "NumberOfPatientRelatedInstances": "4"}),
    (Level.STUDY, {"StudyInstanceUID": _uid("A")},
     {"PatientName": "DOE^JANE", "PatientID": "PAT001", "StudyDate": "20240105",
      "StudyTime": "101500", "AccessionNumber": "ACC001", "StudyDescription": "Screening",
      "ModalitiesInStudy": "OP\\OT", "NumberOfStudyRelatedSeries": "2",
      "NumberOfStudyRelatedInstances": "3"}),
    (Level.SERIES, {"SeriesInstanceUID": _uid("A1")},
     {"StudyInstanceUID": _uid("A"), "Modality": "OP", "SeriesNumber": "1",
      "SeriesDescription": "Fundus right", "SeriesDate": "20240105",
      "NumberOfSeriesRelatedInstances": "2"}),
    (Level.IMAGE, {"SOPInstanceUID": _uid("A1-2")},
     {"StudyInstanceUID": _uid("A"), "SeriesInstanceUID": _uid("A1"),
      "SOPClassUID": sop_class.OphthalmicPhotography8BitImageStorage,
      "InstanceNumber": "2", "ImageComments": "right eye"}),
]

#: storescu's transfer syntax proposal for each folder of outgoing files, and
#: the transfer syntax of the files in it.
PROPOSALS = {
    "explicit": ("-xe", ExplicitVRLittleEndian),
    "implicit": ("-xi", ImplicitVRLittleEndian),
    "rle": ("-xr", RLELossless),
    "jpeg-baseline": ("-xy", JPEGBaseline8Bit),
    "jpeg-lossless": ("-xs", JPEGLosslessSV1),
    "jpeg-ls": ("-xt", JPEGLSLossless),
    "jpeg2000": ("-xv", JPEG2000Lossless),
}

REPORT_TITLE = Code("18748-4", "LN", "Diagnostic imaging report")
FINDING = Code("121071", "DCM", "Finding")
#: Enough matches that a C-CANCEL after the first response cuts the rest short.
MANY = 150


def _context(pacs: RunningPacs) -> PacsContext:
    """The archive's context, for reading its index and files."""
    assert pacs.context is not None
    return pacs.context


def _store(pacs: RunningPacs, ds: Dataset, path: Path) -> Path:
    """Store ``ds`` straight into the archive, as a C-STORE would; return its file."""
    write(ds, path)
    _context(pacs).store.store(path.read_bytes(), ds.file_meta.TransferSyntaxUID, "TESTSCU")
    return path


def _catalogue_instance(name: str) -> Dataset:
    """The instance ``name`` of the query catalogue, in its transfer syntax."""
    series, number, comment, syntax = INSTANCES[name]
    study, modality, description = SERIES[series]
    patient_id, study_date, accession, study_description = STUDIES[study]
    patient_name, birth_date = PATIENTS[patient_id]
    ds = make_instance(
        sop_class_uid=SOP_CLASSES[modality], modality=modality, patient_id=patient_id,
        patient_name=patient_name, birth_date=birth_date, study_uid=_uid(study),
        series_uid=_uid(series), sop_uid=_uid(name), accession=accession,
        study_date=study_date, study_description=study_description,
        instance_number=number, seed=number,
    )
    ds.SeriesDescription = description
    ds.SeriesDate = ds.ContentDate = study_date
    ds.ImageComments = comment
    if syntax == ImplicitVRLittleEndian:
        as_implicit(ds)
    elif syntax == RLELossless:
        ds.compress(RLELossless, generate_instance_uid=False)
    return ds


@pytest.fixture
def catalogue(pacs: RunningPacs, tmp_path: Path) -> dict[str, Path]:
    """The query catalogue in the archive; the file of each instance by name."""
    return {name: _store(pacs, _catalogue_instance(name), tmp_path / "catalogue" / f"{name}.dcm")
            for name in INSTANCES}


def _keys(level: Level, keys: dict[str, str]) -> list[str]:
    """findscu/movescu/getscu ``-k`` options for an identifier."""
    options = ["-k", f"QueryRetrieveLevel={level.value}"]
    for keyword, value in keys.items():
        options += ["-k", f"{keyword}={value}"]
    return options


def _findscu(pacs: RunningPacs, out: Path, model: str, level: Level, keys: dict[str, str],
             *options: str) -> subprocess.CompletedProcess[str]:
    """Run findscu, extracting each response identifier to ``out`` (rsp0001.dcm, ...)."""
    return dcmtk("findscu", "-v", model, "-aet", "FINDSCU", *pacs.address(), "-X",
                 "-od", str(out), *options, *_keys(level, keys))


def _find(pacs: RunningPacs, tmp_path: Path, model: str, level: Level,
          keys: dict[str, str]) -> list[Dataset]:
    """Return the response identifiers of a C-FIND, in the order they came."""
    out = Path(tempfile.mkdtemp(prefix="find-", dir=tmp_path))
    _findscu(pacs, out, model, level, keys)
    return [dcmread(path) for path in sorted(out.glob("rsp*.dcm"))]


def _models(level: Level) -> list[str]:
    """findscu's options for the models that have ``level`` (Study Root has no PATIENT)."""
    return ["-P"] if level is Level.PATIENT else ["-P", "-S"]


def _matched(responses: list[Dataset], level: Level) -> list[str]:
    """The catalogue names (PatientID at PATIENT level) of the responses."""
    values = [str(response.get(UNIQUE_KEYS[level], "")) for response in responses]
    return [NAMES.get(value, value) for value in values]


def _text(value: object) -> str:
    """A value as findscu's dump writes it: multiple values joined by backslashes."""
    if isinstance(value, MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value)


def _final_response(output: str, message_type: str) -> dict[str, str]:
    """The last ``message_type`` DIMSE message in a DCMTK tool's ``-d`` output, by field."""
    blocks = re.findall(r"INCOMING DIMSE MESSAGE =+\n(.*?)END DIMSE MESSAGE", output, re.S)
    messages = [dict(re.findall(r"^D: (\S.*?)\s+: (.*)$", block, re.M)) for block in blocks]
    matching = [m for m in messages if m.get("Message Type") == message_type]
    assert matching, f"no {message_type} in the output:\n{output}"
    return matching[-1]


def _status(message: dict[str, str]) -> int:
    """The DIMSE Status of a dumped message (``0xa801: Refused: ...``)."""
    return int(message["DIMSE Status"].split(":")[0], 16)


def _dataset_bytes(data: bytes) -> bytes:
    """The data set of a Part 10 file: what follows the File Meta Information.

    PS3.10 7.1: after the preamble and ``DICM`` comes (0002,0000) File Meta
    Information Group Length, UL, in Explicit VR Little Endian.
    """
    assert data[128:138] == b"DICM\x02\x00\x00\x00UL"
    return data[144 + int.from_bytes(data[140:144], "little"):]


def _archived(pacs: RunningPacs) -> dict[str, tuple[str, bytes]]:
    """Transfer syntax and file content of every archived instance, by SOP Instance UID."""
    ctx = _context(pacs)
    with ctx.sessions() as session:
        return {i.sop_instance_uid: (i.transfer_syntax_uid, ctx.archive.read(i.file_path))
                for i in session.scalars(select(Instance))}


def _received(folder: Path) -> dict[str, Dataset]:
    """The files a DCMTK receiver wrote, by SOP Instance UID."""
    datasets = [dcmread(path) for path in folder.iterdir() if path.is_file()]
    return {str(ds.SOPInstanceUID): ds for ds in datasets}


def _assert_intact(received: Dataset, original: Path) -> None:
    """Every attribute and every pixel as sent, whatever transfer syntax carried them."""
    sent = dcmread(original)
    for element in sent:
        if element.keyword != "PixelData":
            assert received[element.tag].value == element.value, element.keyword
    assert np.array_equal(received.pixel_array, sent.pixel_array)


def _fundus_photographs() -> list[Dataset]:
    """Ophthalmic Photography 8 Bit images: a camera JPEG kept as it is, and an array."""
    rng = np.random.default_rng(3)
    picture = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    jpeg = io.BytesIO()
    Image.fromarray(picture).save(jpeg, "JPEG", quality=90, subsampling=1)
    patient = Patient("PAT003", "Poe^Edgar")
    request = Request(new_uid(), accession_number="ACC005")
    images = [OphthalmicImage(Laterality.RIGHT, jpeg=jpeg.getvalue()),
              OphthalmicImage(Laterality.LEFT, pixels=picture)]
    return [build_ophthalmic_photograph(image, patient, request, Equipment(), new_uid())
            for image in images]


def _text_report() -> Dataset:
    """A Basic Text SR (PS3.3 A.35.1) with one finding."""
    ds = make_instance(sop_class_uid=sop_class.BasicTextSRStorage, modality="SR")
    for keyword in ("Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation",
                    "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                    "PixelData"):
        delattr(ds, keyword)
    finding = Dataset()
    finding.RelationshipType = "CONTAINS"
    finding.ValueType = "TEXT"
    finding.ConceptNameCodeSequence = [FINDING.to_item()]
    finding.TextValue = "No apparent retinopathy"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [REPORT_TITLE.to_item()]
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.ContentSequence = [finding]
    return ds


def _outgoing(root: Path) -> list[Path]:
    """Write the files to send, one folder per entry of :data:`PROPOSALS`."""
    jpeg_photo, array_photo = _fundus_photographs()
    ct = sop_class.CTImageStorage
    datasets = {
        "explicit": [array_photo, make_instance(sop_class_uid=ct, modality="CT"), _text_report()],
        "implicit": [as_implicit(make_instance()), as_implicit(_text_report())],
        "rle": [as_rle(make_instance(sop_class_uid=ct, modality="CT")),
                as_rle(make_instance(samples=3))],
        "jpeg-baseline": [jpeg_photo, as_jpeg_baseline(make_instance(samples=3))],
        "jpeg2000": [as_jpeg2000(make_instance(sop_class_uid=ct, modality="CT"))],
    }
    files = [write(ds, root / folder / f"{n}.dcm")
             for folder, group in datasets.items() for n, ds in enumerate(group)]
    # The converters keep the SOP Instance UID: each converts its own source.
    for folder, tool in (("jpeg-lossless", "dcmcjpeg"), ("jpeg-ls", "dcmcjpls")):
        require_tool(tool)
        (root / folder).mkdir()
        for n, source in enumerate([make_instance(sop_class_uid=ct, modality="CT"),
                                    make_instance(samples=3)]):
            path = write(source, root / "sources" / f"{folder}-{n}.dcm")
            files.append(dcmtk_convert(tool, path, root / folder / f"{n}.dcm"))
    return files


def test_echoscu_is_answered(pacs: RunningPacs) -> None:
    result = dcmtk("echoscu", "-v", "-aet", "ECHOSCU", *pacs.address())
    assert "Received Echo Response (Success)" in result.stderr + result.stdout


def test_storescu_folders_are_stored_as_sent(pacs: RunningPacs, tmp_path: Path) -> None:
    """Every transfer syntax is kept as received: same data set bytes, nothing decoded."""
    sent = _outgoing(tmp_path / "outgoing")
    headers = {path: dcmread(path, stop_before_pixels=True) for path in sent}
    assert {path.parent.name for path in sent} == set(PROPOSALS)
    for path, header in headers.items():
        assert header.file_meta.TransferSyntaxUID == PROPOSALS[path.parent.name][1], path
    for folder, (option, _) in PROPOSALS.items():
        dcmtk("storescu", "-aet", "STORESCU", *pacs.address(), "-R", option, "+sd",
              str(tmp_path / "outgoing" / folder))

    archived = _archived(pacs)
    assert len(archived) == len(sent)
    for path, header in headers.items():
        syntax, data = archived[str(header.SOPInstanceUID)]
        assert syntax == header.file_meta.TransferSyntaxUID, path
        assert dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID == syntax, path
        assert _dataset_bytes(data) == _dataset_bytes(path.read_bytes()), path


@pytest.mark.parametrize("kind", list(FIND_CASES))
def test_findscu_matching(pacs: RunningPacs, catalogue: dict[str, Path], tmp_path: Path,
                          kind: str) -> None:
    """One kind of matching at every level of both models; responses are the matches."""
    for level, keys, expected in FIND_CASES[kind]:
        for model in _models(level):
            responses = _find(pacs, tmp_path, model, level, keys)
            matched = _matched(responses, level)
            assert sorted(matched) == sorted(expected), (model, level, keys)
            assert {r.QueryRetrieveLevel for r in responses} <= {level.value}


def test_findscu_return_keys_are_filled(pacs: RunningPacs, catalogue: dict[str, Path],
                                        tmp_path: Path) -> None:
    """Return keys of the level and above, computed ones included, carry the values."""
    for level, keys, returned in RETURN_KEYS:
        for model in _models(level):
            query = {**dict.fromkeys(returned, ""), **keys}
            (response,) = _find(pacs, tmp_path, model, level, query)
            found = {keyword: _text(response[keyword].value) for keyword in returned}
            assert found == returned, (model, level)


def test_findscu_cancel_stops_the_matches(pacs: RunningPacs, tmp_path: Path) -> None:
    """A C-CANCEL after the first response ends the C-FIND with status Cancel."""
    study, series = new_uid(), new_uid()
    for number in range(1, MANY + 1):
        _store(pacs, make_instance(study_uid=study, series_uid=series, rows=8, columns=8,
                                   instance_number=number), tmp_path / "many.dcm")
    out = tmp_path / "cancelled"
    out.mkdir()
    result = _findscu(pacs, out, "-S", Level.IMAGE,
                      {"StudyInstanceUID": study, "SOPInstanceUID": ""}, "--cancel", "1")
    received = len(list(out.glob("rsp*.dcm")))
    assert 1 <= received < MANY
    assert "Received Final Find Response (Cancel" in result.stdout + result.stderr


@pytest.mark.parametrize(("model", "level", "keys", "expected"), [
    ("-S", Level.STUDY, {"StudyInstanceUID": _uid("A")}, {"A1-1", "A1-2", "A2-1"}),
    ("-P", Level.SERIES, {"PatientID": "PAT001", "StudyInstanceUID": _uid("A"),
                          "SeriesInstanceUID": _uid("A1")}, {"A1-1", "A1-2"}),
])
def test_movescu_to_storescp(pacs: RunningPacs, catalogue: dict[str, Path], storescp: Path,
                             model: str, level: Level, keys: dict[str, str],
                             expected: set[str]) -> None:
    """Every instance of the study or series reaches storescp; the final status counts them."""
    result = dcmtk("movescu", "-d", model, "-aet", "MOVESCU", "-aem", DEST_AE,
                   *pacs.address(), *_keys(level, keys))
    final = _final_response(result.stdout + result.stderr, "C-MOVE RSP")
    assert _status(final) == RetrieveStatus.SUCCESS
    assert final["Completed Suboperations"] == str(len(expected))
    assert final["Failed Suboperations"] == "0"
    received = _received(storescp)
    assert set(received) == {_uid(name) for name in expected}
    for name in expected:
        _assert_intact(received[_uid(name)], catalogue[name])


def test_getscu_retrieves_a_study(pacs: RunningPacs, catalogue: dict[str, Path],
                                  tmp_path: Path) -> None:
    """The study comes back on getscu's association, intact.

    getscu offers no RLE context, so the RLE instance comes decompressed, with
    its own SOP Instance UID.
    """
    out = tmp_path / "retrieved"
    out.mkdir()
    result = dcmtk("getscu", "-d", "-S", "-aet", "GETSCU", *pacs.address(), "-od", str(out),
                   *_keys(Level.STUDY, {"StudyInstanceUID": _uid("A")}))
    final = _final_response(result.stdout + result.stderr, "C-GET RSP")
    assert _status(final) == RetrieveStatus.SUCCESS
    assert final["Completed Suboperations"] == "3"
    received = _received(out)
    expected = {"A1-1", "A1-2", "A2-1"}
    assert set(received) == {_uid(name) for name in expected}
    for name in expected:
        _assert_intact(received[_uid(name)], catalogue[name])


def test_unknown_calling_ae_title_is_rejected(pacs: RunningPacs) -> None:
    result = dcmtk("echoscu", "-v", "-aet", "STRANGER", *pacs.address(), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Association Rejected" in output
    assert "Calling AE Title Not Recognized" in output


def test_unknown_move_destination_is_refused(pacs: RunningPacs,
                                             catalogue: dict[str, Path]) -> None:
    result = dcmtk("movescu", "-d", "-S", "-aet", "MOVESCU", "-aem", "NOBODY",
                   *pacs.address(), *_keys(Level.STUDY, {"StudyInstanceUID": _uid("A")}),
                   check=False)
    final = _final_response(result.stdout + result.stderr, "C-MOVE RSP")
    assert _status(final) == RetrieveStatus.MOVE_DESTINATION_UNKNOWN
