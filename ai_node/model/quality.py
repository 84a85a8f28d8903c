"""Is a fundus photograph gradable? Field, illumination and focus scores.

Three checks in the spirit of automated retinal image quality assessment
(Fleming et al., "Automated assessment of diabetic retinal image quality based
on clarity and field definition", IOVS 47(3), 2006):

- ``field``: the fundus disc fills a sensible share of its bounding square
  (a round field fills pi/4 = 0.785, one cut at top and bottom more); a frame
  with almost no fundus, or no round field at all, is not a retinal photograph;
- ``illumination``: mean brightness of the fundus, and the share of
  over-exposed (any channel >= 250) and under-exposed (grey < 20) fundus pixels;
- ``focus``: variance of the Laplacian of the green channel over the central
  disc at 512 px (Pech-Pacheco et al., ICPR 2000); blur removes the vessel edges.

An image failing any check gets "re-image" instead of a grade. The limits sit
below the worst scores of the 1,004 graded photographs of fundus-dr600 and
idrid-grading (all gradable to their graders; ``python -m ai_node.model.quality
--images DIR --labels CSV`` writes the scores per image): field >= 0.66,
brightness 32-145, over-exposed share <= 0.25, under-exposed <= 0.17, focus >= 4.1
there; a Gaussian blur of sigma 2 px at 512 px brings focus below 2.5.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from ai_node.model.preprocessing import FUNDUS_THRESHOLD, crop_fundus, load_rgb, resize

QUALITY_SIZE = 512
MIN_FIELD, MAX_FIELD = 0.55, 1.0
MIN_BRIGHTNESS, MAX_BRIGHTNESS = 25.0, 200.0
MAX_OVEREXPOSED = 0.30
MAX_UNDEREXPOSED = 0.35
MIN_FOCUS = 3.0


@dataclass(frozen=True)
class QualityReport:
    """Scores of one photograph and the verdict; ``reasons`` name the failed checks."""

    field: float
    brightness: float
    overexposed: float
    underexposed: float
    focus: float
    gradable: bool
    reasons: tuple[str, ...]


def _laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian over the central disc (radius 0.8 of the field)."""
    kernel = ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], scale=1, offset=128)
    lap = np.asarray(Image.fromarray(grey).filter(kernel), np.float32) - 128.0
    # The central disc only: the fundus rim is a strong edge in every photograph.
    size = grey.shape[0]
    yy, xx = np.mgrid[0:size, 0:size]
    centre = (size - 1) / 2
    inner = (yy - centre) ** 2 + (xx - centre) ** 2 < (0.4 * size) ** 2
    return float(lap[inner].var())


def score_image(rgb: np.ndarray) -> QualityReport:
    """Quality scores and the gradable verdict of a raw colour fundus photograph."""
    square = resize(crop_fundus(rgb), QUALITY_SIZE)
    grey = square.astype(np.float32).mean(axis=2)
    mask = grey > FUNDUS_THRESHOLD
    field = float(mask.mean())
    fundus = square[mask] if mask.any() else np.zeros((1, 3), np.uint8)
    brightness = float(fundus.mean())
    overexposed = float((fundus >= 250).any(axis=1).mean())
    underexposed = float((fundus.mean(axis=1) < 20).mean())
    focus = _laplacian_variance(square[:, :, 1])
    reasons = []
    if not MIN_FIELD <= field <= MAX_FIELD or mask.sum() < 0.2 * mask.size:
        reasons.append("field")
    if not MIN_BRIGHTNESS <= brightness <= MAX_BRIGHTNESS:
        reasons.append("brightness")
    if overexposed > MAX_OVEREXPOSED:
        reasons.append("over-illumination")
    if underexposed > MAX_UNDEREXPOSED:
        reasons.append("under-illumination")
    if focus < MIN_FOCUS:
        reasons.append("focus")
    return QualityReport(field, brightness, overexposed, underexposed, focus,
                         not reasons, tuple(reasons))


def main(argv: list[str] | None = None) -> None:
    """Score every image of a labels CSV and write one row per image."""
    parser = argparse.ArgumentParser(description="Fundus image quality, per image.")
    parser.add_argument("--images", type=Path, required=True, help="folder the CSV paths are in")
    parser.add_argument("--labels", type=Path, required=True, help="CSV with a 'file' column")
    parser.add_argument("--out", type=Path, help="CSV to write (default: standard output)")
    args = parser.parse_args(argv)
    with open(args.labels, newline="") as handle:
        files = [row["file"] for row in csv.DictReader(handle)]
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    writer = csv.writer(out)
    names = [name for name in QualityReport.__dataclass_fields__]
    writer.writerow(["file"] + names)
    for name in files:
        report = asdict(score_image(load_rgb(args.images / name)))
        report["reasons"] = " ".join(report["reasons"])
        writer.writerow([name] + [report[key] for key in names])
    if args.out:
        out.close()


if __name__ == "__main__":
    main()
