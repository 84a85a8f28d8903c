"""Names in every character set, and values that cannot be read, through DCMTK.

Each instance is sent by storescu to the archive, found by findscu with the
patient's name encoded in the instance's own Specific Character Set (code
extensions with their escape sequences as PS3.5 Annex H and I show them), and
the answer's name is read back. What the archive cannot read (a name that does
not decode, a binary value of the wrong length in a vendor's SR) is stored as
received; only an unreadable attribute the index needs refuses the instance,
with a named status.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pydicom import dcmread
from pydicom.charset import convert_encodings, encode_string
from pydicom.dataset import Dataset
from pynetdicom import sop_class
from sqlalchemy import select
from structlog.testing import capture_logs

from imaging_common.levels import Level
from imaging_common.status import RetrieveStatus, StoreStatus
from pacs_scp.models import Instance, Patient
from tests.character_sets import EXAMPLES, NameExample, with_name
from tests.conftest import RunningPacs, dcmtk, require_tool
from tests.factory import make_instance, write
from tests.pacs_scp.test_dcmtk_interop import (
    _context,
    _dataset_bytes,
    _final_response,
    _keys,
    _status,
)
from tests.worklist.conftest import (
    RunningWorklist,
    running_emr,
    running_worklist,
    worklist_config,
)
from tests.worklist.conftest import write_network as worklist_network

#: A DIMSE status in DCMTK's ``-v``/``-d`` output that says the peer failed (0xC2xx).
_UNHANDLED = re.compile(r"0x[cC]2[0-9a-fA-F]{2}")


def _argument(value: bytes) -> str:
    """A command-line argument that reaches the tool as exactly these bytes."""
    return os.fsdecode(value)


def _tool(*args: str, check: bool = True) -> str:
    """Run a DCMTK tool; its output, which echoes names in their own bytes, as text."""
    result = subprocess.run([require_tool(args[0]), *args[1:]], capture_output=True,
                            text=True, errors="backslashreplace", timeout=120)
    output = result.stdout + result.stderr
    if check and result.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({result.returncode}):\n{output}")
    return output


def _storescu(pacs: RunningPacs, *paths: Path) -> str:
    output = _tool("storescu", "-v", "-aet", "STORESCU", *pacs.address(),
                   *[str(path) for path in paths])
    assert not _UNHANDLED.search(output), output
    return output


def _find_by_name(pacs: RunningPacs, example: NameExample, name: bytes,
                  keyword: str = "PatientName") -> list[Dataset]:
    """findscu at STUDY level with the name's bytes and the example's character set."""
    with tempfile.TemporaryDirectory(prefix="find-") as out:
        output = _tool(
            "findscu", "-v", "-S", "-aet", "FINDSCU", *pacs.address(), "-X", "-od", out,
            "-k", f"(0008,0005)={example.character_set_text}",
            "-k", "PatientName", "-k", f"{keyword}={_argument(name)}", "-k", "PatientID",
            "-k", "StudyInstanceUID", "-k", "QueryRetrieveLevel=STUDY")
        assert "Received Final Find Response (Success)" in output, output
        assert not _UNHANDLED.search(output), output
        return [dcmread(path) for path in sorted(Path(out).glob("rsp*.dcm"))]


def _encoded(text: str, example: NameExample) -> bytes:
    """``text`` in the example's character set, escape sequences and all (pydicom)."""
    return encode_string(text, convert_encodings(example.character_set))


def test_names_of_every_character_set_are_stored_found_and_answered(
        pacs: RunningPacs, tmp_path: Path) -> None:
    studies = {}
    paths = []
    for number, (label, example) in enumerate(EXAMPLES.items()):
        ds = with_name(make_instance(patient_id=f"CS{number:02d}"), example)
        studies[label] = str(ds.StudyInstanceUID)
        paths.append(write(ds, tmp_path / "outgoing" / f"{number}.dcm"))
    output = _storescu(pacs, *paths)
    assert output.count("Received Store Response (Success)") == len(EXAMPLES), output

    with _context(pacs).sessions() as session:
        indexed = set(session.scalars(select(Patient.patient_name)))
    assert indexed == {example.name for example in EXAMPLES.values()}
    for label, example in EXAMPLES.items():
        responses = _find_by_name(pacs, example, example.encoded)
        assert [str(r.StudyInstanceUID) for r in responses] == [studies[label]], label
        answer = responses[0]
        # The answer's character set encodes the name: it reads back the same.
        assert str(answer.PatientName) == example.name, label
        assert "SpecificCharacterSet" in answer or example.name.isascii(), label


def test_ideographic_and_phonetic_names_match_with_wild_cards(
        pacs: RunningPacs, tmp_path: Path) -> None:
    """A Japanese or Korean reception desk types the name in its own script."""
    labels = ("japanese kanji", "korean")
    datasets = [with_name(make_instance(patient_id=f"WC{n}"), EXAMPLES[label])
                for n, label in enumerate(labels)]
    # A person name the index keeps only in its attribute JSON, matched in Python.
    datasets[0].add_new("OtherPatientNames", "PN", EXAMPLES["korean"].encoded)
    datasets[0].SpecificCharacterSet = ["", "ISO 2022 IR 87", "ISO 2022 IR 149"]
    _storescu(pacs, *[write(ds, tmp_path / f"{n}.dcm") for n, ds in enumerate(datasets)])
    cases = {"japanese kanji": ("*=山田^太郎=*", "*やまだ*", "*山田*"),
             "korean": ("*=洪^吉洞=*", "*홍^길동"), }
    for label, patterns in cases.items():
        example = EXAMPLES[label]
        for pattern in patterns:
            responses = _find_by_name(pacs, example, _encoded(pattern, example))
            assert [str(r.PatientName) for r in responses] == [example.name], pattern
    other = _find_by_name(pacs, EXAMPLES["korean"], _encoded("*=洪^吉洞=*", EXAMPLES["korean"]),
                          keyword="OtherPatientNames")
    assert [str(r.PatientName) for r in other] == [EXAMPLES["japanese kanji"].name]
    # The query's character set need not be the instance's.
    utf8 = NameExample("ISO_IR 192", b"", "")
    responses = _find_by_name(pacs, utf8, "*=洪^吉洞=*".encode())
    assert [str(r.PatientName) for r in responses] == [EXAMPLES["korean"].name]


def test_undecodable_names_are_stored_as_received(pacs: RunningPacs, tmp_path: Path) -> None:
    """Never refused for its character set: kept byte for byte, indexed as far as it reads."""
    broken = {
        "bad utf-8": NameExample("ISO_IR 192", b"Tanaka^\xff\xfe\xe5", ""),
        "unknown set": NameExample("ISO_IR 999", b"Suzuki^Jiro", ""),
        "escape to nowhere": NameExample(["", "ISO 2022 IR 87"], b"Sato^\x1b$Z\x21\x21", ""),
    }
    datasets = {label: with_name(make_instance(patient_id=f"BAD{n}"), example)
                for n, (label, example) in enumerate(broken.items())}
    paths = {label: write(ds, tmp_path / f"{label}.dcm") for label, ds in datasets.items()}
    with capture_logs() as events:
        output = _storescu(pacs, *paths.values())
    assert output.count("Received Store Response (Success)") == len(broken), output

    ctx = _context(pacs)
    with ctx.sessions() as session:
        for label, ds in datasets.items():
            instance = session.scalars(select(Instance).where(
                Instance.sop_instance_uid == str(ds.SOPInstanceUID))).one()
            stored = ctx.archive.read(instance.file_path)
            assert _dataset_bytes(stored) == _dataset_bytes(paths[label].read_bytes()), label
        names = {p.patient_id: p.patient_name for p in session.scalars(select(Patient))}
    assert names["BAD0"].startswith("Tanaka^") and "\ufffd" in names["BAD0"]
    assert names["BAD1"] == "Suzuki^Jiro"
    assert names["BAD2"].startswith("Sato^")
    partial = {e["sop_instance_uid"]: e for e in events if e["event"] == "indexed in part"}
    assert partial[str(datasets["bad utf-8"].SOPInstanceUID)]["undecoded"] == ["(0010,0010)"]
    assert partial[str(datasets["unknown set"].SOPInstanceUID)][
        "unknown_character_sets"] == ["ISO_IR 999"]
    logged = repr(events)
    assert "Tanaka" not in logged and "Suzuki" not in logged and "Sato" not in logged


def _vendor_sr() -> Dataset:
    """A Comprehensive SR whose measurement holds an FD value 12 bytes long.

    pydicom will not write such a value, so a well-formed one of three values
    is written, to be replaced by :func:`_with_odd_fd`.
    """
    ds = make_instance(sop_class_uid=sop_class.ComprehensiveSRStorage, modality="SR")
    for keyword in ("Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation",
                    "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                    "PixelData"):
        delattr(ds, keyword)
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator = "410668003", "SCT"
    concept.CodeMeaning = "Length"
    unit = Dataset()
    unit.CodeValue, unit.CodingSchemeDesignator, unit.CodeMeaning = "mm", "UCUM", "mm"
    measured = Dataset()
    measured.NumericValue = "1.5"
    measured.FloatingPointValue = [1.5, 2.5, 3.5]
    measured.MeasurementUnitsCodeSequence = [unit]
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "NUM"
    item.ConceptNameCodeSequence = [concept]
    item.MeasuredValueSequence = [measured]
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [concept]
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.ContentSequence = [item]
    return ds


#: (0040,A161) Floating Point Value, FD, as Explicit VR Little Endian writes it.
_FD_HEADER = b"\x40\x00\x61\xa1FD"


def _with_odd_fd(path: Path) -> Path:
    """Three FL values where the FD's 8-byte values belong, as a vendor wrote them.

    The 12 bytes freed are filled by (0040,A162) Rational Numerator Value, SL,
    so that the defined lengths of the enclosing items and sequences (as
    DCMTK sends them) hold.
    """
    data = path.read_bytes()
    well_formed = _FD_HEADER + b"\x18\x00" + struct.pack("<3d", 1.5, 2.5, 3.5)
    assert data.count(well_formed) == 1
    odd = (_FD_HEADER + b"\x0c\x00" + struct.pack("<3f", 1.5, 2.5, 3.5)
           + b"\x40\x00\x62\xa2SL\x04\x00" + struct.pack("<l", 3))
    path.write_bytes(data.replace(well_formed, odd))
    return path


def test_vendor_sr_with_an_odd_length_binary_value_is_kept_and_retrieved(
        pacs: RunningPacs, tmp_path: Path) -> None:
    ds = _vendor_sr()
    path = _with_odd_fd(write(ds, tmp_path / "sr.dcm"))
    with capture_logs() as events:
        output = _storescu(pacs, path)
    assert "Received Store Response (Success)" in output, output
    assert [(e["event"], e["skipped"]) for e in events if e["event"] == "indexed in part"] \
        == [("indexed in part", ["(0040,A161)"])]

    ctx = _context(pacs)
    with ctx.sessions() as session:
        instance = session.scalars(select(Instance)).one()
        assert _dataset_bytes(ctx.archive.read(instance.file_path)) == \
            _dataset_bytes(path.read_bytes())

    out = tmp_path / "retrieved"
    out.mkdir()
    keys = {"StudyInstanceUID": str(ds.StudyInstanceUID),
            "SeriesInstanceUID": str(ds.SeriesInstanceUID),
            "SOPInstanceUID": str(ds.SOPInstanceUID)}
    # +B: getscu writes what came on the wire, so that bytes can be compared.
    result = dcmtk("getscu", "-d", "-S", "+B", "-aet", "GETSCU", *pacs.address(),
                   "-od", str(out), *_keys(Level.IMAGE, keys))
    final = _final_response(result.stdout + result.stderr, "C-GET RSP")
    assert _status(final) == RetrieveStatus.SUCCESS
    [received] = list(out.iterdir())
    assert _dataset_bytes(received.read_bytes()) == _dataset_bytes(path.read_bytes())


def test_an_unreadable_indexed_attribute_is_refused_with_a_named_status(
        pacs: RunningPacs, tmp_path: Path) -> None:
    """Instance Number, kept in a column, sent as FD with 2 bytes: 0xC000, a clear log line."""
    ds = make_instance(patient_name="Kimura^Hanako", instance_number=5)
    path = write(ds, tmp_path / "x.dcm")
    data = path.read_bytes()
    indexed = b"\x20\x00\x13\x00IS\x02\x005 "
    assert data.count(indexed) == 1
    path.write_bytes(data.replace(indexed, b"\x20\x00\x13\x00FD\x02\x00\x05\x00"))
    with capture_logs() as events:
        output = _tool("storescu", "-d", "-aet", "STORESCU", *pacs.address(), str(path),
                       check=False)
    final = _final_response(output, "C-STORE RSP")
    assert _status(final) == StoreStatus.CANNOT_UNDERSTAND
    refused = [e for e in events if e["event"] == "store refused"]
    assert [e["reason"] for e in refused] == ["InstanceNumber (0020,0013) cannot be read"]
    assert "Kimura" not in repr(events)
    with _context(pacs).sessions() as session:
        assert session.scalars(select(Instance)).all() == []


def _worklist_find(worklist: RunningWorklist, character_set: str,
                   name: bytes) -> tuple[list[Dataset], str]:
    """findscu -W with the name's bytes in ``character_set``."""
    with tempfile.TemporaryDirectory(prefix="mwl-") as out:
        output = _tool("findscu", "-v", "-W", "-aet", "FINDSCU", *worklist.address(), "-X",
                       "-od", out, "-k", f"(0008,0005)={character_set}",
                       "-k", f"PatientName={_argument(name)}", "-k", "PatientID")
        return [dcmread(path) for path in sorted(Path(out).glob("rsp*.dcm"))], output


def test_worklist_answers_non_ascii_names_from_the_emr(tmp_path: Path) -> None:
    """A name the EMR holds in kanji comes back in a character set that encodes it,
    whatever character set the query came in."""
    with running_emr(tmp_path) as emr:
        patient = emr.add_patient("WL-JP1", "山田", "太郎", date(1970, 1, 2), "M")
        when = datetime.combine(date.today() + timedelta(days=1), datetime.min.time(), UTC)
        emr.add_order(patient, when.replace(hour=9))
        network = worklist_network(tmp_path / "network.toml", emr.port)
        with running_worklist(worklist_config(network, tmp_path / "worklist")) as worklist:
            japanese = EXAMPLES["japanese kanji"]
            for character_set, name in (
                    (japanese.character_set_text, _encoded("山田^太郎", japanese)),
                    ("ISO_IR 192", "山田^太郎".encode()),
                    (japanese.character_set_text, _encoded("山田*", japanese))):
                responses, output = _worklist_find(worklist, character_set, name)
                assert not _UNHANDLED.search(output), output
                assert [str(r.PatientName) for r in responses] == ["山田^太郎"], name
                assert [r.PatientID for r in responses] == ["WL-JP1"]
