"""Photographs through the acquisition form: good ones become valid Ophthalmic
Photography images in the outbox; bad ones get a clear message and nothing is kept."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom import sop_class
from werkzeug.test import TestResponse

from imaging_common.uids import new_uid
from modality_scu import StationConfig
from modality_scu.database import database
from modality_scu.models import ImageState, ProcedureState
from tests.factory import as_jpeg_baseline, make_instance

from .conftest import (
    AuthActions,
    Order,
    context,
    dciodvfy_errors,
    encoded,
    fundus_like,
    jpeg,
    load_examination,
    make_station,
    started_examination,
)

ORDER = Order()


def _send(auth: AuthActions, procedure_id: int, right: Sequence[tuple[bytes, str]] = (),
          left: Sequence[tuple[bytes, str]] = (), follow_redirects: bool = False,
          **fields: object) -> TestResponse:
    """Post the acquisition form: files per eye, and other fields as given."""
    data: dict[str, object] = {"seed": "7", "right_grade": "0", "left_grade": "0", **fields}
    data["right_files"] = [(io.BytesIO(content), name) for content, name in right]
    data["left_files"] = [(io.BytesIO(content), name) for content, name in left]
    return auth.post(f"/examinations/{procedure_id}/photographs", data,
                     content_type="multipart/form-data", follow_redirects=follow_redirects)


def _outbox_files(app: Flask) -> list[Path]:
    return sorted(context(app).config.outbox_dir.glob("*"))


def _nothing_kept(app: Flask, procedure_id: int) -> None:
    procedure = load_examination(app, procedure_id)
    assert procedure.state == ProcedureState.IN_PROGRESS
    assert procedure.images == []
    assert _outbox_files(app) == []


def _dicom(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _photo_instance(patient_id: str = ORDER.patient_id, laterality: str = "",
                    sop_class_uid: str = sop_class.SecondaryCaptureImageStorage) -> Dataset:
    ds = make_instance(sop_class_uid=sop_class_uid, patient_id=patient_id,
                       patient_name="Someone^Else", rows=96, columns=128, samples=3,
                       laterality=laterality, modality="OP")
    ds.AcquisitionDateTime = "20261101093015"
    return ds


@pytest.fixture
def exam(app: Flask, auth: AuthActions) -> int:
    auth.login()
    return started_examination(app, ORDER)


def test_jpeg_and_png_become_valid_images_in_the_outbox(app: Flask, auth: AuthActions,
                                                        exam: int, tmp_path: Path) -> None:
    right = jpeg(1)
    png_pixels = fundus_like(2)
    response = _send(auth, exam, right=[(right, "od.jpg")],
                     left=[(encoded(png_pixels, "PNG"), "os.png")])
    assert response.status_code == 302, response.text
    page = auth.client.get(response.headers["Location"])
    assert "2 photograph(s) queued for FOVEA_PACS" in page.text
    assert "Waiting to be sent" in page.text
    procedure = load_examination(app, exam)
    assert procedure.state == ProcedureState.SENDING
    assert [(i.laterality, i.state) for i in procedure.images] == [
        ("R", ImageState.PENDING), ("L", ImageState.PENDING)]
    files = _outbox_files(app)
    assert len(files) == 2
    for path in files:
        assert dciodvfy_errors(path) == []
        ds = dcmread(path)
        # PS3.17 J.2.2: the worklist's identifiers and the patient it names.
        assert ds.StudyInstanceUID == ORDER.study_instance_uid
        assert ds.AccessionNumber == ORDER.accession_number
        (request,) = ds.RequestAttributesSequence
        assert request.RequestedProcedureID == ORDER.requested_procedure_id
        assert request.ScheduledProcedureStepID == ORDER.scheduled_procedure_step_id
        assert (ds.PatientID, str(ds.PatientName), ds.PatientBirthDate) == (
            ORDER.patient_id, ORDER.patient_name, ORDER.birth_date)
        assert ds.SeriesInstanceUID == procedure.series_instance_uid
        assert ds.StationName == "FUNDUS_CAM1"
    od, os_ = (dcmread(files[0]), dcmread(files[1]))
    if od.ImageLaterality != "R":
        od, os_ = os_, od
    assert od.file_meta.TransferSyntaxUID == JPEGBaseline8Bit  # encapsulated as given
    (frame,) = generate_frames(od.PixelData, number_of_frames=1)
    assert frame.rstrip(b"\x00") == right.rstrip(b"\x00")
    assert os_.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian  # lossless
    assert np.array_equal(os_.pixel_array, png_pixels)
    assert os_.LossyImageCompression == "00"


def test_tiff_and_progressive_jpeg_are_kept_without_further_loss(
        app: Flask, auth: AuthActions, exam: int) -> None:
    tiff_pixels = fundus_like(3)
    progressive = encoded(fundus_like(4), "JPEG", quality=90, progressive=True)
    response = _send(auth, exam, right=[(encoded(tiff_pixels, "TIFF"), "od.tif")],
                     left=[(progressive, "os.jpg")])
    assert response.status_code == 302, response.text
    for path in _outbox_files(app):
        assert dciodvfy_errors(path) == []
        ds = dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        if ds.ImageLaterality == "R":
            assert np.array_equal(ds.pixel_array, tiff_pixels)
        else:  # decoded once from the progressive stream, and marked so
            assert ds.LossyImageCompression == "01"
            assert ds.LossyImageCompressionMethod == "ISO_10918_1"


def test_a_dicom_of_this_patient_is_re_identified_to_the_order(
        app: Flask, auth: AuthActions, exam: int) -> None:
    source = _photo_instance(laterality="R")
    jpeg_source = as_jpeg_baseline(_photo_instance(
        sop_class_uid=sop_class.OphthalmicPhotography8BitImageStorage))
    response = _send(auth, exam, right=[(_dicom(source), "od.dcm")],
                     left=[(_dicom(jpeg_source), "os.dcm")])
    assert response.status_code == 302, response.text
    for path in _outbox_files(app):
        assert dciodvfy_errors(path) == []
        ds = dcmread(path)
        assert ds.SOPClassUID == sop_class.OphthalmicPhotography8BitImageStorage
        assert ds.SOPInstanceUID not in (source.SOPInstanceUID, jpeg_source.SOPInstanceUID)
        assert ds.StudyInstanceUID == ORDER.study_instance_uid
        assert str(ds.PatientName) == ORDER.patient_name  # the worklist's, not the file's
        assert ds.AcquisitionDateTime.startswith("20261101093015")
        if ds.ImageLaterality == "R":
            assert np.array_equal(ds.pixel_array, source.pixel_array)
        else:
            assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
            source_frame = next(generate_frames(jpeg_source.PixelData, number_of_frames=1))
            frame = next(generate_frames(ds.PixelData, number_of_frames=1))
            assert frame.rstrip(b"\x00") == source_frame.rstrip(b"\x00")


@pytest.mark.parametrize(("right", "message"), [
    ((b"%PDF-1.4 not a photograph", "report.pdf"),
     "“report.pdf” is not an image: give a JPEG, PNG or TIFF photograph or a DICOM file."),
    ((b"", "empty.jpg"), "“empty.jpg” is empty."),
    ((jpeg(5)[:4000], "cut.jpg"), "“cut.jpg” is truncated"),
    ((encoded(fundus_like(6), "PNG")[:3000], "cut.png"), "“cut.png” is truncated or damaged"),
    ((b"\xff\xd8\xff\xe0" + b"\x00" * 64, "junk.jpg"), "“junk.jpg” is not a readable JPEG"),
])
def test_bad_files_are_refused_and_nothing_is_kept(app: Flask, auth: AuthActions, exam: int,
                                                   right: tuple[bytes, str],
                                                   message: str) -> None:
    response = _send(auth, exam, right=[right], left=[(jpeg(7), "os.jpg")])
    assert response.status_code == 422
    assert message in response.text.replace("&#34;", '"')
    assert "Nothing was sent." in response.text
    _nothing_kept(app, exam)


def test_dicom_of_another_patient_is_refused(app: Flask, auth: AuthActions, exam: int) -> None:
    other = _dicom(_photo_instance(patient_id="SOMEONE-ELSE"))
    response = _send(auth, exam, right=[(other, "od.dcm")], left=[(jpeg(8), "os.jpg")])
    assert response.status_code == 422
    assert "DICOM of another patient" in response.text
    _nothing_kept(app, exam)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: _dicom(_photo_instance(laterality="L")),
     "is a photograph of the left eye (OS), but was given for the right eye (OD)"),
    (lambda: _dicom(make_instance(sop_class_uid=sop_class.CTImageStorage,
                                  patient_id=ORDER.patient_id)),
     "is not a DICOM photograph the station can send"),
    (lambda: _dicom(_photo_instance())[:-500], "is a truncated or damaged DICOM file"),
])
def test_unusable_dicom_files_are_refused(app: Flask, auth: AuthActions, exam: int,
                                          make: object, message: str) -> None:
    response = _send(auth, exam, right=[(make(), "od.dcm")],  # type: ignore[operator]
                     left=[(jpeg(9), "os.jpg")])
    assert response.status_code == 422
    assert message in response.text
    _nothing_kept(app, exam)


def test_wrong_eye_counts_are_refused(app: Flask, auth: AuthActions) -> None:
    auth.login()
    both = started_examination(app, Order(accession_number="ACC-BOTH"))
    response = _send(auth, both, right=[(jpeg(10), "od.jpg")])
    assert response.status_code == 422
    assert "No photograph of the left eye (OS)" in response.text
    response = _send(auth, both, right=[(jpeg(n), f"od{n}.jpg") for n in range(5)],
                     left=[(jpeg(11), "os.jpg")])
    assert "5 photographs of the right eye (OD); at most 4 are taken per eye." in response.text
    _nothing_kept(app, both)
    right_only = started_examination(app, Order(
        accession_number="ACC-RIGHT", study_instance_uid=str(new_uid()),
        description="Fundus photography, right eye"))
    response = _send(auth, right_only, right=[(jpeg(12), "od.jpg")],
                     left=[(jpeg(13), "os.jpg")])
    assert response.status_code == 422
    assert "The order is not for the left eye (OS)" in response.text
    response = _send(auth, right_only, right=[(jpeg(12), "od.jpg")])
    assert response.status_code == 302


def test_files_over_the_limit_are_refused(config: StationConfig) -> None:
    small = dataclasses.replace(config, max_upload_bytes=20_000, max_images_per_eye=2)
    app = make_station(small)
    try:
        auth = AuthActions(app.test_client())
        auth.login()
        exam = started_examination(app, ORDER)
        big = encoded(fundus_like(14, size=(400, 400)), "PNG")
        assert 20_000 < len(big) < small.max_request_bytes
        response = _send(auth, exam, right=[(big, "big.png")], left=[(jpeg(15), "os.jpg")])
        assert response.status_code == 422
        assert "“big.png” is larger than the 0.0190735 MB limit." in response.text
        huge = b"\xff\xd8\xff" + bytes(small.max_request_bytes)
        response = _send(auth, exam, right=[(huge, "huge.jpg")])
        assert response.status_code == 413
        assert "The upload is too large" in response.text and "Nothing was sent." in response.text
        _nothing_kept(app, exam)
    finally:
        database(app).dispose()


def test_photographs_are_given_once(app: Flask, auth: AuthActions, exam: int) -> None:
    assert _send(auth, exam, right=[(jpeg(16), "od.jpg")],
                 left=[(jpeg(17), "os.jpg")]).status_code == 302
    again = _send(auth, exam, right=[(jpeg(18), "od.jpg")], left=[(jpeg(19), "os.jpg")],
                  follow_redirects=True)
    assert "its photographs were already given or it was cancelled" in again.text
    assert len(_outbox_files(app)) == 2


def test_cancelling_an_examination(app: Flask, auth: AuthActions, exam: int,
                                   client: FlaskClient) -> None:
    page = auth.post(f"/examinations/{exam}/cancel", {"reason": "PATIENT_REFUSED"},
                     follow_redirects=True)
    assert "Examination cancelled; the worklist is being told (MPPS DISCONTINUED)." in page.text
    procedure = load_examination(app, exam)
    assert procedure.state == ProcedureState.DISCONTINUING
    assert procedure.discontinuation_reason == "PATIENT_REFUSED"
    response = _send(auth, exam, right=[(jpeg(20), "od.jpg")], left=[(jpeg(21), "os.jpg")],
                     follow_redirects=True)
    assert "already given or it was cancelled" in response.text
    assert _outbox_files(app) == []


def _multipage_tiff() -> bytes:
    buffer = io.BytesIO()
    first, second = (Image.fromarray(fundus_like(n)) for n in (22, 23))
    first.save(buffer, "TIFF", save_all=True, append_images=[second])
    return buffer.getvalue()


def test_grey_and_other_picture_modes(app: Flask, auth: AuthActions, exam: int) -> None:
    grey = fundus_like(24)[:, :, 0]
    rgba = np.dstack([fundus_like(25), np.full(fundus_like(25).shape[:2], 255, np.uint8)])
    response = _send(auth, exam, right=[(encoded(grey, "PNG"), "grey.png"),
                                        (encoded(grey, "JPEG"), "grey.jpg")],
                     left=[(encoded(rgba, "PNG"), "rgba.png"),
                           (encoded(fundus_like(26), "TIFF", compression="tiff_lzw"), "lzw.tif")])
    assert response.status_code == 302, response.text
    photometric = set()
    for path in _outbox_files(app):
        assert dciodvfy_errors(path) == []
        ds = dcmread(path)
        photometric.add(ds.PhotometricInterpretation)
        if ds.ImageLaterality == "R" and ds.file_meta.TransferSyntaxUID != JPEGBaseline8Bit:
            assert np.array_equal(ds.pixel_array, grey)
        if ds.ImageLaterality == "L" and ds.InstanceNumber == 3:
            assert np.array_equal(ds.pixel_array, rgba[:, :, :3])  # alpha dropped, no loss
    assert photometric == {"MONOCHROME2", "RGB"}


@pytest.mark.parametrize(("content", "message"), [
    (lambda: encoded(np.full((64, 64), 40000, np.uint16), "PNG"),
     "give an 8-bit grey or colour image"),
    (_multipage_tiff, "holds several pictures; give one photograph per file"),
])
def test_pictures_the_station_cannot_keep_are_refused(app: Flask, auth: AuthActions, exam: int,
                                                      content: object, message: str) -> None:
    response = _send(auth, exam, right=[(content(), "od.png")],  # type: ignore[operator]
                     left=[(jpeg(27), "os.jpg")])
    assert response.status_code == 422
    assert message in response.text
    _nothing_kept(app, exam)
