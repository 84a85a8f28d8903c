"""Heat maps for the Secondary Capture, from the served class activation maps.

The served model returns, beside the grade probabilities, a logit map per
grade over the last convolutional features (:func:`ai_node.model.grader.serving_model`).
The heat map of a grade is its map minus the map of grade 0 ("no DR"): where
the photograph looks more like that grade than like a healthy retina. For the
referable case the maps of grades 2-4 are weighted by their probabilities.
Negative evidence is cut at zero and the result scaled to 0-1. The map covers
the square the model saw (the fundus crop, padded), so :func:`map_to_photograph`
resizes it to that square (bicubic, smooth), undoes the padding and the crop,
and keeps it inside the fundus.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ai_node.model.grader import REFERABLE_FROM
from ai_node.model.preprocessing import FUNDUS_THRESHOLD, fundus_box

#: Heat below this share of the maximum is left out of the overlay.
OVERLAY_FLOOR = 0.2


def class_activation(maps: np.ndarray, probabilities: np.ndarray,
                     target: str | int = "referable") -> np.ndarray:
    """A ``(h, w)`` map in [0, 1] from one image's ``(h, w, 5)`` logit maps.

    ``target`` is a grade (1-4) or ``"referable"`` (grades 2-4 weighted by probability).
    """
    evidence = maps - maps[..., :1]
    if target == "referable":
        weights = np.asarray(probabilities, np.float64)[REFERABLE_FROM:]
        weights = weights / weights.sum() if weights.sum() > 0 else np.full(weights.shape, 1 / 3)
        cam = (evidence[..., REFERABLE_FROM:] * weights).sum(axis=-1)
    else:
        cam = evidence[..., int(target)]
    cam = np.maximum(cam, 0.0)
    return (cam / cam.max() if cam.max() > 0 else cam).astype(np.float32)


def resize_map(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize of a ``[0, 1]`` map to ``height`` x ``width``."""
    resized = Image.fromarray(cam.astype(np.float32)).resize(
        (width, height), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(resized), 0.0, 1.0)


def map_to_photograph(cam: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The model's map placed over the whole photograph, zero outside the fundus.

    Inverts :func:`ai_node.model.preprocessing.crop_fundus`: the map is sized
    to the padded square of the fundus box, the padding cut off, and the rest
    put back where the box lies in the photograph.
    """
    top, bottom, left, right = fundus_box(rgb)
    height, width = bottom - top, right - left
    side = max(height, width)
    square = resize_map(cam, side, side)
    y, x = (side - height) // 2, (side - width) // 2
    placed = np.zeros(rgb.shape[:2], np.float32)
    placed[top:bottom, left:right] = square[y:y + height, x:x + width]
    fundus = rgb.astype(np.float32).mean(axis=2) > FUNDUS_THRESHOLD
    return placed * fundus


def colour_map(cam: np.ndarray) -> np.ndarray:
    """A ``[0, 1]`` map as ``uint8`` RGB running blue, green, yellow, red ("jet"-like)."""
    x = np.clip(cam, 0.0, 1.0)[..., None]
    rgb = np.concatenate([np.clip(1.5 - np.abs(4 * x - 3), 0, 1),
                          np.clip(1.5 - np.abs(4 * x - 2), 0, 1),
                          np.clip(1.5 - np.abs(4 * x - 1), 0, 1)], axis=-1)
    return (255 * rgb).astype(np.uint8)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend the coloured heat map over a ``uint8`` RGB photograph of the same size.

    Where the heat is below :data:`OVERLAY_FLOOR` the photograph shows unchanged.
    """
    weight = alpha * np.where(cam >= OVERLAY_FLOOR, cam, 0.0)[..., None]
    blended = (1 - weight) * image.astype(np.float32) + weight * colour_map(cam)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
