"""Gradability: good synthetic fundi pass, blank, dark, blurred and glaring ones do not."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from ai_node.model.quality import score_image
from tests.ai_node.conftest import synthetic_fundus


def test_a_sharp_well_lit_fundus_is_gradable(fundus_rgb: np.ndarray) -> None:
    report = score_image(fundus_rgb)
    assert report.gradable, report


def test_a_black_frame_is_not_a_fundus() -> None:
    report = score_image(np.zeros((200, 300, 3), np.uint8))
    assert not report.gradable and "field" in report.reasons


def test_a_washed_out_image_is_over_illuminated() -> None:
    report = score_image(synthetic_fundus(brightness=240))
    assert "over-illumination" in report.reasons


def test_a_dark_image_is_rejected() -> None:
    report = score_image(synthetic_fundus(brightness=18))
    assert not report.gradable


def test_a_blurred_image_is_out_of_focus(fundus_rgb: np.ndarray) -> None:
    blurred = np.asarray(Image.fromarray(fundus_rgb).filter(ImageFilter.GaussianBlur(6)))
    report = score_image(blurred)
    assert "focus" in report.reasons
