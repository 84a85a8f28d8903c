"""The EMR as a DICOM peer: photographs from the PACS by C-GET, documents to it by C-STORE.

The EMR calls the PACS under its own AE title (``[nodes.emr]`` of the network
file, :attr:`emr.config.EmrConfig.dicom`) and listens on no port: C-GET
(PS3.4 C.4.3) brings the instances back on the association that asked for
them.

Photographs (Ophthalmic Photography and Secondary Capture instances) are kept
in a disk cache under ``<data_dir>/photographs``, one DICOM file per SOP
Instance UID, limited to :attr:`~emr.config.EmrConfig.image_cache_mb`; the
least recently used go first. A photograph in the cache is never fetched
again. :func:`photograph_image` serves one as a browser shows it: a JPEG
Baseline frame as it was stored, any other pixel data rendered to PNG (kept
beside the DICOM file, under the same limit).

Errors::

    PeerError (imaging_common)   the PACS is not configured, refused or did not answer
    NotFound (emr.exceptions)    the PACS has no such photograph in that study
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.errors import InvalidDicomError
from pydicom.uid import JPEGBaseline8Bit, OphthalmicPhotography8BitImageStorage
from pydicom.uid import SecondaryCaptureImageStorage

from emr.config import EmrConfig
from emr.exceptions import NotFound
from imaging_common import store_scu
from imaging_common.dimse import make_ae
from imaging_common.exceptions import PeerError
from imaging_common.logs import get_logger
from imaging_common.retrieve_scu import get_study
from imaging_common.settings import Settings

__all__ = ["JPEG", "PHOTOGRAPH_CLASSES", "PNG", "PhotographCache", "fetch_photographs",
           "photograph_cache", "photograph_image", "render_png", "store_instances"]

log = get_logger(__name__)

#: What a fundus photograph in the PACS can be (PS3.4 B.5).
PHOTOGRAPH_CLASSES = (OphthalmicPhotography8BitImageStorage, SecondaryCaptureImageStorage)
#: The media types :func:`photograph_image` answers with.
JPEG, PNG = "image/jpeg", "image/png"
#: The cache's folder under the EMR's data folder.
CACHE_FOLDER = "photographs"
#: A UID (PS3.5 9.1): digits and dots only, so it is a safe file name.
_UID = re.compile(r"^[0-9][0-9.]{0,63}$")


def _peer(config: EmrConfig) -> Settings:
    if config.dicom is None:
        raise PeerError("the EMR has no AE title in the network file: it calls no PACS")
    return config.dicom


def store_instances(config: EmrConfig, datasets: Sequence[Dataset]) -> None:
    """C-STORE ``datasets`` (each with its file meta) to the PACS, over one association.

    Raises:
        PeerError: the PACS could not be reached, or did not keep every instance
            (Success or a Warning status, PS3.4 B.2.3).
    """
    settings = _peer(config)
    pacs = settings.network.node("pacs")
    outcomes = store_scu.store_instances(make_ae(settings), pacs, datasets)
    refused = [o for o in outcomes if not o.kept]
    for outcome in outcomes:
        log.info("instance sent", peer=pacs.ae_title, sop_instance_uid=outcome.sop_instance_uid,
                 status=outcome.describe())
    if refused:
        raise PeerError(f"{pacs.ae_title} did not keep {len(refused)} of {len(outcomes)} "
                        f"instances: {refused[0].describe()}")


@dataclass(frozen=True)
class PhotographCache:
    """Photographs fetched from the PACS, on disk, at most ``limit_bytes`` in all.

    One ``<SOP Instance UID>.dcm`` file per photograph, and the PNG rendered of
    it (``.png``) where it is not JPEG Baseline. A file's modification time is
    its last use; :meth:`evict` removes the least recently used photographs
    (with their renderings) until the folder fits the limit.
    """

    folder: Path
    limit_bytes: int

    def path(self, sop_instance_uid: str, suffix: str = ".dcm") -> Path:
        """The file of one photograph; raises NotFound on a value that is no UID."""
        if not _UID.match(sop_instance_uid):
            raise NotFound("no such photograph")
        return self.folder / f"{sop_instance_uid}{suffix}"

    def has(self, sop_instance_uid: str) -> bool:
        """Whether the photograph is in the cache."""
        return self.path(sop_instance_uid).is_file()

    def put(self, ds: Dataset) -> None:
        """Write ``ds`` (with its file meta) as the photograph of its SOP Instance UID."""
        self._write(self.path(str(ds.SOPInstanceUID)), lambda handle: ds.save_as(
            handle, enforce_file_format=True))

    def put_rendering(self, sop_instance_uid: str, data: bytes) -> None:
        """Keep the PNG rendered of a photograph."""
        self._write(self.path(sop_instance_uid, ".png"), lambda handle: handle.write(data))

    def _write(self, path: Path, write: Callable[[BinaryIO], object]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                write(handle)
            os.replace(name, path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    def touch(self, path: Path) -> None:
        """Mark a file as just used."""
        try:
            os.utime(path)
        except FileNotFoundError:
            pass

    def evict(self, keep: Iterable[str] = ()) -> list[str]:
        """Remove the least recently used photographs until the cache fits its limit.

        Photographs named in ``keep`` stay even if the cache is then over its
        limit (the page being built needs them). Returns the SOP Instance UIDs
        removed.
        """
        entries: dict[str, list[tuple[Path, float, int]]] = {}
        for path in self.folder.glob("*.*"):
            if path.suffix not in (".dcm", ".png"):
                continue  # a file being written
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            entries.setdefault(path.stem, []).append((path, stat.st_mtime, stat.st_size))
        total = sum(size for files in entries.values() for _, _, size in files)
        kept = set(keep)
        removed = []
        by_use = sorted(entries.items(), key=lambda item: max(m for _, m, _ in item[1]))
        for uid, files in by_use:
            if total <= self.limit_bytes:
                break
            if uid in kept:
                continue
            for path, _, size in files:
                path.unlink(missing_ok=True)
                total -= size
            removed.append(uid)
        return removed


def photograph_cache(config: EmrConfig) -> PhotographCache:
    """The EMR's photograph cache, as its configuration sets it."""
    return PhotographCache(Path(config.data_dir) / CACHE_FOLDER,
                           config.image_cache_mb * 1024 * 1024)


def fetch_photographs(config: EmrConfig, study_instance_uid: str,
                      sop_instance_uids: Iterable[str] | None = None) -> tuple[str, ...]:
    """Bring a study's photographs into the cache by C-GET; return those now cached.

    Args:
        config: the EMR's configuration (its AE title and the PACS node).
        study_instance_uid: the order's Study Instance UID (0020,000D).
        sop_instance_uids: the photographs wanted; ``None``: every photograph
            of the study. When every one wanted is cached already, the PACS is
            not called; otherwise the study's photographs are retrieved, and
            only those wanted and not yet cached are written.

    Returns:
        The SOP Instance UIDs wanted (all received ones when ``None``) that
        are in the cache.

    Raises:
        PeerError: the PACS could not be reached or answered with a failure.
    """
    cache = photograph_cache(config)
    wanted = None if sop_instance_uids is None else set(sop_instance_uids)
    if wanted is not None and all(cache.has(uid) for uid in wanted):
        for uid in wanted:
            cache.touch(cache.path(uid))
        return tuple(sorted(wanted))
    settings = _peer(config)
    pacs = settings.network.node("pacs")
    received: set[str] = set()

    def keep(ds: Dataset) -> bool:
        uid = str(ds.SOPInstanceUID)
        if str(ds.get("StudyInstanceUID", "")) != study_instance_uid:
            return False
        if (wanted is None or uid in wanted) and not cache.has(uid):
            cache.put(ds)
        received.add(uid)
        return True  # another instance of the study: acknowledged, not kept

    result = get_study(make_ae(settings), pacs, study_instance_uid, PHOTOGRAPH_CLASSES, keep)
    log.info("photographs retrieved", peer=pacs.ae_title, study_instance_uid=study_instance_uid,
             received=result.received, refused=result.refused)
    names = received if wanted is None else wanted
    cache.evict(keep=names)
    return tuple(sorted(uid for uid in names if cache.has(uid)))


def photograph_image(config: EmrConfig, study_instance_uid: str,
                     sop_instance_uid: str) -> tuple[bytes, str]:
    """One photograph as a browser or a PDF shows it: ``(bytes, media type)``.

    A JPEG Baseline (Process 1) photograph is its encapsulated frame, byte for
    byte as the camera wrote it (PS3.5 A.4, less the even-length padding); any
    other is decoded and rendered to PNG, 8-bit RGB or greyscale. The
    photograph is fetched from the PACS when it is not cached.

    Raises:
        NotFound: the study in the PACS has no such photograph.
        PeerError: the PACS could not be reached or answered with a failure.
    """
    cache = photograph_cache(config)
    path = cache.path(sop_instance_uid)
    if not path.is_file():
        fetch_photographs(config, study_instance_uid, [sop_instance_uid])
    try:
        ds = dcmread(path)
    except (FileNotFoundError, InvalidDicomError):
        raise NotFound("the PACS has no such photograph in this study") from None
    if str(ds.get("StudyInstanceUID", "")) != study_instance_uid:
        raise NotFound("the photograph is not of this study")
    cache.touch(path)
    if ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit and _frames(ds) == 1:
        return _unpadded(next(generate_frames(ds.PixelData, number_of_frames=1))), JPEG
    rendering = cache.path(sop_instance_uid, ".png")
    if rendering.is_file():
        cache.touch(rendering)
        return rendering.read_bytes(), PNG
    data = render_png(ds)
    cache.put_rendering(sop_instance_uid, data)
    cache.evict(keep=[sop_instance_uid])
    return data, PNG


def _unpadded(frame: bytes) -> bytes:
    """The JPEG stream without the byte that evened its length (PS3.5 A.4: a fragment
    has an even length; a stream ending in EOI, FFD9, may be followed by one 00)."""
    return frame[:-1] if frame.endswith(b"\xff\xd9\x00") else frame


def _frames(ds: Dataset) -> int:
    return int(ds.get("NumberOfFrames", 1) or 1)


def render_png(ds: Dataset) -> bytes:
    """The first frame of an image as an 8-bit PNG.

    pydicom hands YCbCr pixel data (YBR_FULL, YBR_FULL_422) over as RGB.
    """
    pixels = ds.pixel_array
    if _frames(ds) > 1:
        pixels = pixels[0]
    photometric = str(ds.get("PhotometricInterpretation", ""))
    bits = int(ds.get("BitsStored", 8))
    if bits > 8:
        pixels = np.right_shift(pixels, bits - 8)
    if photometric == "MONOCHROME1":
        pixels = np.iinfo(np.uint8).max - pixels
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, np.uint8)).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()
