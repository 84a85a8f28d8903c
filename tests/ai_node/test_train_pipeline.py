"""Training batches: photometric augmentation before the filter, draws by source weight."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="the [ai] extra (tensorflow-cpu) is not installed")

from ai_node.model.preprocessing import graham_filter, prepare_fundus  # noqa: E402
from ai_node.training.cache import unfiltered_images  # noqa: E402
from ai_node.training.datasets import Record  # noqa: E402
from ai_node.training.pipeline import TrainingBatches, model_input, photometric  # noqa: E402
from ai_node.training.train import class_weights  # noqa: E402
from tests.ai_node.conftest import synthetic_fundus, write_image_set  # noqa: E402


def test_photometric_augmentation_changes_the_fundus_not_its_surround() -> None:
    image = synthetic_fundus(128, seed=1)
    outside = image.mean(axis=2) <= 15
    variants = [photometric(image, np.random.default_rng(seed)) for seed in range(6)]
    assert all(v.shape == image.shape and v.dtype == np.uint8 for v in variants)
    # The surround stays below the crop threshold (blur and JPEG may touch the edge only).
    assert all(v[:12, :12].max() <= 15 and v[-12:, -12:].max() <= 15 for v in variants)
    means = [v[~outside].mean() for v in variants]
    assert max(means) - min(means) > 10  # exposure really varies
    again = photometric(image, np.random.default_rng(3))
    assert (again == variants[3]).all()  # seeded


def test_cached_validation_image_is_the_serving_preprocessing(tmp_path: Path) -> None:
    rows = write_image_set(tmp_path, 3, size=150)
    records = [Record(tmp_path / name, grade, "s", "val") for name, grade in rows]
    cached = unfiltered_images(records, 64, tmp_path / "cache")
    again = unfiltered_images(records[1:], 64, tmp_path / "cache")  # from the cache
    assert (again == cached[1:]).all()
    from ai_node.model.preprocessing import load_rgb

    for record, image in zip(records, cached):
        served = prepare_fundus(load_rgb(record.path), 64)
        assert (model_input(image, False) == served).all()
    assert (model_input(cached[0], True) == cached[0]).all()
    assert not (graham_filter(cached[0]) == cached[0]).all()


def test_draws_follow_source_weights_and_mask_ungraded_oedema() -> None:
    records = [Record(Path(f"a{i}"), i % 5, "raw", "train", dme=i % 2) for i in range(40)] + \
              [Record(Path(f"b{i}"), i % 5, "processed", "train") for i in range(160)]
    images = np.zeros((200, 16, 16, 3), np.uint8)
    grades = np.array([r.grade for r in records])
    batches = TrainingBatches(records, images, 20, class_weights(grades, 0.5), 2.0, seed=1,
                              epoch_images=60, source_weights={"processed": 0.05})
    drawn = [records[i].source for i in batches.order]
    assert len(drawn) == 60 and len(batches) == 3
    assert drawn.count("raw") > 30  # 40 raw of 60 drawn, though 4 in 5 records are not
    x, y, weights = batches[0]
    assert x.shape == (20, 16, 16, 3) and y["probabilities"].shape == (20, 5)
    chosen = batches.order[:20]
    expected = [2.0 if records[i].dme is not None else 0.0 for i in chosen]
    assert list(weights["dme"]) == expected
    first = batches.order.copy()
    batches.on_epoch_end()
    assert not (batches.order == first).all()
    batches.set_epoch(0)
    assert (batches.order == first).all()  # a resumed run draws the same epoch again
