"""Simulated capture: a procedural colour fundus photograph for demonstrations.

The station offers a "simulated capture" where no camera is attached. The
picture only has to look like what a 45-degree fundus camera writes, so that
the archive, the viewers and the grading model get a plausible photograph; it
is drawn from scratch, never copied from a real one.

What is drawn, from the back of the eye forwards:

- a circular field of view on black, with a slightly soft edge, as the
  camera's aperture leaves it;
- the orange-red retina (the choroid's blood seen through the pigment
  epithelium), darker towards the edge of the field (radial illumination
  fall-off) and mottled by low-contrast texture;
- the macula, darker and browner, its fovea 2.5 disc diameters temporal to
  the optic disc and a little below it;
- the optic disc, 1/7 of the field's diameter, bright yellow-orange with a
  paler cup, on the nasal side. Photographs show the fundus face-on, so the
  right eye's disc lies right of the picture's centre and the left eye's
  left of it (as in every right-eye photograph of the fundus-dr600 set); the
  left eye is drawn as a right eye and mirrored;
- the vessels leaving the disc: arteries (lighter, thinner, with a central
  light reflex) and veins (darker, thicker) as smooth tapering curves, the
  temporal arcades arching above and below the macula, branching recursively
  and stopping short of the fovea's avascular zone;
- the lesions of diabetic retinopathy for the ICDR grade (see
  :data:`LESION_PLANS`): microaneurysms, dot, blot and flame haemorrhages,
  hard exudates in clusters and rings near the macula, cotton-wool spots,
  venous beading, neovascularisation at the disc and elsewhere, and a
  boat-shaped preretinal haemorrhage.

Strokes and blobs are drawn with PIL on supersampled 8-bit masks, shrunk and
blurred (which antialiases them), then applied to a floating-point picture
by absorption (blood) or cover (disc, lipid, cotton wool), only within each
mask's bounding box.

Geometry is in units of the field of view's radius from its centre, y
pointing down, for a right eye. One generator seeded by ``(seed, eye)`` is
split into three streams (anatomy, texture, lesions), so the same arguments
give identical pixels, and one eye at two grades differs only by its lesions
(grade 4 is grade 3's picture plus new vessels and preretinal blood).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["LESION_PLANS", "LesionPlan", "synthetic_fundus", "synthetic_jpeg"]

Array = npt.NDArray[np.float64]
Picture = npt.NDArray[np.float32]
RGB = tuple[float, float, float]

#: Sizes accepted, in pixels per side.
MIN_SIZE, MAX_SIZE = 128, 4096
#: Radius of the field of view, as a fraction of the picture's side.
FOV_RADIUS = 0.47
#: Width of the field of view's soft edge, in field radii.
FOV_EDGE = 0.012
#: Optic disc diameter: 1/7 of the field's diameter (a 45-degree camera).
DISC_DIAMETER = 2 / 7
#: The disc's centre (nasal = +x), in field radii.
DISC_CENTRE = (0.40, -0.03)
#: The fovea's offset from the disc, in disc diameters: temporal and a little lower.
FOVEA_FROM_DISC = (-2.5, 0.3)
#: Vertical over horizontal diameter of the disc; cup over disc diameter.
DISC_ASPECT, CUP_TO_DISC = 1.08, 0.42
#: No vessel enters this radius around the fovea (its avascular zone), in disc diameters.
AVASCULAR_RADIUS = 0.35
#: Supersampling factor of the drawn masks (their antialiasing).
SUPERSAMPLE = 2
#: Blur of vessel and lesion edges, in field radii (about a pixel at 1024).
EDGE_BLUR = 0.002

#: Main vessels as control points from the disc's centre, in disc diameters
#: (right eye): the trunks leave the disc up and down, the temporal arcades bow
#: around the macula, the nasal vessels fan out.
MAIN_VESSEL_PATHS = {
    "superior temporal": ((-0.05, 0.0), (-0.2, -0.6), (-0.7, -1.35), (-1.5, -1.85),
                          (-2.6, -2.0), (-3.8, -1.7), (-5.0, -1.1)),
    "inferior temporal": ((-0.05, 0.0), (-0.2, 0.65), (-0.7, 1.45), (-1.5, 2.05),
                          (-2.6, 2.25), (-3.8, 1.95), (-5.0, 1.4)),
    "superior nasal": ((-0.05, 0.0), (0.2, -0.7), (0.8, -1.8), (1.15, -3.0), (1.3, -4.0)),
    "inferior nasal": ((-0.05, 0.0), (0.2, 0.75), (0.8, 1.9), (1.15, 3.0), (1.3, 4.0)),
    "nasal": ((-0.05, 0.0), (0.9, -0.1), (1.9, -0.2), (3.0, -0.1)),
}
#: Initial width of the main veins, in disc diameters; arteries are narrower.
VEIN_WIDTH = {"superior temporal": 0.075, "inferior temporal": 0.075,
              "superior nasal": 0.06, "inferior nasal": 0.06, "nasal": 0.045}
ARTERY_TO_VEIN_WIDTH = 0.72
#: Branches end when narrower than this, in disc diameters, or this deep in the tree.
MIN_VESSEL_WIDTH, MAX_BRANCH_DEPTH = 0.014, 3

#: Colours (8-bit RGB) and transmittances (the fraction of each channel let through).
RETINA_RGB: RGB = (200.0, 98.0, 34.0)
DISC_RGB: RGB = (250.0, 170.0, 88.0)
CUP_RGB: RGB = (255.0, 214.0, 150.0)
MACULA_TRANSMITTANCE: RGB = (0.80, 0.66, 0.70)
VEIN_TRANSMITTANCE: RGB = (0.68, 0.40, 0.42)
ARTERY_TRANSMITTANCE: RGB = (0.88, 0.64, 0.62)
ARTERY_REFLEX_RGB: RGB = (240.0, 150.0, 100.0)
HAEMORRHAGE_TRANSMITTANCE: RGB = (0.62, 0.28, 0.30)
NEW_VESSEL_TRANSMITTANCE: RGB = (0.85, 0.45, 0.45)
PRERETINAL_TRANSMITTANCE: RGB = (0.55, 0.18, 0.20)
EXUDATE_RGB: RGB = (250.0, 212.0, 90.0)
COTTON_WOOL_RGB: RGB = (240.0, 222.0, 196.0)


@dataclass(frozen=True)
class LesionPlan:
    """How many lesions of each kind an ICDR grade draws: (fewest, most), inclusive."""

    microaneurysms: tuple[int, int] = (0, 0)
    haemorrhages_per_quadrant: tuple[int, int] = (0, 0)
    exudate_clusters: tuple[int, int] = (0, 0)
    cotton_wool_spots: tuple[int, int] = (0, 0)
    venous_beading: bool = False
    new_vessel_tufts: tuple[int, int] = (0, 0)
    preretinal_chance: float = 0.0


#: ICDR grades: 0 no apparent retinopathy, 1 mild NPDR (microaneurysms only),
#: 2 moderate NPDR, 3 severe NPDR (haemorrhages in all four quadrants, venous
#: beading), 4 PDR (new vessels, at the disc first; preretinal blood).
LESION_PLANS = {
    0: LesionPlan(),
    1: LesionPlan(microaneurysms=(3, 6)),
    2: LesionPlan(microaneurysms=(8, 14), haemorrhages_per_quadrant=(1, 3),
                  exudate_clusters=(1, 2), cotton_wool_spots=(0, 1)),
    3: LesionPlan(microaneurysms=(12, 20), haemorrhages_per_quadrant=(5, 8),
                  exudate_clusters=(2, 3), cotton_wool_spots=(3, 5), venous_beading=True),
    4: LesionPlan(microaneurysms=(12, 20), haemorrhages_per_quadrant=(5, 8),
                  exudate_clusters=(2, 3), cotton_wool_spots=(3, 5), venous_beading=True,
                  new_vessel_tufts=(2, 3), preretinal_chance=0.6),
}


@dataclass(frozen=True)
class _Vessel:
    """A vessel's centre line (n x 2, field radii) and its width at each point."""

    points: Array
    widths: Array
    is_vein: bool
    depth: int


@dataclass(frozen=True)
class _Anatomy:
    """A right eye's disc and fovea centres and its vessels."""

    disc: Array
    fovea: Array
    vessels: list[_Vessel]

    @property
    def main_veins(self) -> list[_Vessel]:
        return [v for v in self.vessels if v.is_vein and v.depth == 0]


def synthetic_fundus(*, seed: int, grade: int, laterality: str, size: int = 1024) -> Image.Image:
    """An RGB fundus photograph: grade is the ICDR grade 0-4, laterality 'R' or 'L'.

    The same arguments give the same pixels. The picture is ``size`` pixels
    square; the disc lies on the nasal side, right of centre for a right eye.

    Raises:
        ValueError: a seed that is not a non-negative integer, a grade outside
            0-4, a laterality other than ``R`` or ``L``, a size outside 128-4096.
    """
    _check_arguments(seed, grade, laterality, size)
    plan = LESION_PLANS[grade]
    eye = ("R", "L").index(laterality)
    anatomy_rng, texture_rng, lesion_rng = np.random.default_rng([seed, eye]).spawn(3)
    anatomy = _anatomy(anatomy_rng, plan.venous_beading)
    photo = _retina(texture_rng, size)
    _darken_macula(photo, anatomy.fovea)
    _paint_optic_disc(photo, anatomy.disc)
    counts = _lesion_counts(lesion_rng, plan)
    _paint_deep_lesions(photo, lesion_rng, counts, anatomy)
    _draw_vessels(photo, anatomy.vessels)
    _paint_superficial_lesions(photo, lesion_rng, counts, plan, anatomy)
    _illuminate(photo, texture_rng)
    pixels = np.clip(photo + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    if laterality == "L":
        pixels = pixels[:, ::-1]
    return Image.fromarray(np.ascontiguousarray(pixels), "RGB")


def synthetic_jpeg(*, seed: int, grade: int, laterality: str, size: int = 1024,
                   quality: int = 92) -> bytes:
    """The same picture as a baseline JPEG (YCbCr, 4:2:0 is fine), as a camera would write it.

    Raises:
        ValueError: as :func:`synthetic_fundus`, or a quality outside 1-100.
    """
    if not _is_integer(quality) or not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be an integer from 1 to 100, not {quality!r}")
    picture = synthetic_fundus(seed=seed, grade=grade, laterality=laterality, size=size)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality, subsampling="4:2:0",
                 progressive=False, optimize=False)
    return buffer.getvalue()


def _is_integer(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_arguments(seed: int, grade: int, laterality: str, size: int) -> None:
    if not _is_integer(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    if not _is_integer(grade) or grade not in LESION_PLANS:
        raise ValueError(f"grade must be an ICDR grade from 0 to 4, not {grade!r}")
    if laterality not in ("R", "L"):
        raise ValueError(f"laterality must be 'R' (right eye) or 'L' (left eye), "
                         f"not {laterality!r}")
    if not _is_integer(size) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be an integer from {MIN_SIZE} to {MAX_SIZE} pixels, "
                         f"not {size!r}")


# --- the picture and its regions --------------------------------------------------------


Window = tuple[slice, slice]


@dataclass(frozen=True)
class _Region:
    """A window of the picture (rows, columns), with its pixel centres in field radii."""

    window: Window
    x: Picture  # 1 x columns
    y: Picture  # rows x 1


def _region(size: int, centre: tuple[float, float] = (0.0, 0.0),
            radius: float = 0.5 / FOV_RADIUS) -> _Region:
    """The pixels within ``radius`` (field radii) of ``centre``, clipped to the picture
    (by default the whole picture)."""
    scale = FOV_RADIUS * size

    def span(middle: float) -> slice:
        low = int(np.floor((middle - radius) * scale + size / 2))
        high = int(np.ceil((middle + radius) * scale + size / 2))
        return slice(max(0, low), min(size, high))

    rows, columns = span(centre[1]), span(centre[0])
    x = ((np.arange(columns.start, columns.stop) + 0.5 - size / 2) / scale).astype(np.float32)
    y = ((np.arange(rows.start, rows.stop) + 0.5 - size / 2) / scale).astype(np.float32)
    return _Region((rows, columns), x[np.newaxis, :], y[:, np.newaxis])


def _absorb(photo: Picture, window: Window, coverage: Picture, transmittance: RGB) -> None:
    """Light absorbed, channel by channel, where ``coverage`` is 1 (blood, pigment)."""
    for channel, passed in zip(photo, transmittance):
        channel[window] *= 1 - np.float32(1 - passed) * coverage


def _cover(photo: Picture, window: Window, coverage: Picture, colour: RGB) -> None:
    """An opaque layer of ``colour`` in front of the picture where ``coverage`` is 1."""
    for channel, value in zip(photo, colour):
        pixels = channel[window]
        pixels += coverage * (np.float32(value) - pixels)


def _soft_inside(distance: Picture, radius: float, edge: float) -> Picture:
    """1 inside ``radius``, 0 outside, ramping linearly over ``edge``."""
    return np.clip((radius - distance) / np.float32(edge) + np.float32(0.5), 0, 1)


def _smooth_noise(rng: np.random.Generator, cells: int, size: int) -> Picture:
    """Noise of about unit amplitude varying smoothly over ``size / cells`` pixels."""
    coarse = rng.standard_normal((cells, cells), dtype=np.float32)
    return np.asarray(Image.fromarray(coarse, "F").resize((size, size), Image.Resampling.BICUBIC))


# --- the background: retina, macula, disc, illumination ---------------------------------


def _retina(rng: np.random.Generator, size: int) -> Picture:
    """The retina's colour (3 x size x size), mottled at a coarse and a fine scale."""
    texture = (1 + 0.03 * _smooth_noise(rng, 5, size) + 0.02 * _smooth_noise(rng, 40, size)
               + 0.012 * _smooth_noise(rng, min(size // 4, 200), size))
    warmth = 0.025 * _smooth_noise(rng, 4, size)
    return np.stack([np.float32(RETINA_RGB[0]) * texture * (1 + warmth),
                     np.float32(RETINA_RGB[1]) * texture * (1 - warmth),
                     np.float32(RETINA_RGB[2]) * texture])


def _darken_macula(photo: Picture, fovea: Array) -> None:
    """A broad brownish shadow over the macula, deepest at the fovea."""
    region = _region(photo.shape[1], (fovea[0], fovea[1]), 3 * DISC_DIAMETER)
    distance2 = ((region.x - fovea[0]) ** 2 + (region.y - fovea[1]) ** 2) / DISC_DIAMETER ** 2
    shade = 0.8 * np.exp(-distance2 / 0.9) + 0.3 * np.exp(-distance2 / 0.05)
    _absorb(photo, region.window, shade, MACULA_TRANSMITTANCE)


def _paint_optic_disc(photo: Picture, disc: Array) -> None:
    """A pale peripapillary halo, the soft-edged yellow-orange disc, its paler cup
    displaced temporally."""
    radius = DISC_DIAMETER / 2
    region = _region(photo.shape[1], (disc[0], disc[1]), 3 * radius)
    dx, dy = region.x - disc[0], (region.y - disc[1]) / DISC_ASPECT
    distance = np.hypot(dx, dy)
    halo = _soft_inside(distance, 1.2 * radius, 0.3 * radius)
    _cover(photo, region.window, 0.12 * halo, DISC_RGB)
    _cover(photo, region.window, 0.85 * _soft_inside(distance, radius, 0.15 * radius), DISC_RGB)
    cup_radius = CUP_TO_DISC * radius
    cup = _soft_inside(np.hypot(dx + 0.12 * radius, dy), cup_radius, 0.7 * cup_radius)
    _cover(photo, region.window, 0.7 * cup, CUP_RGB)


def _illuminate(photo: Picture, rng: np.random.Generator) -> None:
    """Radial fall-off, a gentle tilt of the flash, the aperture's soft edge, sensor grain."""
    size = photo.shape[1]
    region = _region(size)
    r2 = region.x ** 2 + region.y ** 2
    tilt = rng.normal(0, 0.05, 2).astype(np.float32)
    light = (1 - 0.2 * r2 - 0.3 * r2 ** 4) * (1 + tilt[0] * region.x + tilt[1] * region.y)
    light *= _soft_inside(np.sqrt(r2), 1.0, FOV_EDGE)
    grain = rng.standard_normal((size, size), dtype=np.float32) * light
    for channel, strength in zip(photo, (1.5, 1.2, 0.8)):
        channel *= light
        channel += np.float32(strength) * grain


# --- the vessels ------------------------------------------------------------------------


def _anatomy(rng: np.random.Generator, venous_beading: bool) -> _Anatomy:
    """The disc, the fovea and the vessel tree: a vein and an artery along each main path."""
    disc = np.array(DISC_CENTRE) + rng.normal(0, 0.02, 2)
    fovea = disc + np.array(FOVEA_FROM_DISC) * DISC_DIAMETER + rng.normal(0, 0.02, 2)
    vessels: list[_Vessel] = []
    for name, path in MAIN_VESSEL_PATHS.items():
        for is_vein in (True, False):
            control = np.array(path) + rng.normal(0, 0.15 if is_vein else 0.2, (len(path), 2))
            control[0] = path[0]
            width = VEIN_WIDTH[name] * (1 if is_vein else ARTERY_TO_VEIN_WIDTH)
            points = disc + _smooth_path(control) * DISC_DIAMETER
            main = _vessel(points, width * DISC_DIAMETER, is_vein, 0, fovea)
            if main is not None:
                vessels += _with_branches(rng, main, fovea)
    if venous_beading:
        vessels = [_beaded(rng, v) if v.is_vein and v.depth <= 1 else v for v in vessels]
    return _Anatomy(disc, fovea, vessels)


def _arc_length(points: Array) -> Array:
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])


def _smooth_path(control: Array, step: float = 0.03) -> Array:
    """A Catmull-Rom curve through the control points, resampled every ``step``."""
    padded = np.vstack([2 * control[0] - control[1], control, 2 * control[-1] - control[-2]])
    t = np.linspace(0, 1, 12, endpoint=False)[:, np.newaxis]
    pieces = [0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                     + (3 * p1 - p0 - 3 * p2 + p3) * t ** 3)
              for p0, p1, p2, p3 in zip(padded, padded[1:], padded[2:], padded[3:])]
    dense = np.vstack(pieces + [control[-1:]])
    arc = _arc_length(dense)
    stations = np.arange(0.0, arc[-1], step)
    return np.column_stack([np.interp(stations, arc, dense[:, 0]),
                            np.interp(stations, arc, dense[:, 1])])


def _walk(rng: np.random.Generator, start: Array, heading: float, length: float,
          wiggle: float, turn: float = 0.0, step: float = 0.01) -> Array:
    """A smooth random curve of ``length``: its heading turns by ``turn`` rad a step
    plus smoothed noise of ``wiggle`` rad a step."""
    steps = max(2, int(length / step))
    bends = turn + np.convolve(rng.normal(0, wiggle, steps + 9), np.ones(10) / 10, "valid")
    headings = heading + np.cumsum(bends)
    moves = step * np.column_stack([np.cos(headings), np.sin(headings)])
    return start + np.vstack([[0.0, 0.0], np.cumsum(moves, axis=0)])


def _vessel(points: Array, width: float, is_vein: bool, depth: int,
            fovea: Array) -> _Vessel | None:
    """A vessel tapering to 30% of ``width``, cut where it leaves the field or reaches
    the foveal avascular zone; None when too little is left."""
    outside = np.hypot(*points.T) > 1.0
    avascular = np.hypot(*(points - fovea).T) < AVASCULAR_RADIUS * DISC_DIAMETER
    stop = np.flatnonzero(outside | avascular)
    points = points[: stop[0]] if stop.size else points
    if len(points) < 3:
        return None
    return _Vessel(points, np.linspace(width, 0.3 * width, len(points)), is_vein, depth)


def _with_branches(rng: np.random.Generator, parent: _Vessel, fovea: Array) -> list[_Vessel]:
    """The vessel and its branches, recursively, at irregular intervals along it."""
    tree = [parent]
    if parent.depth >= MAX_BRANCH_DEPTH:
        return tree
    arc = _arc_length(parent.points)
    position = rng.uniform(0.5, 1.0) * DISC_DIAMETER
    while position < arc[-1] - 0.2 * DISC_DIAMETER:
        index = int(np.searchsorted(arc, position))
        width = parent.widths[index] * rng.uniform(0.55, 0.8)
        position += rng.uniform(0.4, 0.9) * DISC_DIAMETER
        if width < MIN_VESSEL_WIDTH * DISC_DIAMETER:
            continue
        along = parent.points[index] - parent.points[index - 1]
        heading = np.arctan2(along[1], along[0]) + rng.choice([-1, 1]) * rng.uniform(0.5, 1.0)
        points = _walk(rng, parent.points[index], heading, width * rng.uniform(35, 60),
                       wiggle=0.1)
        child = _vessel(points, width, parent.is_vein, parent.depth + 1, fovea)
        if child is not None:
            tree += _with_branches(rng, child, fovea)
    return tree


def _beaded(rng: np.random.Generator, vein: _Vessel) -> _Vessel:
    """Venous beading: the vein swells and narrows like a string of sausages."""
    arc = _arc_length(vein.points) / DISC_DIAMETER
    phase = arc / rng.uniform(0.2, 0.3) + rng.uniform()
    beads = np.clip(np.sin(2 * np.pi * phase), 0, 1) ** 2
    return _Vessel(vein.points, vein.widths * (0.85 + 0.5 * beads), True, vein.depth)


# --- drawing -------------------------------------------------------------------------


class _Mask:
    """An 8-bit coverage mask, drawn supersampled in field radii."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.scale = FOV_RADIUS * size * SUPERSAMPLE
        self.image = Image.new("L", (size * SUPERSAMPLE, size * SUPERSAMPLE), 0)
        self.draw = ImageDraw.Draw(self.image)

    def _pixels(self, points: Array) -> list[float]:
        """Points as PIL's flat coordinate list, x0, y0, x1, y1, ..."""
        pixels: list[float] = (points * self.scale + self.size * SUPERSAMPLE / 2).ravel().tolist()
        return pixels

    def stroke(self, points: Array, widths: Array, fills: Array | int = 255) -> None:
        """A tapering line, its ``fills`` (0-255) per point: runs of one whole-pixel
        width and one fill, each joined smoothly."""
        pixel_widths = np.maximum(1, np.rint(widths * self.scale)).astype(int)
        pixel_fills = np.broadcast_to(np.rint(fills).astype(int), pixel_widths.shape)
        breaks = np.flatnonzero(np.diff(pixel_widths) | np.diff(pixel_fills)) + 1
        for start, end in zip(np.r_[0, breaks], np.r_[breaks, len(points) - 1]):
            run = self._pixels(points[start: end + 1])
            self.draw.line(run, fill=int(pixel_fills[start]), width=int(pixel_widths[start]),
                           joint="curve")

    def polygon(self, outline: Array, fill: int = 255) -> None:
        self.draw.polygon(self._pixels(outline), fill=fill)

    def apply(self, photo: Picture, transmittance: RGB | None = None,
              colour: RGB | None = None, opacity: float = 1.0, blur: float = EDGE_BLUR) -> None:
        """Absorb light through the mask, or cover with ``colour``, softened by ``blur``
        (field radii); only within the mask's bounding box."""
        small = self.image.reduce(SUPERSAMPLE)
        margin = int(np.ceil(3 * blur * FOV_RADIUS * self.size)) + 1
        box = small.getbbox()
        if box is None:
            return
        left, top = max(0, box[0] - margin), max(0, box[1] - margin)
        right, bottom = min(self.size, box[2] + margin), min(self.size, box[3] + margin)
        window = small.crop((left, top, right, bottom)).filter(
            ImageFilter.GaussianBlur(blur * FOV_RADIUS * self.size))
        coverage = np.asarray(window, dtype=np.float32) * np.float32(opacity / 255)
        rows_and_columns = (slice(top, bottom), slice(left, right))
        if transmittance is not None:
            _absorb(photo, rows_and_columns, coverage, transmittance)
        if colour is not None:
            _cover(photo, rows_and_columns, coverage, colour)


def _vessel_opacity(widths: Array) -> Array:
    """Coverage (0-255) of a vessel as wide as ``widths``: thin ones hold less blood."""
    return 255 * np.clip(0.45 + 0.55 * widths / (0.045 * DISC_DIAMETER), 0, 1)


def _draw_vessels(photo: Picture, vessels: list[_Vessel]) -> None:
    """Veins, then the arteries over them, with the larger arteries' light reflex."""
    size = photo.shape[1]
    for is_vein, transmittance in ((True, VEIN_TRANSMITTANCE), (False, ARTERY_TRANSMITTANCE)):
        mask = _Mask(size)
        for vessel in vessels:
            if vessel.is_vein == is_vein:
                mask.stroke(vessel.points, vessel.widths, _vessel_opacity(vessel.widths))
        mask.apply(photo, transmittance=transmittance, blur=1.6 * EDGE_BLUR)
    reflex = _Mask(size)
    for artery in vessels:
        if not artery.is_vein and artery.depth == 0:
            reflex.stroke(artery.points, 0.25 * artery.widths)
    reflex.apply(photo, colour=ARTERY_REFLEX_RGB, opacity=0.3, blur=EDGE_BLUR)


# --- the lesions ------------------------------------------------------------------------


def _lesion_counts(rng: np.random.Generator, plan: LesionPlan) -> dict[str, int]:
    """How many of each lesion this picture draws, within the plan's ranges (as many
    draws whatever the plan, so that the lesions after them match between grades)."""
    ranges = {"microaneurysms": plan.microaneurysms,
              "haemorrhages_per_quadrant": plan.haemorrhages_per_quadrant,
              "exudate_clusters": plan.exudate_clusters,
              "cotton_wool_spots": plan.cotton_wool_spots,
              "new_vessel_tufts": plan.new_vessel_tufts}
    fractions = rng.uniform(size=len(ranges))
    return {name: low + int(fraction * (high - low + 1))
            for (name, (low, high)), fraction in zip(ranges.items(), fractions)}


def _paint_deep_lesions(photo: Picture, rng: np.random.Generator, counts: dict[str, int],
                        anatomy: _Anatomy) -> None:
    """What lies behind the vessels: intraretinal blood, then lipid."""
    size = photo.shape[1]
    blood = _Mask(size)
    _draw_microaneurysms(blood, rng, counts["microaneurysms"], anatomy)
    _draw_haemorrhages(blood, rng, counts["haemorrhages_per_quadrant"], anatomy)
    blood.apply(photo, transmittance=HAEMORRHAGE_TRANSMITTANCE, blur=2.5 * EDGE_BLUR)
    lipid = _Mask(size)
    _draw_exudates(lipid, rng, counts["exudate_clusters"], anatomy)
    lipid.apply(photo, colour=EXUDATE_RGB, opacity=0.95)


def _paint_superficial_lesions(photo: Picture, rng: np.random.Generator,
                               counts: dict[str, int], plan: LesionPlan,
                               anatomy: _Anatomy) -> None:
    """What lies on or in front of the vessels: cotton wool in the nerve fibre layer,
    new vessels, preretinal blood."""
    size = photo.shape[1]
    cotton = _Mask(size)
    _draw_cotton_wool(cotton, rng, counts["cotton_wool_spots"], anatomy)
    cotton.apply(photo, colour=COTTON_WOOL_RGB, opacity=0.8, blur=6 * EDGE_BLUR)
    new_vessels = _Mask(size)
    _draw_new_vessels(new_vessels, rng, counts["new_vessel_tufts"], anatomy)
    new_vessels.apply(photo, transmittance=NEW_VESSEL_TRANSMITTANCE, blur=0.6 * EDGE_BLUR)
    if rng.uniform() < plan.preretinal_chance:
        pool = _Mask(size)
        _draw_preretinal_haemorrhage(pool, rng, anatomy)
        pool.apply(photo, transmittance=PRERETINAL_TRANSMITTANCE, blur=4 * EDGE_BLUR)


def _blob(rng: np.random.Generator, centre: Array, radius: float, roughness: float = 0.15,
          elongation: float = 1.0, angle: float = 0.0) -> Array:
    """An irregular closed outline: a rotated ellipse with a randomly wavy radius."""
    theta = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    wave = sum(rng.normal(0, roughness / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
               for k in (2, 3, 5))
    r = radius * (1 + wave)
    local = np.column_stack([elongation * r * np.cos(theta), r * np.sin(theta) / elongation])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return centre + local @ rotation.T


def _off_disc(points: Array, anatomy: _Anatomy) -> npt.NDArray[np.bool_]:
    return ((np.hypot(*points.T) < 0.9)
            & (np.hypot(*(points - anatomy.disc).T) > 0.8 * DISC_DIAMETER))


def _scatter(rng: np.random.Generator, count: int, centre: Array, spread: Array,
             anatomy: _Anatomy) -> Array:
    """``count`` points normally scattered around ``centre``, inside the field, off the disc."""
    found = np.empty((0, 2))
    while len(found) < count:
        points = centre + rng.normal(0, 1, (2 * count, 2)) * spread
        found = np.vstack([found, points[_off_disc(points, anatomy)]])
    return found[:count]


def _quadrant_points(rng: np.random.Generator, per_quadrant: int,
                     anatomy: _Anatomy) -> Iterator[Array]:
    """``per_quadrant`` points in each quadrant around the middle of disc and fovea."""
    middle = (anatomy.disc + anatomy.fovea) / 2
    for quadrant in range(4):
        found = 0
        while found < per_quadrant:
            angle = (quadrant + rng.uniform()) * np.pi / 2
            point = middle + rng.uniform(0.15, 0.85) * np.array([np.cos(angle), np.sin(angle)])
            if _off_disc(point[np.newaxis], anatomy)[0]:
                found += 1
                yield point


def _draw_microaneurysms(mask: _Mask, rng: np.random.Generator, count: int,
                         anatomy: _Anatomy) -> None:
    """Tiny round dark-red dots, mostly in the posterior pole around the macula."""
    spread = np.array([1.6, 1.3]) * DISC_DIAMETER
    for centre in _scatter(rng, count, anatomy.fovea, spread, anatomy):
        mask.polygon(_blob(rng, centre, rng.uniform(0.02, 0.035) * DISC_DIAMETER, 0.05))


def _draw_haemorrhages(mask: _Mask, rng: np.random.Generator, per_quadrant: int,
                       anatomy: _Anatomy) -> None:
    """Dot and blot haemorrhages, and flame-shaped ones along the nerve fibres."""
    for centre in _quadrant_points(rng, per_quadrant, anatomy):
        kind, fill = rng.uniform(), int(rng.integers(200, 256))
        if kind < 0.2:  # flame: drawn out along the nerve fibres, which radiate from the disc
            away = centre - anatomy.disc
            mask.polygon(_blob(rng, centre, rng.uniform(0.06, 0.1) * DISC_DIAMETER, 0.1,
                               elongation=2.0, angle=float(np.arctan2(away[1], away[0]))), fill)
            continue
        is_blot = kind > 0.6
        radius = (0.09 if is_blot else 0.045) * DISC_DIAMETER * rng.uniform(0.8, 1.4)
        for _ in range(3 if is_blot else 1):  # a blot: a few merged lobes, unevenly dark
            lobe = centre + rng.normal(0, 0.45 * radius, 2)
            mask.polygon(_blob(rng, lobe, radius * rng.uniform(0.6, 1.0), 0.25),
                         fill - int(rng.integers(0, 40)))


def _draw_exudates(mask: _Mask, rng: np.random.Generator, clusters: int,
                   anatomy: _Anatomy) -> None:
    """Waxy yellow flecks in clumps or circinate rings near the macula."""
    spread = np.array([1.0, 0.8]) * DISC_DIAMETER
    for centre in _scatter(rng, clusters, anatomy.fovea, spread, anatomy):
        flecks = int(rng.integers(10, 24))
        if rng.uniform() < 0.5:  # a circinate ring around a leaking point
            angles = rng.uniform(0, 1.5 * np.pi, flecks) + rng.uniform(0, 2 * np.pi)
            radii = rng.uniform(0.4, 0.7) * DISC_DIAMETER * rng.normal(1, 0.08, flecks)
            points = centre + np.column_stack([np.cos(angles), np.sin(angles)]) * radii[:, None]
        else:
            points = centre + rng.normal(0, 0.2 * DISC_DIAMETER, (flecks, 2))
        for point in points:
            mask.polygon(_blob(rng, point, rng.uniform(0.012, 0.045) * DISC_DIAMETER, 0.3,
                               elongation=rng.uniform(1, 1.3), angle=rng.uniform(0, np.pi)))


def _draw_cotton_wool(mask: _Mask, rng: np.random.Generator, count: int,
                      anatomy: _Anatomy) -> None:
    """Pale fluffy patches beside the arcades, drawn out along them."""
    veins = anatomy.main_veins
    for _ in range(count):
        vein = veins[int(rng.integers(len(veins)))]
        index = int(rng.integers(2, max(3, len(vein.points) * 2 // 3)))
        along = vein.points[index] - vein.points[index - 1]
        angle = float(np.arctan2(along[1], along[0]))
        normal = np.array([-np.sin(angle), np.cos(angle)])
        centre = vein.points[index] + normal * rng.normal(0, 0.25) * DISC_DIAMETER
        for _ in range(3):  # fluffy: a few overlapping tufts of varying density
            tuft = centre + rng.normal(0, 0.05 * DISC_DIAMETER, 2)
            mask.polygon(_blob(rng, tuft, rng.uniform(0.09, 0.16) * DISC_DIAMETER, 0.25,
                               elongation=rng.uniform(1.2, 1.6), angle=angle),
                         int(rng.integers(120, 200)))


def _draw_new_vessels(mask: _Mask, rng: np.random.Generator, tufts: int,
                      anatomy: _Anatomy) -> None:
    """Neovascularisation: fine tangled loops at the disc (NVD), then elsewhere (NVE)."""
    veins = anatomy.main_veins
    for tuft in range(tufts):
        if tuft == 0:
            centre, reach = anatomy.disc, 0.6 * DISC_DIAMETER
        else:
            vein = veins[int(rng.integers(len(veins)))]
            centre = vein.points[int(rng.integers(len(vein.points) // 3, len(vein.points)))]
            reach = 0.4 * DISC_DIAMETER
        for _ in range(int(rng.integers(25, 40))):
            start = centre + rng.normal(0, 0.4 * reach, 2)
            turn = rng.choice([-1, 1]) * rng.uniform(0.03, 0.1)
            loop = _walk(rng, start, rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.8) * reach,
                         wiggle=0.25, turn=turn, step=0.003)
            mask.stroke(loop, np.full(len(loop), 0.008 * DISC_DIAMETER), 210)


def _draw_preretinal_haemorrhage(mask: _Mask, rng: np.random.Generator,
                                 anatomy: _Anatomy) -> None:
    """A boat-shaped pool of blood in front of the retina, below the disc by the inferior
    arcade: its top is level (the red cells settle), its bottom rounded."""
    half_width = rng.uniform(0.35, 0.55) * DISC_DIAMETER
    depth = half_width * rng.uniform(0.6, 0.9)
    top = anatomy.disc + np.array([rng.uniform(-1.6, -0.6), rng.uniform(1.0, 1.5)]) * DISC_DIAMETER
    theta = np.linspace(0, np.pi, 24)
    for level, fill in ((0.0, 150), (0.45, 255)):  # the settled cells darkest at the bottom
        bottom = np.column_stack([half_width * np.cos(theta), depth * np.sin(theta)])
        mask.polygon(top + bottom[bottom[:, 1] >= level * depth], fill)
