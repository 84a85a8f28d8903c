"""The simulated capture: a drawn fundus photograph that is deterministic, anatomically
oriented, black outside its field of view, graded by its lesions, and a baseline JPEG."""

from __future__ import annotations

import io
from functools import cache

import numpy as np
import pytest
from PIL import Image, ImageFilter, JpegImagePlugin

from imaging_common.builders import jpeg_frame_info
from modality_scu.synthetic import FOV_EDGE, FOV_RADIUS, synthetic_fundus, synthetic_jpeg

SIZE = 256
SEEDS = (1, 2, 3)


@cache
def photograph(seed: int, grade: int, laterality: str = "R", size: int = SIZE) -> np.ndarray:
    """The picture as a read-only int16 array (room for differences), drawn once per test run."""
    pixels = np.asarray(synthetic_fundus(seed=seed, grade=grade, laterality=laterality,
                                         size=size), dtype=np.int16)
    pixels.flags.writeable = False
    return pixels


def radius_from_centre(size: int) -> np.ndarray:
    centres = np.arange(size) + 0.5 - size / 2
    return np.hypot(centres[np.newaxis, :], centres[:, np.newaxis])


def disc_column(pixels: np.ndarray) -> int:
    """The column of the brightest blurred spot: the optic disc."""
    grey = Image.fromarray(pixels.astype(np.uint8)).convert("L")
    blurred = np.asarray(grey.filter(ImageFilter.GaussianBlur(pixels.shape[0] / 40)))
    return int(np.unravel_index(np.argmax(blurred), blurred.shape)[1])


def lesion_pixels(seed: int, grade: int) -> dict[str, int]:
    """Pixels the lesions changed, against the same eye at grade 0 (the same anatomy):
    darker and no less red (blood), turned yellow (exudates), turned pale (cotton wool)."""
    healthy, graded = photograph(seed, 0), photograph(seed, grade)
    red, green, blue = (graded[..., channel] for channel in range(3))
    change = graded - healthy
    return {
        "blood": int(((change[..., 1] < -20) & (change[..., 0] <= 0)).sum()),
        "exudate": int(((change[..., 1] > 50) & (blue < 0.6 * green)).sum()),
        "cotton_wool": int(((change[..., 2] > 25) & (blue > 0.6 * green) & (red > 150)).sum()),
    }


def frame_markers(jpeg: bytes) -> list[int]:
    """The marker codes (second byte of 0xFF xx) of a JPEG's segments up to its scan."""
    assert jpeg[:2] == b"\xff\xd8", "no SOI"
    markers, offset = [], 2
    while offset < len(jpeg) and jpeg[offset] == 0xFF:
        marker = jpeg[offset + 1]
        markers.append(marker)
        if marker == 0xDA:  # SOS: entropy-coded data follows
            break
        offset += 2 + int.from_bytes(jpeg[offset + 2: offset + 4], "big")
    return markers


def test_the_same_arguments_give_the_same_pixels() -> None:
    first = synthetic_fundus(seed=42, grade=3, laterality="L", size=SIZE)
    second = synthetic_fundus(seed=42, grade=3, laterality="L", size=SIZE)
    assert first.mode == "RGB" and first.size == (SIZE, SIZE)
    assert first.tobytes() == second.tobytes()


def test_another_seed_gives_another_eye() -> None:
    difference = np.abs(photograph(1, 0) - photograph(2, 0))
    assert difference.mean() > 2
    assert (difference.max(axis=2) > 40).mean() > 0.01  # vessels elsewhere, not just noise


def test_the_two_eyes_of_one_seed_differ() -> None:
    right, left = photograph(1, 0, "R"), photograph(1, 0, "L")
    assert np.abs(right - left[:, ::-1]).mean() > 2  # not merely mirrored


@pytest.mark.parametrize("seed", SEEDS)
def test_the_disc_is_on_the_nasal_side(seed: int) -> None:
    # Seen face-on, the right eye's nasal side is on the photograph's right.
    assert disc_column(photograph(seed, 0, "R")) > 0.6 * SIZE
    assert disc_column(photograph(seed, 0, "L")) < 0.4 * SIZE


@pytest.mark.parametrize("grade", [0, 4])
def test_outside_the_field_of_view_is_black(grade: int) -> None:
    pixels = photograph(1, grade, "L")
    radius = radius_from_centre(SIZE) / (FOV_RADIUS * SIZE)
    assert not pixels[radius > 1 + FOV_EDGE + 2 / (FOV_RADIUS * SIZE)].any()
    assert pixels[radius < 0.5].mean() > 60


def test_the_retina_is_orange_red() -> None:
    inside = photograph(1, 0)[radius_from_centre(SIZE) < 0.8 * FOV_RADIUS * SIZE]
    red, green, blue = inside.mean(axis=0)
    assert red > 140 and red > 1.5 * green and green > 1.5 * blue


@pytest.mark.parametrize("seed", SEEDS)
def test_lesions_grow_with_the_grade(seed: int) -> None:
    counts = [lesion_pixels(seed, grade) for grade in range(5)]
    blood = [count["blood"] for count in counts]
    assert blood[0] == 0 and blood == sorted(set(blood)), blood  # strictly more each grade
    assert [count["exudate"] > 0 for count in counts] == [False, False, True, True, True]
    assert counts[1]["cotton_wool"] == 0
    assert counts[3]["cotton_wool"] > max(50, counts[2]["cotton_wool"])


def test_the_jpeg_is_a_baseline_camera_picture() -> None:
    jpeg = synthetic_jpeg(seed=7, grade=2, laterality="R", size=SIZE)
    markers = frame_markers(jpeg)
    assert 0xC0 in markers and not {0xC1, 0xC2, 0xC3} & set(markers)  # SOF0 only
    with Image.open(io.BytesIO(jpeg)) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (SIZE, SIZE))
        assert JpegImagePlugin.get_sampling(image) == 2  # 4:2:0
        decoded = np.asarray(image, dtype=np.int16)
    assert np.abs(decoded - photograph(7, 2)).mean() < 3
    frame = jpeg_frame_info(jpeg)  # what the station checks before storing it
    assert (frame.rows, frame.columns, frame.photometric_interpretation) == (
        SIZE, SIZE, "YBR_FULL_422")


@pytest.mark.parametrize("arguments, message", [
    ({"grade": -1}, "grade"), ({"grade": 5}, "grade"), ({"grade": 2.0}, "grade"),
    ({"laterality": "OD"}, "laterality"), ({"laterality": "r"}, "laterality"),
    ({"size": 127}, "size"), ({"size": 4097}, "size"), ({"seed": -1}, "seed"),
])
def test_bad_arguments_are_refused(arguments: dict[str, object], message: str) -> None:
    call = {"seed": 1, "grade": 0, "laterality": "R", "size": SIZE} | arguments
    with pytest.raises(ValueError, match=message):
        synthetic_fundus(**call)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        synthetic_jpeg(**call)  # type: ignore[arg-type]


@pytest.mark.parametrize("quality", [0, 101])
def test_a_bad_jpeg_quality_is_refused(quality: int) -> None:
    with pytest.raises(ValueError, match="quality"):
        synthetic_jpeg(seed=1, grade=0, laterality="R", size=SIZE, quality=quality)
