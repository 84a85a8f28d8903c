"""Fixtures for the AI node's model side: synthetic fundus photographs (never real data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def synthetic_fundus(size: int = 256, seed: int = 0, brightness: float = 110.0) -> np.ndarray:
    """A round orange field with dark vessel-like lines and noise, on black: not a real photo."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    centre = size / 2
    disc = (yy - centre) ** 2 + (xx - centre) ** 2 < (0.45 * size) ** 2
    image = np.zeros((size, size, 3), np.float32)
    image[disc] = np.array([1.4, 0.7, 0.3]) * brightness
    for k in range(6):
        row = int(size * (0.2 + 0.1 * k))
        image[row:row + 2, :, :] *= 0.5
        image[:, row:row + 2, :] *= 0.6
    image += rng.normal(0, 6, image.shape) * disc[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture
def fundus_rgb() -> np.ndarray:
    return synthetic_fundus()


def write_image_set(folder: Path, count: int, size: int = 96) -> list[tuple[str, int]]:
    """JPEG synthetic fundi under ``folder/images``; returns ``(file, grade)`` rows."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        name = f"images/img_{i:03d}.jpg"
        Image.fromarray(synthetic_fundus(size, seed=i)).save(folder / name, quality=92)
        rows.append((name, i % 5))
    return rows
