"""Ophthalmologists' reviews as training data: labels from the EMR, images from the PACS.

The EMR exports reviewed findings as ``labels.csv`` (one row per source image:
``sop_instance_uid``, ``study_instance_uid``, ``label_grade`` and more; no
patient identity). :func:`fetch_feedback` fetches those images from the PACS
by C-GET, one association per study, and writes a data set the training reads
like any other::

    python -m ai_node.training.feedback --labels fovea-labels.csv --out var/feedback
    python -m ai_node.training.train --extra-records-csv var/feedback/labels.csv ...

The written ``labels.csv`` has ``file`` (relative to it, a lossless PNG),
``icdr_grade``, ``split`` (``train``) and ``sop_instance_uid``. Rows labelled
"ungradable" are left out. A second run fetches only what is missing.

:func:`load_feedback_records` reads such a CSV (any with ``file`` and
``icdr_grade``; an optional ``split`` column assigns rows to ``train`` or ``val``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pynetdicom import AE

from ai_node.training.datasets import TRAIN, VAL, Record
from imaging_common.dimse import make_ae
from imaging_common.exceptions import PeerError
from imaging_common.retrieve_scu import get_study
from imaging_common.settings import Node, load_settings, service_argument_parser

FEEDBACK = "feedback"
#: What a fundus photograph in the PACS can be.
PHOTOGRAPH_CLASSES = ("1.2.840.10008.5.1.4.1.1.77.1.5.1",   # Ophthalmic Photography 8 Bit
                      "1.2.840.10008.5.1.4.1.1.7")          # Secondary Capture
IMAGES = "images"
COLUMNS = ("file", "icdr_grade", "split", "sop_instance_uid")


def load_feedback_records(csv_paths: Iterable[Path]) -> list[Record]:
    """Records from feedback CSVs; raises ValueError on a bad grade or split."""
    records = []
    for csv_path in csv_paths:
        with open(csv_path, newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                grade = int(row["icdr_grade"])
                split = row.get("split") or TRAIN
                if not 0 <= grade <= 4 or split not in (TRAIN, VAL):
                    raise ValueError(f"{csv_path}:{line}: grade {grade}, split {split!r}")
                records.append(Record(csv_path.parent / row["file"], grade, FEEDBACK, split))
    return records


@dataclass(frozen=True)
class FetchReport:
    """Labels read, images written now, images already there, labels without an image."""

    labels: int
    fetched: int
    present: int
    missing: tuple[str, ...]


def read_review_labels(path: Path) -> dict[str, tuple[str, int]]:
    """``sop_instance_uid -> (study_instance_uid, grade)`` of the gradable rows."""
    wanted: dict[str, tuple[str, int]] = {}
    with open(path, newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            grade = row.get("label_grade", "")
            if grade == "ungradable":
                continue
            if grade not in {"0", "1", "2", "3", "4"} or not row.get("sop_instance_uid"):
                raise ValueError(f"{path}:{line}: no SOP Instance UID or grade {grade!r}")
            wanted[row["sop_instance_uid"]] = (row["study_instance_uid"], int(grade))
    return wanted


def photograph_rgb(ds: Dataset) -> np.ndarray:
    """The pixel data as ``uint8`` RGB (JPEG and other compressed syntaxes decoded)."""
    pixels = ds.pixel_array
    if ds.get("PhotometricInterpretation", "") in ("YBR_FULL", "YBR_FULL_422"):
        from pydicom.pixels import convert_color_space

        pixels = convert_color_space(pixels, ds.PhotometricInterpretation, "RGB")
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    return np.asarray(pixels, np.uint8)


def _write_png(rgb: np.ndarray, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    Image.fromarray(rgb).save(tmp, format="PNG")
    os.replace(tmp, path)


def fetch_feedback(labels_csv: Path, out_dir: Path, ae: AE, pacs: Node) -> FetchReport:
    """Fetch the labelled images from the PACS and write ``out_dir/labels.csv``.

    Raises:
        PeerError: the PACS could not be reached or refused a C-GET.
        ValueError: the labels file has a bad row.
    """
    wanted = read_review_labels(labels_csv)
    (out_dir / IMAGES).mkdir(parents=True, exist_ok=True)

    def image_path(uid: str) -> Path:
        return out_dir / IMAGES / f"{uid}.png"

    present = {uid for uid in wanted if image_path(uid).is_file()}
    fetched: set[str] = set()

    def keep(ds: Dataset) -> bool:
        uid = str(ds.SOPInstanceUID)
        if uid not in wanted or uid in present:
            return True  # another image of the study: acknowledged, not kept
        _write_png(photograph_rgb(ds), image_path(uid))
        fetched.add(uid)
        return True

    for study in sorted({study for uid, (study, _) in wanted.items() if uid not in present}):
        get_study(ae, pacs, study, PHOTOGRAPH_CLASSES, keep)
    have = present | fetched
    rows = [{"file": f"{IMAGES}/{uid}.png", "icdr_grade": grade, "split": TRAIN,
             "sop_instance_uid": uid} for uid, (_, grade) in sorted(wanted.items())
            if uid in have]
    tmp = out_dir / "labels.csv.tmp"
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out_dir / "labels.csv")
    missing = tuple(sorted(set(wanted) - have))
    return FetchReport(len(wanted), len(fetched), len(present), missing)


def main(argv: Sequence[str] | None = None) -> None:
    parser = service_argument_parser(
        "Fetch the images behind the EMR's review labels from the PACS by C-GET.")
    parser.add_argument("--labels", type=Path, required=True, help="the EMR's labels.csv")
    parser.add_argument("--out", type=Path, required=True, help="folder of the data set")
    settings = load_settings("ai", argv, parser=parser)
    try:
        report = fetch_feedback(settings.extra["labels"], settings.extra["out"],
                                make_ae(settings), settings.network.node("pacs"))
    except (PeerError, ValueError, OSError) as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"{report.labels} labelled images: {report.fetched} fetched, {report.present} "
          f"already there, {len(report.missing)} not in the PACS")
    for uid in report.missing:
        print(f"  not found: {uid}")
    if report.missing:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
