"""Storage SOP classes and transfer syntaxes the archive accepts, with DCMTK peers.

Every storage SOP class of PS3.4 Annex B is stored as sent; private and unknown
classes only behind ``[pacs] accept_unknown_storage``; Explicit VR Big Endian is
kept byte for byte and goes out little endian to a peer that refuses it.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MPEG4HP41,
)
from pynetdicom import AE, build_context, sop_class
from sqlalchemy import select
from structlog.testing import capture_logs

from imaging_common.exceptions import ConfigError
from imaging_common.sop_classes import STORAGE_SOP_CLASSES
from imaging_common.uids import derived_uid
from pacs_scp.config import ArchiveConfig, load_archive_config
from pacs_scp.models import Instance
from pacs_scp.server import build_ae, build_context as build_pacs_context, start_server
from tests.conftest import (
    DEST_AE,
    RunningPacs,
    dcmtk,
    pacs_settings,
    require_tool,
    wait_for_port,
)
from tests.factory import make_instance, write

#: A private storage SOP class, as a vendor's own objects carry.
PRIVATE_CLASS = str(derived_uid("storage-classes", "private storage class"))
LITTLE_ENDIAN = (ImplicitVRLittleEndian, ExplicitVRLittleEndian)
#: PS3.6 Annex A: Ultrasound Image Storage (Retired), which pynetdicom does not list.
RETIRED_CLASS = "1.2.840.10008.5.1.4.1.1.6"


@contextmanager
def running_archive(tmp_path: Path, network_file: Path,
                    accept_unknown_storage: bool = False) -> Iterator[RunningPacs]:
    """The archive in this process on an SQLite index; the switch in its network file."""
    if accept_unknown_storage:
        with network_file.open("a", encoding="utf-8") as out:
            out.write("\n[pacs]\naccept_unknown_storage = true\n")
    settings = pacs_settings(network_file, tmp_path / "pacs",
                             "--database-url", f"sqlite:///{tmp_path / 'index.db'}")
    server = start_server(settings)
    try:
        yield RunningPacs(settings, server.server_address[1], build_pacs_context(settings))
    finally:
        server.shutdown()


@pytest.fixture
def archive(tmp_path: Path, network_file: Path) -> Iterator[RunningPacs]:
    with running_archive(tmp_path, network_file) as running:
        yield running


def _without_pixels(ds: Dataset) -> Dataset:
    for keyword in ("Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation",
                    "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                    "PixelData"):
        delattr(ds, keyword)
    return ds


def _sixteen_bit(ds: Dataset, seed: int = 0) -> Dataset:
    """16-bit pixels, so that byte order matters."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 4096, (ds.Rows, ds.Columns), dtype="<u2")
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelData = pixels.tobytes()
    ds["PixelData"].VR = "OW"
    return ds


#: Two channels of eight samples, interleaved (PS3.3 C.10.9.1.5).
ECG_SAMPLES = np.array([[-300, 120], [-150, 60], [0, 0], [150, -60],
                        [300, -120], [450, -180], [600, -240], [750, -300]])


def _ecg(study_uid: str | None = None) -> Dataset:
    """A 12-Lead ECG (PS3.3 A.34.3): waveform samples in OW inside a sequence."""
    ds = _without_pixels(make_instance(sop_class_uid=sop_class.TwelveLeadECGWaveformStorage,
                                       modality="ECG", study_uid=study_uid))
    group = Dataset()
    group.MultiplexGroupTimeOffset = "0"
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = 2
    group.NumberOfWaveformSamples = 8
    group.SamplingFrequency = "500"
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    group.add_new(0x54001010, "OW", ECG_SAMPLES.astype("<i2").tobytes())  # Waveform Data
    ds.WaveformSequence = [group]
    return ds


def _encapsulated_cda() -> Dataset:
    """An Encapsulated CDA (PS3.3 A.75): an HL7 CDA document, no pixels."""
    ds = _without_pixels(make_instance(sop_class_uid=sop_class.EncapsulatedCDAStorage,
                                       modality="DOC"))
    ds.MIMETypeOfEncapsulatedDocument = "text/xml"
    document = b'<?xml version="1.0"?><ClinicalDocument xmlns="urn:hl7-org:v3"/>'
    ds.EncapsulatedDocument = document + b"\x00" * (len(document) % 2)
    return ds


def _video_endoscopic() -> Dataset:
    """A Video Endoscopic image in MPEG-4 AVC/H.264: the archive keeps the
    stream's bytes without decoding them, so a few NAL units stand for a film."""
    ds = make_instance(sop_class_uid=sop_class.VideoEndoscopicImageStorage, modality="ES",
                       samples=3)
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.NumberOfFrames = 1
    ds.PixelData = encapsulate([b"\x00\x00\x00\x01\x67\x64\x00\x29\x00\x00\x00\x01\x68"])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = MPEG4HP41
    return ds


#: Classes the archive refused before it took all of Annex B, one instance each.
INSTANCES = {
    "rt-dose": lambda: make_instance(sop_class_uid=sop_class.RTDoseStorage, modality="RTDOSE"),
    "ecg": _ecg,
    "pet": lambda: _sixteen_bit(make_instance(
        sop_class_uid=sop_class.PositronEmissionTomographyImageStorage, modality="PT")),
    "mammography": lambda: make_instance(
        sop_class_uid=sop_class.DigitalMammographyXRayImageStorageForPresentation,
        modality="MG"),
    "xa": lambda: make_instance(sop_class_uid=sop_class.XRayAngiographicImageStorage,
                                modality="XA"),
    "cda": _encapsulated_cda,
    "video-endoscopic": _video_endoscopic,
}


def _dataset_bytes(data: bytes) -> bytes:
    """The data set of a Part 10 file: what follows the File Meta Information (PS3.10 7.1)."""
    assert data[128:138] == b"DICM\x02\x00\x00\x00UL"
    return data[144 + int.from_bytes(data[140:144], "little"):]


def _archived(pacs: RunningPacs) -> dict[str, tuple[str, str, bytes]]:
    """SOP class, transfer syntax and file of every archived instance, by SOP Instance UID."""
    assert pacs.context is not None
    ctx = pacs.context
    with ctx.sessions() as session:
        return {i.sop_instance_uid: (i.sop_class_uid, i.transfer_syntax_uid,
                                     ctx.archive.read(i.file_path))
                for i in session.scalars(select(Instance))}


def _storescu(pacs: RunningPacs, *args: str,
              check: bool = True) -> subprocess.CompletedProcess[str]:
    # -R: propose only the SOP classes (and transfer syntaxes) of the files sent.
    return dcmtk("storescu", "-aet", "STORESCU", *pacs.address(), "-R", *args, check=check)


def test_annex_b_classes_are_stored_as_sent(archive: RunningPacs, tmp_path: Path) -> None:
    """RT Dose, ECG, PET, mammography, XA and CDA in one storescu association, and
    the video in MPEG-4 (storescu -xn: propose MPEG-4 AVC/H.264 HP / Level 4.1)."""
    files = {name: write(build(), tmp_path / "outgoing" / f"{name}.dcm")
             for name, build in INSTANCES.items()}
    _storescu(archive, *(str(path) for name, path in files.items()
                         if name != "video-endoscopic"))
    _storescu(archive, "-xn", str(files["video-endoscopic"]))

    archived = _archived(archive)
    assert len(archived) == len(files)
    for name, path in files.items():
        sent = dcmread(path, stop_before_pixels=True)
        sop_class_uid, syntax, data = archived[str(sent.SOPInstanceUID)]
        assert (sop_class_uid, syntax) == (sent.SOPClassUID, sent.file_meta.TransferSyntaxUID)
        assert _dataset_bytes(data) == _dataset_bytes(path.read_bytes()), name


def test_archive_supports_more_than_128_contexts(archive: RunningPacs) -> None:
    """PS3.8 9.3.2.2 caps a proposal at 128 contexts, not what an acceptor supports:
    a requester's 128 contexts of 128 different storage classes are all accepted."""
    supported = {str(cx.abstract_syntax) for cx in build_ae(archive.settings).supported_contexts}
    assert set(STORAGE_SOP_CLASSES) <= supported
    assert len(supported) > 128

    requester = AE(ae_title="TESTSCU")
    contexts = [build_context(uid, ExplicitVRLittleEndian) for uid in STORAGE_SOP_CLASSES[:128]]
    assoc = requester.associate("127.0.0.1", archive.port, contexts, ae_title=archive.ae_title)
    try:
        assert assoc.is_established
        assert len(assoc.accepted_contexts) == 128
        assert not assoc.rejected_contexts
    finally:
        assoc.release()


def _dcmsend(pacs: RunningPacs, *files: Path,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    # dcmsend, unlike storescu, sends a SOP class DCMTK does not know (a private one).
    return dcmtk("dcmsend", "-aet", "STORESCU", "-aec", pacs.ae_title, "127.0.0.1",
                 str(pacs.port), *map(str, files), check=check)


def _unknown_class_files(tmp_path: Path) -> dict[str, Path]:
    return {uid: write(make_instance(sop_class_uid=uid, modality="OT"),
                       tmp_path / "unknown" / f"{uid}.dcm")
            for uid in (PRIVATE_CLASS, RETIRED_CLASS)}


def test_unknown_classes_are_refused_by_default(archive: RunningPacs, tmp_path: Path) -> None:
    """The association refuses the private and the retired class and says why."""
    files = _unknown_class_files(tmp_path)
    with capture_logs() as events:
        result = _dcmsend(archive, *files.values(), check=False)
    assert "No Acceptable Presentation Contexts" in result.stdout + result.stderr
    assert not _archived(archive)
    refused = [e for e in events if e["event"] == "presentation contexts refused"]
    assert len(refused) == 1
    assert refused[0]["peer"] == "STORESCU"
    assert refused[0]["sop_class_not_supported"] == sorted(files)
    assert "accept_unknown_storage" in refused[0]["hint"]


def test_unknown_classes_are_stored_when_switched_on(tmp_path: Path,
                                                     network_file: Path) -> None:
    files = _unknown_class_files(tmp_path)
    with running_archive(tmp_path, network_file, accept_unknown_storage=True) as pacs, \
            capture_logs() as events:
        _dcmsend(pacs, *files.values())
        archived = _archived(pacs)
    assert {sop_class for sop_class, _, _ in archived.values()} == set(files)
    for path in files.values():
        sent = dcmread(path, stop_before_pixels=True)
        assert _dataset_bytes(archived[str(sent.SOPInstanceUID)][2]) == \
            _dataset_bytes(path.read_bytes())
    accepted = [e for e in events if e["event"] == "unknown storage classes accepted"]
    assert accepted and accepted[0]["sop_class_uids"] == sorted(files)
    assert not [e for e in events if e["event"] == "presentation contexts refused"]


def test_switch_is_read_from_the_network_file(network_file: Path) -> None:
    assert load_archive_config(network_file) == ArchiveConfig(accept_unknown_storage=False)
    with network_file.open("a", encoding="utf-8") as out:
        out.write("\n[pacs]\naccept_unknown_storage = true\n")
    assert load_archive_config(network_file).accept_unknown_storage


@pytest.mark.parametrize("table, message", [
    ('accept_unknown_storage = "perhaps"', "not a yes/no value"),
    ("accept_unknown = true", "unknown keys"),
])
def test_bad_switch_is_refused(network_file: Path, table: str, message: str) -> None:
    with network_file.open("a", encoding="utf-8") as out:
        out.write(f"\n[pacs]\n{table}\n")
    with pytest.raises(ConfigError, match=message):
        load_archive_config(network_file)


@pytest.fixture
def big_endian_study(archive: RunningPacs, tmp_path: Path) -> dict[str, Path]:
    """A 16-bit CT image and an ECG, made Big Endian by DCMTK's dcmconv and sent
    so by storescu; the Big Endian files by SOP Instance UID."""
    study_uid = str(derived_uid("storage-classes", "big endian study"))
    originals = [
        _sixteen_bit(make_instance(sop_class_uid=sop_class.CTImageStorage, modality="CT",
                                   study_uid=study_uid), seed=5),
        _ecg(study_uid),
    ]
    files = {}
    for ds in originals:
        little = write(ds, tmp_path / "little" / f"{ds.SOPInstanceUID}.dcm")
        big = tmp_path / "big" / little.name
        big.parent.mkdir(exist_ok=True)
        dcmtk("dcmconv", "+tb", str(little), str(big))
        assert dcmread(big).file_meta.TransferSyntaxUID == ExplicitVRBigEndian
        files[str(ds.SOPInstanceUID)] = big
    _storescu(archive, "-xb", *map(str, files.values()))
    return files


def test_big_endian_is_stored_byte_for_byte(archive: RunningPacs,
                                            big_endian_study: dict[str, Path]) -> None:
    archived = _archived(archive)
    assert set(archived) == set(big_endian_study)
    for uid, path in big_endian_study.items():
        _, syntax, data = archived[uid]
        assert syntax == ExplicitVRBigEndian
        assert _dataset_bytes(data) == _dataset_bytes(path.read_bytes())
        assert dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID == ExplicitVRBigEndian


def _assert_same_values(received: Dataset, sent: Dataset) -> None:
    """Every attribute, pixel and waveform sample as sent, in another byte order."""
    for element in sent:
        if element.keyword not in ("PixelData", "WaveformSequence"):
            assert received[element.tag].value == element.value, element.keyword
    if "PixelData" in sent:
        assert np.array_equal(received.pixel_array, sent.pixel_array)
        assert received.pixel_array.dtype == np.uint16
    if "WaveformSequence" in sent:
        # The 16-bit samples (OW): big endian as sent, little endian as received.
        samples = np.frombuffer(sent.WaveformSequence[0].WaveformData, dtype=">i2")
        assert np.array_equal(samples, ECG_SAMPLES.ravel())
        assert np.array_equal(
            np.frombuffer(received.WaveformSequence[0].WaveformData, dtype="<i2"), samples)


def _received(folder: Path) -> dict[str, Dataset]:
    return {str(ds.SOPInstanceUID): ds
            for ds in (dcmread(path) for path in folder.iterdir() if path.is_file())}


def test_getscu_accepting_only_little_endian(
        archive: RunningPacs, big_endian_study: dict[str, Path], tmp_path: Path) -> None:
    """C-GET: getscu's storage contexts offer only little endian (+xi): the archive
    sends the Big Endian instances converted."""
    out = tmp_path / "retrieved"
    out.mkdir()
    study_uid = dcmread(next(iter(big_endian_study.values()))).StudyInstanceUID
    result = dcmtk("getscu", "-d", "-aet", "GETSCU", *archive.address(), "+xi", "-od", str(out),
                   "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}")
    output = result.stdout + result.stderr
    assert "Accepted Transfer Syntax: =LittleEndian" in output
    assert "Accepted Transfer Syntax: =BigEndianExplicit" not in output
    received = _received(out)  # written in getscu's own choice of little endian
    assert set(received) == set(big_endian_study)
    for uid, path in big_endian_study.items():
        assert received[uid].file_meta.TransferSyntaxUID in LITTLE_ENDIAN
        _assert_same_values(received[uid], dcmread(path))


@pytest.fixture
def little_endian_storescp(tmp_path: Path, dest_port: int) -> Iterator[Path]:
    """storescp as the C-MOVE destination, accepting implicit VR little endian only."""
    out = tmp_path / "moved"
    out.mkdir()
    process = subprocess.Popen(
        [require_tool("storescp"), "-aet", DEST_AE, "+xi", "-od", str(out), str(dest_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(dest_port)
        yield out
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_movescu_to_a_little_endian_destination(
        archive: RunningPacs, big_endian_study: dict[str, Path],
        little_endian_storescp: Path) -> None:
    """C-MOVE: the archive proposes Big Endian and little endian; storescp takes
    only implicit VR little endian (+xi), and the instances arrive converted."""
    study_uid = dcmread(next(iter(big_endian_study.values()))).StudyInstanceUID
    dcmtk("movescu", "-aet", "MOVESCU", "-aem", DEST_AE, *archive.address(),
          "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}")
    received = _received(little_endian_storescp)
    assert set(received) == set(big_endian_study)
    for uid, path in big_endian_study.items():
        assert received[uid].file_meta.TransferSyntaxUID in LITTLE_ENDIAN
        _assert_same_values(received[uid], dcmread(path))
