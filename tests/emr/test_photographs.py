"""The report's photographs from the PACS: C-GET into the EMR's cache, served to the
logged-in reader only, JPEG passed through, other pixel data rendered to PNG, the
cache held to its size, and a report that stands when the PACS does not answer."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pydicom.encaps import generate_frames
from sqlalchemy import select

from emr.config import EmrConfig, load_config
from emr.database import session
from emr.exceptions import NotFound
from emr.models import AuditEntry, utcnow
from emr.pacs import (JPEG, PNG, fetch_photographs, photograph_cache, photograph_image,
                      store_instances)
from imaging_common.exceptions import ConfigError, PeerError

from tests.conftest import REPO

from .conftest import AuthActions, add_patient, make_config
from .photographs import Archive, Screening, photograph, photographed_screening, start_archive


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'emr.db'}"


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    running = start_archive(tmp_path)
    yield running
    if running.server.socket.fileno() != -1:
        running.stop()


@pytest.fixture
def config(database_url: str, tmp_path: Path, archive: Archive) -> EmrConfig:
    return make_config(database_url, tmp_path, dicom=archive.emr_settings)


@pytest.fixture
def screening(app: Flask, client: FlaskClient, config: EmrConfig) -> Screening:
    return photographed_screening(app, client, config, add_patient(app))


def test_the_photographs_of_a_study_come_by_c_get_and_stay_cached(
        config: EmrConfig, archive: Archive, screening: Screening) -> None:
    uids = sorted(p.uid for side in "RL" for p in screening.photographs[side])
    assert list(fetch_photographs(config, screening.study_uid)) == uids
    cache = photograph_cache(config)
    assert sorted(path.stem for path in cache.folder.glob("*.dcm")) == uids
    archive.stop()  # cached: the PACS is not asked again
    assert list(fetch_photographs(config, screening.study_uid, uids)) == uids
    with pytest.raises(PeerError):
        fetch_photographs(config, screening.study_uid, [*uids, "1.2.3.4"])


def test_a_jpeg_photograph_is_passed_through_byte_for_byte(
        config: EmrConfig, screening: Screening) -> None:
    right = screening.photographs["R"][0]
    data, media_type = photograph_image(config, screening.study_uid, right.uid)
    frame = next(generate_frames(right.dataset.PixelData, number_of_frames=1))
    assert media_type == JPEG
    assert data == right.jpeg  # the camera's stream, as encapsulated
    assert frame in (data, data + b"\x00")  # the stored frame, but for its even-length pad


def test_other_pixel_data_is_rendered_to_png(app: Flask, client: FlaskClient,
                                             config: EmrConfig) -> None:
    lossless = photographed_screening(app, client, config, add_patient(app), jpeg=False)
    left = lossless.photographs["L"][1]
    assert left.dataset.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    data, media_type = photograph_image(config, lossless.study_uid, left.uid)
    assert media_type == PNG
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), left.rgb)
    assert photograph_cache(config).path(left.uid, ".png").read_bytes() == data


def test_the_cache_keeps_to_its_size_dropping_the_least_recently_used(
        config: EmrConfig, tmp_path: Path) -> None:
    small = replace(config, data_dir=tmp_path / "small", image_cache_mb=1)
    study = "1.2.826.0.1.3680043.10.1499.77"
    # 320 x 320 RGB, about 300 kB each: three fit in 1 MiB, four do not.
    stored = [photograph(study, "R", seed=seed, jpeg=False, size=320) for seed in range(4)]
    store_instances(small, [p.dataset for p in stored])
    first, second, third, fourth = (p.uid for p in stored)
    for uid in (first, second, third):
        fetch_photographs(small, study, [uid])
    fetch_photographs(small, study, [first])  # used again: now the second is the oldest
    fetch_photographs(small, study, [fourth])
    cache = photograph_cache(small)
    assert sorted(path.stem for path in cache.folder.glob("*.dcm")) == sorted(
        [first, third, fourth])
    assert sum(path.stat().st_size for path in cache.folder.iterdir()) <= 1024 * 1024
    assert photograph_image(small, study, second)[1] == PNG  # fetched again when asked


def test_a_photograph_of_another_study_or_none_at_all_is_not_found(
        config: EmrConfig, screening: Screening) -> None:
    right = screening.photographs["R"][0].uid
    photograph_image(config, screening.study_uid, right)
    with pytest.raises(NotFound):
        photograph_image(config, "1.2.826.0.1.3680043.10.1499.78", right)
    with pytest.raises(NotFound):
        photograph_image(config, screening.study_uid, "../../emr.db")
    with pytest.raises(NotFound):
        photograph_image(config, screening.study_uid, "1.2.826.0.1.3680043.10.1499.79")


def test_the_photograph_is_served_to_readers_of_that_order_only(
        app: Flask, client: FlaskClient, auth: AuthActions, config: EmrConfig,
        screening: Screening) -> None:
    other = photographed_screening(app, client, config, add_patient(app, "MRN002"), seed=50)
    right = screening.photographs["R"][0]
    url = f"/orders/{screening.order_id}/photographs/{right.uid}"
    assert client.get(url).status_code == 302  # logged out: to the log-in page
    auth.login("admin")
    assert auth.client.get(url).status_code == 403  # no reports.view
    auth.logout()
    auth.login("nurse")
    response = auth.client.get(url)
    assert response.status_code == 200 and response.mimetype == JPEG
    assert response.data == right.jpeg
    foreign = other.photographs["L"][0].uid
    assert auth.client.get(f"/orders/{screening.order_id}/photographs/{foreign}"
                           ).status_code == 404
    assert auth.client.get(f"/orders/{screening.order_id}/photographs/1.2.3"
                           ).status_code == 404
    with app.app_context():
        viewed = session().scalars(select(AuditEntry).where(
            AuditEntry.action == "report.photograph.view")).all()
    assert [e.order_id for e in viewed] == [screening.order_id]
    assert right.uid in viewed[0].detail


def test_the_report_shows_each_photograph_and_the_previous_screening(
        app: Flask, client: FlaskClient, auth: AuthActions, config: EmrConfig) -> None:
    patient = add_patient(app)
    before = photographed_screening(app, client, config, patient, grades=(1, 0), seed=20,
                                    scheduled_at=utcnow() - timedelta(days=400))
    now = photographed_screening(app, client, config, patient, grades=(2, 0), seed=30)
    auth.login("ophthalmologist")
    page = auth.client.get(f"/orders/{now.order_id}/report").text
    for order, screening in ((now.order_id, now), (before.order_id, before)):
        for side in "RL":
            for p in screening.photographs[side]:
                assert f'src="/orders/{order}/photographs/{p.uid}"' in page
    assert page.count('class="viewer-overlay"') == 8  # every gradable photograph
    assert page.count('class="overlay-toggle"') == 8
    assert page.count("Previous screening of this eye") == 2
    previous = page.split('id="previous-R"')[1].split("</section>")[0]
    assert "Mild non-proliferative" in previous and "(AI, not reviewed)" in previous
    assert "viewer-problem" not in page  # every photograph came
    assert "Sign the review" in page
    first = auth.client.get(f"/orders/{before.order_id}/report").text
    assert "None: this is the first screening of this eye with a result." in first


def test_the_report_stands_when_the_pacs_does_not_answer(
        app: Flask, client: FlaskClient, auth: AuthActions, config: EmrConfig,
        archive: Archive) -> None:
    patient = add_patient(app)
    photographed_screening(app, client, config, patient, seed=20,
                           scheduled_at=utcnow() - timedelta(days=400))
    screening = photographed_screening(app, client, config, patient, seed=30)
    archive.stop()
    auth.login("ophthalmologist")
    response = auth.client.get(f"/orders/{screening.order_id}/report")
    assert response.status_code == 200
    page = response.text
    problems = page.split('class="viewer-problem"')[1:]
    assert len(problems) == 8  # each photograph of both eyes, now and before
    assert all(p.split("</p>")[0].count("could not be fetched from the PACS") for p in problems)
    assert "Shown instead: the AI node's picture of it" in page
    assert "Sign the review" in page  # the review form still works
    right = screening.photographs["R"][0].uid
    served = auth.client.get(f"/orders/{screening.order_id}/photographs/{right}")
    assert served.status_code == 503
    assert b"could not be fetched from the PACS" in served.data


def test_without_an_ae_title_the_emr_calls_no_pacs(tmp_path: Path, database_url: str) -> None:
    config = make_config(database_url, tmp_path)
    with pytest.raises(PeerError, match="no AE title"):
        fetch_photographs(config, "1.2.3")


def test_the_network_file_makes_the_emr_a_dicom_peer_the_pacs_accepts(tmp_path: Path) -> None:
    network = REPO / "configs" / "network.toml"
    config = load_config(["--config", str(network), "--data-dir", str(tmp_path)], environ={})
    assert config.dicom is not None and config.dicom.ae_title == "FOVEA_EMR"
    assert config.dicom.node.port is None  # it only calls
    assert "FOVEA_EMR" in config.dicom.network.node("pacs").accepts
    assert config.image_cache_mb == 512
    bad = tmp_path / "network.toml"
    bad.write_text(network.read_text().replace("image_cache_mb = 512", "image_cache_mb = 0"))
    with pytest.raises(ConfigError, match="image_cache_mb"):
        load_config(["--config", str(bad), "--data-dir", str(tmp_path)], environ={})
