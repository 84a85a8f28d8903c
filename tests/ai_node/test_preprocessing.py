"""The one preprocessing path: crop, resize, Graham filter, scaling."""

from __future__ import annotations

import numpy as np
import pytest

from ai_node.model.preprocessing import (ImageReadError, crop_fundus, fundus_box, graham_filter,
                                         load_rgb, normalise, prepare_fundus, preprocess)


def test_crop_finds_the_fundus_and_pads_it_square(fundus_rgb: np.ndarray) -> None:
    wide = np.zeros((256, 400, 3), np.uint8)
    wide[:, 72:328] = fundus_rgb
    top, bottom, left, right = fundus_box(wide)
    assert (left, right) == pytest.approx((72 + 13, 72 + 243), abs=3)
    square = crop_fundus(wide)
    assert square.shape[0] == square.shape[1] == max(bottom - top, right - left)


def test_blank_image_keeps_its_frame() -> None:
    assert fundus_box(np.zeros((10, 20, 3), np.uint8)) == (0, 10, 0, 20)


def test_graham_filter_sends_flat_regions_to_grey_128() -> None:
    flat = np.full((64, 64, 3), 90, np.uint8)
    assert np.all(graham_filter(flat) == 128)


def test_prepare_gives_the_model_size(fundus_rgb: np.ndarray) -> None:
    image = prepare_fundus(fundus_rgb, 64)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8


def test_already_filtered_images_are_only_resized() -> None:
    grey = np.full((224, 224, 3), 128, np.uint8)
    grey[100:120, 100:120] = 200
    assert np.array_equal(prepare_fundus(grey, 224, already_filtered=True), grey)


def test_normalise_matches_the_efficientnet_lite_scaling() -> None:
    values = normalise(np.array([[[0, 127, 255]]], np.uint8))
    assert values.tolist() == [[[-127 / 128, 0.0, 1.0]]]


def test_preprocess_is_prepare_then_normalise(fundus_rgb: np.ndarray) -> None:
    assert np.array_equal(preprocess(fundus_rgb, 48), normalise(prepare_fundus(fundus_rgb, 48)))


def test_unreadable_file_raises(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError):
        load_rgb(bad)
