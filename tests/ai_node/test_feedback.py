"""Review labels from the EMR plus images from the PACS by C-GET form a training set."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pynetdicom import AE

from ai_node.training.feedback import fetch_feedback, load_feedback_records
from imaging_common.builders.identity import Equipment, Patient, Request
from imaging_common.builders.ophthalmic import Laterality, OphthalmicImage, \
    build_ophthalmic_photograph
from imaging_common.settings import Node
from imaging_common.uids import new_uid
from tests.ai_node.conftest import synthetic_fundus
from tests.conftest import RunningPacs

EMR_COLUMNS = ("sop_instance_uid", "study_instance_uid", "accession_number", "laterality",
               "label_grade", "label_source")


def photograph(study_uid: str, laterality: Laterality, seed: int,
               jpeg: bool) -> tuple[Dataset, np.ndarray]:
    rgb = synthetic_fundus(128, seed=seed)
    if jpeg:
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="JPEG", quality=95)
        image = OphthalmicImage(laterality=laterality, jpeg=buffer.getvalue())
    else:
        image = OphthalmicImage(laterality=laterality, pixels=rgb)
    return build_ophthalmic_photograph(
        image, Patient("FB-1", "TEST^FEEDBACK"), Request(study_uid, "ACC-FB"),
        Equipment(model_name="test camera"), new_uid()), rgb


def store(pacs: RunningPacs, datasets: list[Dataset]) -> None:
    ae = AE("STORESCU")
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", pacs.port, ae_title=pacs.ae_title)
    assert assoc.is_established
    for ds in datasets:
        assert assoc.send_c_store(ds).Status == 0
    assoc.release()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_reviewed_images_come_back_as_a_training_set(pacs: RunningPacs, tmp_path: Path) -> None:
    study = new_uid()
    right, right_rgb = photograph(study, Laterality.RIGHT, 1, jpeg=False)
    left, _ = photograph(study, Laterality.LEFT, 2, jpeg=True)
    store(pacs, [right, left])
    labels = tmp_path / "fovea-labels.csv"
    with open(labels, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(EMR_COLUMNS)
        writer.writerow([right.SOPInstanceUID, study, "ACC-FB", "R", "3", "corrected"])
        writer.writerow([left.SOPInstanceUID, study, "ACC-FB", "L", "ungradable", "approved"])
        writer.writerow([new_uid(), study, "ACC-FB", "L", "1", "approved"])  # never stored
    node = Node(name="pacs", ae_title=pacs.ae_title, host="127.0.0.1", port=pacs.port)
    out = tmp_path / "feedback"

    report = fetch_feedback(labels, out, AE("GETSCU"), node)

    assert (report.labels, report.fetched, report.present, len(report.missing)) == (2, 1, 0, 1)
    records = load_feedback_records([out / "labels.csv"])
    assert [(r.grade, r.split, r.source) for r in records] == [(3, "train", "feedback")]
    fetched = np.asarray(Image.open(records[0].path))
    np.testing.assert_array_equal(fetched, right_rgb)  # lossless all the way

    again = fetch_feedback(labels, out, AE("GETSCU"), node)
    assert (again.fetched, again.present) == (0, 1)


def test_a_bad_label_row_is_refused_before_any_fetch(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("sop_instance_uid,study_instance_uid,label_grade\n1.2.3,1.2,7\n")
    node = Node(name="pacs", ae_title="NOBODY", host="127.0.0.1", port=1)
    with pytest.raises(ValueError, match="grade '7'"):
        fetch_feedback(labels, tmp_path / "out", AE("GETSCU"), node)
