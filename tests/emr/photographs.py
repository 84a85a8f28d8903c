"""An archive for the EMR's photograph tests, and screenings whose photographs it holds.

The archive is ``pacs_scp`` in this process on a free port; the EMR calls it as
FOVEA_EMR (``[nodes.emr]`` of the test network file). The photographs are
synthetic fundus pictures made into Ophthalmic Photography images as the
station makes them; each result's pictures are the AI node's own (its heat map
blended over the photograph, at most 512 pixels a side).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pydicom.dataset import Dataset
from pynetdicom.transport import ThreadedAssociationServer

from ai_node.model.heatmap import map_to_photograph, overlay
from emr.config import EmrConfig
from emr.pacs import store_instances
from imaging_common.builders.identity import Equipment, Patient, Request
from imaging_common.builders.ophthalmic import (Laterality, OphthalmicImage,
                                                build_ophthalmic_photograph)
from imaging_common.settings import Settings, load_settings
from imaging_common.uids import new_uid
from modality_scu.synthetic import synthetic_fundus, synthetic_jpeg
from pacs_scp.server import start_server
from tests.conftest import free_port, pacs_settings, write_network

from .conftest import TO_AI_RUNNING, add_order, bearer, eye_body, load_order, move, result_body
from .test_results import photograph_entry

#: Largest side of the AI node's picture of a photograph, as it posts it to the EMR.
PICTURE_SIDE = 512


@dataclass
class Archive:
    """The archive in this process, and the EMR's network settings toward it."""

    server: ThreadedAssociationServer
    emr_settings: Settings

    def stop(self) -> None:
        """Stop the archive: its port refuses connections from now on."""
        self.server.shutdown()


def start_archive(tmp_path: Path) -> Archive:
    """``pacs_scp`` on a free port, and the EMR's settings with that port for the PACS."""
    network = write_network(tmp_path / "network.toml", free_port())
    settings = pacs_settings(network, tmp_path / "pacs", "--database-url",
                             f"sqlite:///{tmp_path / 'pacs.db'}")
    server = start_server(settings)
    emr = load_settings("emr", ["--config", str(network), "--data-dir", str(tmp_path / "emr")],
                        environ={})
    pacs = replace(emr.network.node("pacs"), port=server.server_address[1])
    return Archive(server, replace(emr, network=emr.network.with_node(pacs)))


@dataclass(frozen=True)
class Photographed:
    """A photograph as stored in the archive: the dataset and what went into it."""

    dataset: Dataset
    jpeg: bytes | None
    rgb: np.ndarray = field(repr=False)

    @property
    def uid(self) -> str:
        return str(self.dataset.SOPInstanceUID)


def photograph(study_uid: str, laterality: str, *, seed: int, grade: int = 0,
               jpeg: bool = True, size: int = 512) -> Photographed:
    """A synthetic fundus photograph of one eye: a baseline JPEG kept as it is, or the
    picture's pixels stored losslessly (Explicit VR Little Endian)."""
    side = Laterality(laterality)
    stream = synthetic_jpeg(seed=seed, grade=grade, laterality=laterality, size=size) \
        if jpeg else None
    rgb = (np.asarray(Image.open(io.BytesIO(stream)).convert("RGB")) if stream is not None
           else np.asarray(synthetic_fundus(seed=seed, grade=grade, laterality=laterality,
                                            size=size).convert("RGB")))
    image = OphthalmicImage(laterality=side, jpeg=stream) if stream is not None \
        else OphthalmicImage(laterality=side, pixels=rgb)
    dataset = build_ophthalmic_photograph(
        image, Patient("PH-1", "TEST^PHOTOGRAPH"), Request(study_uid, "ACC-PH"),
        Equipment(model_name="test camera"), new_uid())
    return Photographed(dataset, stream, rgb)


def ai_picture(rgb: np.ndarray, seed: int) -> str:
    """The AI node's picture of a gradable photograph, base64 PNG: a heat map blended
    over the photograph, at most :data:`PICTURE_SIDE` pixels a side."""
    small = Image.fromarray(rgb)
    small.thumbnail((PICTURE_SIDE, PICTURE_SIDE))
    photo = np.asarray(small)
    cam = np.random.default_rng(seed).random((7, 7)).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(overlay(photo, map_to_photograph(cam / cam.max(), photo))).save(
        buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def eye_with_photographs(laterality: str, grade: int,
                         photographs: list[Photographed]) -> dict[str, Any]:
    """One eye of an AI result: every photograph graded, the first decides."""
    entries = [photograph_entry(p.uid, i == 0, grade, heatmap_png=ai_picture(p.rgb, i))
               for i, p in enumerate(photographs)]
    return {**eye_body(laterality, grade),
            "source_sop_instance_uids": [p.uid for p in photographs],
            "decisive_sop_instance_uid": photographs[0].uid,
            "sc_sop_instance_uid": entries[0]["sc_sop_instance_uid"], "images": entries}


@dataclass(frozen=True)
class Screening:
    """An order graded by the AI, its photographs in the archive."""

    order_id: int
    study_uid: str
    photographs: dict[str, list[Photographed]]


def photographed_screening(app: Flask, client: FlaskClient, config: EmrConfig,
                           patient_id: int, scheduled_at: datetime | None = None,
                           grades: tuple[int, int] = (2, 0), seed: int = 0,
                           jpeg: bool = True) -> Screening:
    """An order of both eyes: two photographs of each stored in the archive (by the
    EMR's own C-STORE), then the AI result that grades each."""
    order_id = add_order(app, patient_id, scheduled_at=scheduled_at)
    study = load_order(app, order_id).study_instance_uid
    photographs = {side: [photograph(study, side, seed=seed + 10 * n + i, grade=grade,
                                     jpeg=jpeg) for i in range(2)]
                   for n, (side, grade) in enumerate(zip("RL", grades))}
    store_instances(config, [p.dataset for side in "RL" for p in photographs[side]])
    move(client, order_id, *TO_AI_RUNNING)
    body = result_body(eyes=[eye_with_photographs(side, grade, photographs[side])
                             for side, grade in zip("RL", grades)])
    response = client.post(f"/api/v1/orders/{order_id}/results", json=body,
                           headers=bearer("ai"))
    assert response.status_code == 201, response.json
    return Screening(order_id, study, photographs)
