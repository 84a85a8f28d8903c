"""Simulated capture: only in demo mode, never beside uploads of the same eye, and
marked in DICOM (Image Type, Series Description, Image Comments, its own series)
so that every reader can tell; each image still passes dciodvfy without an error."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import JPEGBaseline8Bit

from imaging_common.simulation import (SIMULATED_SERIES_DESCRIPTION, is_simulated,
                                       mark_simulated)
from modality_scu.procedures import (PROTOCOL_SERIES_DESCRIPTION, final_step,
                                     simulated_series_uid)
from modality_scu.models import ProcedureState

from .conftest import (AuthActions, Order, context, dciodvfy_errors, jpeg, load_examination,
                       started_examination)

ORDER = Order(accession_number="ACC-SIMULATED-1")


def _exam(app: Flask) -> tuple[AuthActions, int]:
    auth = AuthActions(app.test_client())
    auth.login()
    return auth, started_examination(app, ORDER)


def _send(auth: AuthActions, exam: int, **fields: object) -> str:
    data: dict[str, object] = {"seed": "1234", "right_grade": "0", "left_grade": "0", **fields}
    response = auth.post(f"/examinations/{exam}/photographs", data,
                         content_type="multipart/form-data")
    return f"{response.status_code} {response.text}"


def _outbox(app: Flask) -> list[Dataset]:
    return [dcmread(path) for path in sorted(context(app).config.outbox_dir.glob("*.dcm"))]


def test_a_simulated_capture_is_marked_in_its_own_series(demo_app: Flask) -> None:
    auth, exam = _exam(demo_app)
    sent = _send(auth, exam, right_simulate="y", right_grade="3", left_simulate="y")
    assert sent.startswith("302"), sent
    procedure = load_examination(demo_app, exam)
    assert [i.source for i in procedure.images] == [
        "simulated capture (severity 3, seed 1234)", "simulated capture (severity 0, seed 1234)"]
    for path in sorted(context(demo_app).config.outbox_dir.glob("*.dcm")):
        assert dciodvfy_errors(path) == []  # "SIMULATED" as Value 3 is only a warning
        ds = dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
        assert list(ds.ImageType) == ["DERIVED", "PRIMARY", "SIMULATED"]
        assert ds.SeriesDescription == SIMULATED_SERIES_DESCRIPTION
        assert "Simulated" in ds.SeriesDescription
        assert ds.ImageComments.startswith("SIMULATED: a synthetic fundus picture")
        assert "ICDR severity" in ds.ImageComments and "not a photograph" in ds.ImageComments
        assert ds.BurnedInAnnotation == "NO"
        assert ds.ManufacturerModelName == "Fovea simulated capture"
        assert ds.SeriesInstanceUID == simulated_series_uid(procedure)
        assert ds.SeriesInstanceUID != procedure.series_instance_uid and ds.SeriesNumber == 2
        (source,) = ds.SourceImageSequence
        assert source.PurposeOfReferenceCodeSequence[0].CodeValue == "121320"
        assert ds.DerivationCodeSequence[0].CodeValue == "113040"
        assert is_simulated(ds)
    (series,) = final_step(procedure, context(demo_app).config).PerformedSeriesSequence
    assert series.SeriesInstanceUID == simulated_series_uid(procedure)
    assert series.SeriesDescription == SIMULATED_SERIES_DESCRIPTION
    assert len(series.ReferencedImageSequence) == 2


def test_a_simulated_and_an_uploaded_picture_of_one_eye_are_refused(demo_app: Flask) -> None:
    auth, exam = _exam(demo_app)
    sent = _send(auth, exam, right_simulate="y", left_simulate="y",
                 right_files=[(io.BytesIO(jpeg(1)), "od.jpg")])
    assert sent.startswith("422")
    assert ("The right eye (OD) has both a simulated capture and uploaded photographs: a "
            "synthetic picture never goes into a study beside real ones") in sent
    assert "Nothing was sent." in sent
    assert load_examination(demo_app, exam).state == ProcedureState.IN_PROGRESS
    assert load_examination(demo_app, exam).images == [] and _outbox(demo_app) == []


def test_one_eye_simulated_the_other_uploaded_go_in_two_series(demo_app: Flask) -> None:
    auth, exam = _exam(demo_app)
    sent = _send(auth, exam, right_simulate="y", left_files=[(io.BytesIO(jpeg(2)), "os.jpg")])
    assert sent.startswith("302"), sent
    procedure = load_examination(demo_app, exam)
    by_eye = {ds.ImageLaterality: ds for ds in _outbox(demo_app)}
    assert is_simulated(by_eye["R"]) and not is_simulated(by_eye["L"])
    assert list(by_eye["L"].ImageType) == ["ORIGINAL", "PRIMARY"]
    assert "ImageComments" not in by_eye["L"] and "SeriesDescription" not in by_eye["L"]
    assert by_eye["L"].SeriesInstanceUID == procedure.series_instance_uid
    assert by_eye["R"].SeriesInstanceUID == simulated_series_uid(procedure)
    series = final_step(procedure, context(demo_app).config).PerformedSeriesSequence
    assert [(s.SeriesDescription, len(s.ReferencedImageSequence)) for s in series] == [
        (PROTOCOL_SERIES_DESCRIPTION, 1), (SIMULATED_SERIES_DESCRIPTION, 1)]


def test_outside_demo_mode_simulated_capture_is_neither_offered_nor_taken(app: Flask) -> None:
    assert not context(app).config.demo
    auth, exam = _exam(app)
    page = auth.client.get(f"/examinations/{exam}").text
    assert "Simulated capture" not in page and "simulated capture" not in page
    assert 'name="right_simulate"' not in page and 'type="hidden"' in page  # the seed
    sent = _send(auth, exam, right_simulate="y", left_simulate="y")  # a hand-made form
    assert sent.startswith("422")
    assert "Simulated capture is off: the network does not run in demo mode" in sent
    assert load_examination(app, exam).images == [] and _outbox(app) == []
    uploaded = _send(auth, exam, right_files=[(io.BytesIO(jpeg(3)), "od.jpg")],
                     left_files=[(io.BytesIO(jpeg(4)), "os.jpg")])
    assert uploaded.startswith("302"), uploaded  # uploads work as ever


def test_marking_needs_a_built_image() -> None:
    from imaging_common.exceptions import DicomInputError

    with pytest.raises(DicomInputError, match="SOP Instance UID"):
        mark_simulated(Dataset(), "ICDR severity 0, seed 1")
    assert not is_simulated(Dataset())
