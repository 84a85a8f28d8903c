"""Fundus preprocessing shared by training, evaluation and serving.

One path from a photograph to the model's input, so that the three never drift:

1. :func:`crop_fundus`: crop to the bounding box of the pixels brighter than
   grey 15 and pad to a square (the same crop as the data sets in ../shared/data);
2. resize to the model's input size;
3. :func:`graham_filter`: subtract the local average colour,
   ``4 * image - 4 * gaussian_blur(image, sigma) + 128``, with sigma = size / 22.4
   (10 px at 224 px). This is Ben Graham's preprocessing from the 2015 Kaggle
   Diabetic Retinopathy Detection competition (B. Graham, "Kaggle Diabetic
   Retinopathy Detection competition report", 2015); the APTOS 2019 set in
   ../shared/data ships with it already applied, so training on it needs every
   other image filtered the same way;
4. :func:`normalise`: ``(x - 127) / 128``, the input scaling of the TensorFlow
   EfficientNet-Lite checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

#: Pixels brighter than this grey level belong to the fundus, darker ones to the mask.
FUNDUS_THRESHOLD = 15
#: Blur sigma as a fraction of the image side (Graham: 10 px at 224 px).
GRAHAM_SIGMA_FRACTION = 10 / 224
INPUT_MEAN = 127.0
INPUT_STD = 128.0


class ImageReadError(ValueError):
    """The file is not an image PIL can decode."""


def load_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as ``uint8`` RGB ``(height, width, 3)``."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError) as exc:
        raise ImageReadError(f"cannot read image {path}: {exc}") from exc


def fundus_box(rgb: np.ndarray, threshold: int = FUNDUS_THRESHOLD) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` of the pixels whose grey level exceeds ``threshold``.

    The whole frame when no pixel does (a black or blank image).
    """
    grey = rgb.astype(np.float32).mean(axis=2)
    rows = np.flatnonzero((grey > threshold).any(axis=1))
    cols = np.flatnonzero((grey > threshold).any(axis=0))
    if rows.size == 0 or cols.size == 0:
        return 0, rgb.shape[0], 0, rgb.shape[1]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def crop_fundus(rgb: np.ndarray, threshold: int = FUNDUS_THRESHOLD) -> np.ndarray:
    """Crop to the fundus bounding box and pad with black to a centred square."""
    top, bottom, left, right = fundus_box(rgb, threshold)
    crop = rgb[top:bottom, left:right]
    height, width = crop.shape[:2]
    side = max(height, width)
    square = np.zeros((side, side, 3), dtype=np.uint8)
    y, x = (side - height) // 2, (side - width) // 2
    square[y:y + height, x:x + width] = crop
    return square


def resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize to ``size`` x ``size`` with a Lanczos filter (antialiased when shrinking)."""
    if rgb.shape[0] == size and rgb.shape[1] == size:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.LANCZOS))


def graham_filter(rgb: np.ndarray) -> np.ndarray:
    """``4 * image - 4 * gaussian_blur(image) + 128``, clipped to ``uint8``."""
    sigma = GRAHAM_SIGMA_FRACTION * rgb.shape[0]
    blurred = Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(sigma))
    out = 4.0 * rgb.astype(np.float32) - 4.0 * np.asarray(blurred, np.float32) + 128.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def prepare_fundus(rgb: np.ndarray, size: int, already_filtered: bool = False) -> np.ndarray:
    """A raw colour fundus photograph as the ``uint8`` image the model sees, before scaling.

    ``already_filtered`` is for images that carry the Graham filter already
    (the APTOS 2019 derivative): they are only resized.
    """
    if already_filtered:
        return resize(rgb, size)
    return graham_filter(resize(crop_fundus(rgb), size))


def normalise(image: np.ndarray) -> np.ndarray:
    """``uint8`` RGB to the model's float input, ``(x - 127) / 128``."""
    return (image.astype(np.float32) - INPUT_MEAN) / INPUT_STD


def preprocess(rgb: np.ndarray, size: int, already_filtered: bool = False) -> np.ndarray:
    """A photograph to the float ``(size, size, 3)`` array the model takes."""
    return normalise(prepare_fundus(rgb, size, already_filtered))
