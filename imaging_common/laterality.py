"""Which eye a fundus photograph shows, from the image alone (a classical method).

In a fundus photograph as a camera saves it (the retina seen face-on, not
through an indirect ophthalmoscope's inverting lens) the optic disc lies
nasal to the macula: to the viewer's RIGHT of the macula in a right eye, to
the LEFT in a left eye. In the usual macula- or field-centred 45 degree
photograph the macula sits near the centre, so the disc is well off to the
nasal side of the centre; a disc near the centre (a disc-centred photograph)
tells no side.

The method, on a copy shrunk to 256 px (numpy and Pillow only, about 0.1 s):

1. the fundus circle: pixels brighter than the black surround, its extent
   taken from the rows and columns it fills (so a caption in a corner does
   not count), searched inside 0.93 of its radius;
2. the optic disc: the best score of a map that adds two z-scores, a
   band-pass of 0.5 red + green at the disc's scale (the disc is the
   brightest, most yellow compact region; illumination varies more slowly,
   exudates and glints are smaller) and the density of vertically running
   vessels (a horizontal grey closing minus the green channel: the arcades
   leave the disc up and down, which a cluster of exudates, a flash reflex
   or a rim glare lacks);
3. the rival: the best score on the other half of the fundus, at least 1.5
   disc diameters away;
4. the side: the disc right of the centre reads as a right eye; the
   confidence is a logistic model of the disc's margin over the rival, its
   distance from the centre and from the horizontal midline (weights fitted
   on a fifth of ODIR-5K). No side when there is no fundus, no disc stands
   out (score under 2.5) or the disc is within 0.12 radii of the centre.

Locating the macula as the darkest region 1.5 to 3.3 disc diameters temporal
to the disc was tried as a second cue and dropped: on these photographs it
agreed with the label less often than chance (vignetting and the foveal
reflex defeat a darkness test), while the disc's side relative to the centre
already carries the macula's side in macula-centred photographs.

Measured with ``.venv/bin/python scripts/laterality_check.py`` (all eye
labels of fundus-dr600 and eyepacs-raw400; every fifth ODIR-5K photograph
from the third, none of them used in the fit), at the default
``min_confidence`` 0.9. A "false alarm" is a correctly labelled photograph
that :func:`laterality_doubt` flags; "swap caught" the same photograph given
as the other eye and flagged:

================  =====  =========  ===========  ============  ===========
set               n      abstained  right when   false alarm   swap caught
                                    answering
================  =====  =========  ===========  ============  ===========
fundus-dr600      496    4.0 %      99.6 %       0.4 % (2)     95.6 %
ODIR-5K (1/5)     1,278  12.4 %     99.6 %       0.4 % (5)     87.2 %
eyepacs-raw400    1,097  5.9 %      61.9 %       35.8 %        58.2 %
================  =====  =========  ===========  ============  ===========

- fundus-dr600's two false alarms are both photographs of patient 276,
  whose L and R labels look swapped in the source (each shows the other
  eye's anatomy).
- EyePACS stores many photographs turned upside down (rotated 180 degrees,
  as seen through an indirect ophthalmoscope; the Kaggle data page says so):
  of 491 patients with both eyes read, 99.2 % read as two different eyes,
  61.5 % as labelled and 37.7 % both mirrored. The check cannot tell a
  rotated photograph from a swapped eye; a station whose camera saves
  inverted photographs must not use it as it stands.
- On the same ODIR photographs, 0.8 gives 0.9 % false alarms for 91.2 %
  caught, 0.95 gives 0.2 % for 81.5 % (``--sets odir --min-confidence``).
  0.9 keeps false alarms well under 2 % on every set whose cameras save
  photographs upright, and catches nearly nine swaps in ten.

A doubt is a warning for a person to look at, never a decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = [
    "DEFAULT_MIN_CONFIDENCE",
    "LateralityEstimate",
    "estimate_laterality",
    "laterality_doubt",
]

#: Below this confidence :func:`laterality_doubt` stays silent (see the figures above).
DEFAULT_MIN_CONFIDENCE = 0.9

_WORK_WIDTH = 256
_INNER = 0.93
#: The optic disc's diameter in fundus radii (about 0.2-0.25 in a 45 degree field).
_DISC_DIAMETER = 0.22
#: A disc closer than this (fundus radii) to the vertical midline tells no side.
_CENTRAL_DISC = 0.12
#: A disc scoring less than this (standard deviations of the map) is not believed.
_FAINTEST_DISC = 2.5
#: Logistic weights of :func:`_confidence`: intercept, score margin, |x|, |y|.
_WEIGHTS = (1.11, 0.595, 1.48, -3.465)
#: The rival score when the other half holds no candidate at all.
_NO_RIVAL = -10.0
_EYE_NAMES = {"R": "right", "L": "left"}


@dataclass(frozen=True)
class LateralityEstimate:
    """The eye a photograph seems to show.

    ``side`` is ``"R"``, ``"L"`` or ``None`` when the image does not tell
    (no disc found, disc near the centre, cues that disagree);
    ``confidence`` is 0 to 1; ``reason`` says what was seen, for a person.
    """

    side: str | None
    confidence: float
    reason: str


@dataclass(frozen=True)
class _Fundus:
    """The photograph shrunk to the working size, its fundus mask and circle."""

    rgb: np.ndarray
    mask: np.ndarray
    centre_x: float
    centre_y: float
    radius: float


@dataclass(frozen=True)
class _Evidence:
    """What the image shows; positions in fundus radii from the centre (x to the
    viewer's right, y down), scores in standard deviations of the map."""

    disc_x: float
    disc_y: float
    disc_score: float
    rival_score: float


def _box_mean(values: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """Mean of ``values`` over a ``size`` square box, counting only ``weights`` > 0."""
    half = max(1, size // 2)
    width = 2 * half + 1

    def box(a: np.ndarray) -> np.ndarray:
        summed = np.pad(np.pad(a, half).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        return (summed[width:, width:] - summed[:-width, width:]
                - summed[width:, :-width] + summed[:-width, :-width])

    denominator = box(weights)
    return np.where(denominator > 0, box(values * weights) / np.maximum(denominator, 1e-9), 0.0)


def _smooth(values: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """Two passes of a weighted box mean: close to a Gaussian, and cheap."""
    return _box_mean(_box_mean(values, weights, size), weights, size)


def _closing_across(values: np.ndarray, size: int) -> np.ndarray:
    """Grey closing with a horizontal ``size`` line: fills dark lines that run up and down."""
    half = size // 2
    width = values.shape[1]
    result = values
    for reduce in (np.maximum, np.minimum):
        padded = np.pad(result, ((0, 0), (half, half)), mode="edge")
        out = padded[:, :width]
        for offset in range(1, 2 * half + 1):
            out = reduce(out, padded[:, offset:offset + width])
        result = out
    return result


def _zscore(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    inside = values[mask]
    return (values - np.median(inside)) / (float(inside.std()) + 1e-9)


def _prepare(rgb: np.ndarray) -> _Fundus | None:
    """Shrink to the working width and find the fundus circle; ``None`` if there is none."""
    array = np.asarray(rgb)
    if array.ndim == 2:  # a grey photograph: the same brightness in every channel
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] < 3 or min(array.shape[:2]) < 32:
        return None
    image = Image.fromarray(np.ascontiguousarray(array[..., :3]).astype(np.uint8))
    scale = _WORK_WIDTH / max(image.size)
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)),
                              max(1, round(image.height * scale))), Image.Resampling.BOX)
    pixels = np.asarray(image, dtype=np.float64)
    brightest = pixels.max(axis=2)
    if brightest.max() < 30:
        return None
    mask = brightest > max(20.0, 0.12 * float(np.percentile(brightest, 99)))
    if mask.mean() < 0.2:
        return None
    # The circle's extent from the rows and columns it fills: a caption or a
    # date burned into a corner fills too few of them to count.
    columns = np.nonzero(mask.mean(axis=0) > 0.1 * mask.mean(axis=0).max())[0]
    rows = np.nonzero(mask.mean(axis=1) > 0.1 * mask.mean(axis=1).max())[0]
    radius = (columns[-1] - columns[0] + 1) / 2
    centre_x, centre_y = (columns[-1] + columns[0]) / 2, (rows[-1] + rows[0]) / 2
    yy, xx = np.mgrid[0:mask.shape[0], 0:mask.shape[1]]
    inner = mask & (np.hypot(xx - centre_x, yy - centre_y) < _INNER * radius)
    return _Fundus(pixels, inner, float(centre_x), float(centre_y), float(radius))


def _disc_map(fundus: _Fundus, disc: int) -> np.ndarray:
    """Bright and compact, where the main vessels run up and down: the optic disc.

    The sum of two z-scores inside the fundus: a band-pass of 0.5 red + green at
    the disc's scale (exudates and glints are smaller, illumination slower), and
    the density of vertical vessels (the arcades leave the disc upwards and
    downwards; a horizontal closing fills only those), which a bright cluster of
    exudates or a flash reflex lacks.
    """
    weights = fundus.mask.astype(np.float64)
    red, green = fundus.rgb[..., 0], fundus.rgb[..., 1]
    bright = 0.5 * red + green
    band = _smooth(bright, weights, max(3, disc // 2)) - _smooth(bright, weights, 3 * disc)
    vessel_width = 2 * max(1, disc // 8) + 1
    vessels = np.clip(_closing_across(green, vessel_width) - green, 0, None)
    density = _smooth(vessels, weights, disc)
    return _zscore(band, fundus.mask) + _zscore(density, fundus.mask)


def _measure(rgb: np.ndarray) -> _Evidence | None:
    """Find the disc and its strongest rival on the other half of the fundus."""
    fundus = _prepare(rgb)
    if fundus is None:
        return None
    radius = fundus.radius
    disc = max(6, round(_DISC_DIAMETER * radius))
    scores = np.where(fundus.mask, _disc_map(fundus, disc), -np.inf)
    disc_y, disc_x = np.unravel_index(int(np.argmax(scores)), scores.shape)
    yy, xx = np.mgrid[0:scores.shape[0], 0:scores.shape[1]]
    away = np.hypot(xx - disc_x, yy - disc_y) > 1.5 * disc
    other_half = (xx - fundus.centre_x) * (disc_x - fundus.centre_x) < 0
    rivals = np.where(away & other_half, scores, -np.inf)
    rival = float(rivals.max()) if np.isfinite(rivals.max()) else _NO_RIVAL
    return _Evidence(disc_x=float((disc_x - fundus.centre_x) / radius),
                     disc_y=float((disc_y - fundus.centre_y) / radius),
                     disc_score=float(scores[disc_y, disc_x]),
                     rival_score=max(rival, _NO_RIVAL))


def _confidence(evidence: _Evidence) -> float:
    """The chance that the disc's side gives the right eye: a logistic model.

    Its inputs are how much the disc outscores the best candidate on the other
    half of the fundus, how far it sits from the centre and how far from the
    horizontal midline (a "disc" high or low is more often a glint or a rim
    artefact). The weights were fitted by maximum likelihood on a fifth of
    ODIR-5K (1,279 photographs; ``scripts/laterality_check.py --fit``).
    """
    margin = min(evidence.disc_score - evidence.rival_score, 10.0)
    logit = (_WEIGHTS[0] + _WEIGHTS[1] * margin + _WEIGHTS[2] * min(abs(evidence.disc_x), 0.7)
             + _WEIGHTS[3] * abs(evidence.disc_y))
    return float(1.0 / (1.0 + np.exp(-logit)))


def estimate_laterality(rgb: np.ndarray) -> LateralityEstimate:
    """Say which eye an RGB fundus photograph (H x W x 3, uint8) seems to show.

    Never raises on a picture: an image without a fundus, or whose optic disc
    sits near the centre, gives ``side=None`` with the reason.
    """
    return _estimate(_measure(rgb))


def _estimate(evidence: _Evidence | None) -> LateralityEstimate:
    if evidence is None:
        return LateralityEstimate(None, 0.0, "no fundus found in the image")
    confidence = _confidence(evidence)
    if evidence.disc_score < _FAINTEST_DISC:
        return LateralityEstimate(None, 0.0, "no optic disc stands out in the image")
    if abs(evidence.disc_x) < _CENTRAL_DISC:
        return LateralityEstimate(None, 0.0, "the optic disc is near the centre of the image, "
                                             "which does not show the side")
    side = "R" if evidence.disc_x > 0 else "L"
    reason = f"optic disc on the {_EYE_NAMES[side]} of the image, as in a {_EYE_NAMES[side]} eye"
    return LateralityEstimate(side, round(confidence, 3), reason)


def laterality_doubt(declared: str, rgb: np.ndarray,
                     min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> str | None:
    """A short reason when the photograph looks like the other eye than ``declared``.

    ``declared`` is the Image Laterality given to the photograph, ``"R"`` or
    ``"L"``. Returns ``None`` when the image agrees, cannot tell, or tells with
    less than ``min_confidence``. Raises ``ValueError`` for another ``declared``.
    """
    declared = declared.strip().upper()
    if declared not in _EYE_NAMES:
        raise ValueError(f"laterality must be R or L, not {declared!r}")
    estimate = estimate_laterality(rgb)
    if estimate.side is None or estimate.side == declared or estimate.confidence < min_confidence:
        return None
    return (f"given as the {_EYE_NAMES[declared]} eye, but it looks like a "
            f"{_EYE_NAMES[estimate.side]} eye ({estimate.reason}; "
            f"confidence {estimate.confidence:.2f})")
