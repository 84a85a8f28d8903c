"""Encoded datasets: Part 10 framing, checks pydicom's lenient reader does not
make, and the change from Big Endian to little endian.

pydicom reads a truncated byte string without complaint: it returns the
elements it found and a short last value. An archive must refuse such a
dataset, so :func:`check_complete` walks the element structure (PS3.5 7.1)
and confirms that every length fits and the data end on an element boundary.

An instance received in Explicit VR Big Endian is kept so; a peer that did not
accept that retired syntax gets it through :func:`to_little_endian`.
"""

from __future__ import annotations

import struct

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian

from imaging_common.exceptions import DicomInputError
from imaging_common.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

__all__ = ["check_complete", "dataset_offset", "part10", "to_little_endian"]

# VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 7.1.2).
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
# Pixel Data, Float Pixel Data, Double Float Pixel Data.
_PIXEL_DATA_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})


def dataset_offset(encoded: bytes) -> int:
    """Return where the dataset starts in a Part 10 byte string (PS3.10 7.1).

    Raises:
        DicomInputError: no preamble and group length where they must be.
    """
    if encoded[128:132] != b"DICM" or encoded[132:136] != b"\x02\x00\x00\x00":
        raise DicomInputError("the file meta information is missing or malformed")
    (group_length,) = struct.unpack_from("<I", encoded, 140)
    return 144 + group_length


def _meta_element(group_element: int, vr: bytes, value: bytes) -> bytes:
    """One explicit VR little endian file meta element (PS3.10 7.1)."""
    tag = struct.pack("<HH", 0x0002, group_element)
    if vr == b"OB":
        return tag + vr + b"\x00\x00" + struct.pack("<I", len(value)) + value
    return tag + vr + struct.pack("<H", len(value)) + value


def _padded(text: str, pad: bytes) -> bytes:
    try:
        value = text.encode("ascii")
    except UnicodeEncodeError:
        raise DicomInputError(f"not an ASCII identifier: {text!r}") from None
    return value + pad if len(value) % 2 else value


def part10(dataset: bytes, sop_class_uid: str, sop_instance_uid: str,
           transfer_syntax_uid: str, source_ae_title: str) -> bytes:
    """Frame an encoded dataset as a DICOM file: preamble, prefix, file meta.

    The file meta information (PS3.10 7.1) names this implementation and
    ``source_ae_title``, the AE that sent the dataset.

    Raises:
        DicomInputError: a UID or the AE title is not ASCII.
    """
    elements = b"".join((
        _meta_element(0x0001, b"OB", b"\x00\x01"),
        _meta_element(0x0002, b"UI", _padded(sop_class_uid, b"\x00")),
        _meta_element(0x0003, b"UI", _padded(sop_instance_uid, b"\x00")),
        _meta_element(0x0010, b"UI", _padded(transfer_syntax_uid, b"\x00")),
        _meta_element(0x0012, b"UI", _padded(IMPLEMENTATION_CLASS_UID, b"\x00")),
        _meta_element(0x0013, b"SH", _padded(IMPLEMENTATION_VERSION_NAME, b" ")),
        _meta_element(0x0016, b"AE", _padded(source_ae_title.strip(), b" ")),
    ))
    group_length = _meta_element(0x0000, b"UL", struct.pack("<I", len(elements)))
    return b"".join((b"\x00" * 128, b"DICM", group_length, elements, dataset))


class _Walker:
    def __init__(self, data: bytes, implicit: bool, big_endian: bool = False) -> None:
        self.data = data
        self.implicit = implicit
        self.order = ">" if big_endian else "<"
        self.has_pixel_data = False

    def fail(self, offset: int) -> DicomInputError:
        return DicomInputError(f"the dataset is truncated or malformed at byte {offset}")

    def header(self, offset: int) -> tuple[int, bytes | None, int, int]:
        """Return (tag, VR, value length, value offset) of the element at ``offset``."""
        if offset + 8 > len(self.data):
            raise self.fail(offset)
        group, element = struct.unpack_from(self.order + "HH", self.data, offset)
        tag = group << 16 | element
        if self.implicit or group == 0xFFFE:
            (length,) = struct.unpack_from(self.order + "I", self.data, offset + 4)
            return tag, None, length, offset + 8
        vr = self.data[offset + 4:offset + 6]
        if vr in _LONG_VRS:
            if offset + 12 > len(self.data):
                raise self.fail(offset)
            (length,) = struct.unpack_from(self.order + "I", self.data, offset + 8)
            return tag, vr, length, offset + 12
        (length,) = struct.unpack_from(self.order + "H", self.data, offset + 6)
        return tag, vr, length, offset + 8

    def dataset(self, offset: int, end: int | None) -> int:
        """Walk elements until ``end`` or an item delimiter; return the end offset."""
        limit = len(self.data) if end is None else end
        while offset < limit:
            tag, vr, length, value = self.header(offset)
            if end is not None and tag in _PIXEL_DATA_TAGS:
                self.has_pixel_data = True
            if tag == _ITEM_END:
                if end is not None:
                    raise self.fail(offset)
                return value
            if length == _UNDEFINED:
                offset = self.items(value)
            else:
                offset = value + length
                if offset > limit:
                    raise self.fail(value)
        if end is None:
            raise self.fail(offset)  # an undefined-length item never ended
        return offset

    def items(self, offset: int) -> int:
        """Walk the items of an undefined-length sequence or pixel data."""
        while True:
            tag, _, length, value = self.header(offset)
            if tag == _SEQUENCE_END:
                return value
            if tag != _ITEM:
                raise self.fail(offset)
            if length == _UNDEFINED:
                offset = self.dataset(value, None)
            else:
                offset = value + length
                if offset > len(self.data):
                    raise self.fail(value)


def check_complete(encoded: bytes, implicit: bool, deflated: bool = False,
                   big_endian: bool = False) -> bool | None:
    """Raise :class:`DicomInputError` unless the Part 10 bytes are whole.

    ``implicit``, ``deflated`` and ``big_endian`` describe the dataset's
    transfer syntax (the file meta information is always explicit VR little
    endian).

    A cut that falls exactly between two elements leaves a well-formed but
    shorter dataset; the caller catches it by what it lacks, for which the
    return value helps: whether the top level holds pixel data (``None`` for
    a deflated dataset, which is not walked: its structure is only visible
    inflated).
    """
    start = dataset_offset(encoded)
    if deflated:
        return None
    walker = _Walker(encoded, implicit, big_endian)
    end = walker.dataset(start, len(encoded))
    if end != len(encoded):
        raise walker.fail(end)
    return walker.has_pixel_data


#: Bytes per word of the VRs whose values pydicom keeps as encoded bytes, in
#: the byte order of the transfer syntax (PS3.5 6.2, 7.3). OB has none; UN has
#: one nobody knows, and is left as it is. OW is a stream of 16-bit words
#: whatever it holds, 32-bit pixel cells included, as DCMTK encodes them.
_WORD_SIZES = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def _swapped(value: bytes, size: int) -> bytes:
    whole = len(value) - len(value) % size
    words = np.frombuffer(value, dtype=f">u{size}", count=whole // size)
    return words.astype(f"<u{size}").tobytes() + value[whole:]


def _swap_words(dataset: Dataset) -> None:
    for element in dataset:  # converts each raw element, decoding numbers big endian
        if element.VR == "SQ":
            for item in element.value:
                _swap_words(item)
            continue
        size = _WORD_SIZES.get(element.VR)
        if size is None or not element.value or element.is_undefined_length:
            continue
        element.value = _swapped(element.value, size)
    dataset.set_original_encoding(False, True)


def to_little_endian(dataset: Dataset) -> None:
    """Turn a dataset read as Explicit VR Big Endian into Explicit VR Little Endian.

    Losslessly, in place: numbers, tags and text are decoded by pydicom and
    encoded again by whoever writes the dataset; the values pydicom keeps as
    bytes (OW, OF, OL, OD, OV: native pixel data, waveforms, overlays, LUTs)
    are byte-swapped here, word by word, which pydicom leaves to its caller. Big Endian
    pixel data are never encapsulated (PS3.5 A.3).

    Raises:
        ValueError: the dataset's Transfer Syntax UID is not Explicit VR Big Endian.
    """
    if dataset.file_meta.get("TransferSyntaxUID") != ExplicitVRBigEndian:
        raise ValueError("the dataset is not Explicit VR Big Endian")
    _swap_words(dataset)
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
