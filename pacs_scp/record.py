"""From a received dataset to the index record: one pass over its elements.

Every non-bulk, non-private top-level attribute becomes DICOM JSON in the
attributes of its level; the attributes the index keeps in columns are taken
from that JSON as text. This module knows DICOM datasets only.

What cannot be read is not a reason to refuse what was sent (the file is kept
as received): text that does not decode in its Specific Character Set is
indexed as far as it reads, with replacement characters, and an element whose
value cannot be parsed (a binary value whose length is not a multiple of its
size, say) is left out of the index. Only an unreadable attribute the index
needs in a column refuses the instance (:class:`UnreadableAttributeError`).
Each case is logged by tag, never by value.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from pydicom.charset import python_encoding
from pydicom.datadict import DicomDictionary, dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException
from pydicom.tag import BaseTag, Tag

from imaging_common.dicom_json import encoding_of, raw_element_json
from imaging_common.exceptions import DicomInputError
from imaging_common.levels import Level, level_of_tag
from imaging_common.logs import get_logger
from imaging_common.uids import validate_uid

__all__ = [
    "BULK_VRS",
    "INDEXED_KEYWORDS",
    "InstanceRecord",
    "MAX_INDEXED_LENGTH",
    "UnreadableAttributeError",
    "record_from_dataset",
]

log = get_logger(__name__)

#: VRs whose values are bulk data, never kept in the index.
BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
#: Longest value kept in the index's attribute JSON (bytes of the string form).
MAX_INDEXED_LENGTH = 1024


@dataclass(frozen=True)
class InstanceRecord:
    """What the index keeps of one instance, grouped by level."""

    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    values: dict[str, str]
    attributes: dict[Level, dict[str, Any]]


#: Attributes whose values the index keeps in columns (and the UIDs it checks).
INDEXED_KEYWORDS = (
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
    "PatientID", "IssuerOfPatientID", "PatientName", "PatientBirthDate",
    "PatientSex", "StudyDate", "StudyTime", "AccessionNumber", "StudyID",
    "StudyDescription", "ReferringPhysicianName", "Modality",
    "SeriesNumber", "SeriesDescription", "SeriesDate", "Laterality",
    "ImageLaterality", "InstanceNumber",
)
#: Text VRs whose values can be long; longer ones stay out of the index.
_LONG_TEXT_VRS = frozenset({"LT", "ST", "UT", "UC", "UR"})
#: More values than this and an attribute stays out of the index.
MAX_INDEXED_VM = 64
_INDEXED_TAGS = {Tag(keyword): keyword for keyword in INDEXED_KEYWORDS}
_SKIPPED_TAGS = frozenset(Tag(keyword) for keyword in ("IconImageSequence",
                                                       "SpecificCharacterSet"))


_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
#: What pydicom raises converting a malformed value: a binary value whose
#: length is not a multiple of its size, a number that is not one.
_UNREADABLE = (BytesLengthException, struct.error, ValueError, TypeError, OverflowError,
               LookupError)
#: What pydicom puts in place of bytes its codecs cannot decode.
_REPLACEMENT = "\ufffd"


class UnreadableAttributeError(DicomInputError):
    """An attribute the index keeps in a column cannot be read from its bytes."""

    def __init__(self, keyword: str, tag: BaseTag) -> None:
        super().__init__(f"{keyword} {_tag_text(tag)} cannot be read")
        self.keyword = keyword


@dataclass
class _Unread:
    """Tags of what could not be read, for one log line per instance."""

    undecoded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _tag_text(tag: BaseTag) -> str:
    return f"({tag.group:04X},{tag.element:04X})"


def _unknown_terms(specific_character_set: Any) -> list[str]:
    """Terms of (0008,0005) pydicom does not know; their text is read as ASCII/Latin-1."""
    if not specific_character_set:
        return []
    terms = ([specific_character_set] if isinstance(specific_character_set, str)
             else list(specific_character_set))
    return [str(term) for term in terms if str(term).strip() not in python_encoding]


def _is_undecoded(element: dict[str, Any]) -> bool:
    """Whether pydicom decoded a text value with replacement characters."""
    for value in element.get("Value") or ():
        texts = value.values() if isinstance(value, dict) else (value,)
        if any(isinstance(text, str) and _REPLACEMENT in text for text in texts):
            return True
    return False


def _text_of_json(element: dict[str, Any]) -> str:
    """The index column text of an element's DICOM JSON (PN groups rejoined)."""
    values = element.get("Value")
    if not values:
        return ""
    if element["vr"] == "PN":
        return "\\".join("=".join(v[k] for k in _PN_GROUPS if k in v) for v in values)
    return "\\".join(str(v) for v in values).strip()


def _no_bulk_data(element: Any) -> str:
    return ""


def _fast_json(dataset: Dataset, tag: BaseTag, codec: str | None,
               unread: _Unread) -> dict[str, Any] | None:
    """DICOM JSON of a still-encoded element, or None if pydicom must convert it.

    A sequence is parsed by pydicom into items whose elements are again read
    here, so that only the few unusual elements go through pydicom's objects.
    """
    raw = dataset.get_item(tag)
    if not isinstance(raw, RawDataElement) or not raw.is_little_endian or raw.value is None:
        return None
    vr = raw.VR
    if not vr:  # implicit VR: from the data dictionary, where it is unambiguous
        vr = dictionary_VR(tag) if tag in DicomDictionary else None
    if vr == "SQ":
        items = dataset[tag].value
        return {"vr": "SQ", "Value": [_item_json(item, codec, unread) for item in items]}
    if vr is None or vr in BULK_VRS or " " in vr:
        return None
    if codec is None and vr in ("LO", "LT", "PN", "SH", "ST", "UC", "UT"):
        return None
    return raw_element_json(vr, raw.value, codec or "latin_1")


def _item_json(item: Dataset, codec: str | None, unread: _Unread) -> dict[str, Any]:
    """DICOM JSON of a sequence item, as pydicom's ``Dataset.to_json_dict`` gives it.

    An element that cannot be read is left out of the item.
    """
    result = {}
    for tag in list(item.keys()):
        try:
            element = _fast_json(item, tag, codec, unread)
            if element is None:
                element = item[tag].to_json_dict(
                    bulk_data_element_handler=_no_bulk_data,
                    bulk_data_threshold=MAX_INDEXED_LENGTH,
                )
                if _is_undecoded(element):
                    unread.undecoded.append(_tag_text(tag))
        except _UNREADABLE:
            unread.skipped.append(_tag_text(tag))
            continue
        result[f"{tag:08X}"] = element
    return result


def _slow_json(dataset: Dataset, tag: BaseTag, unread: _Unread) -> dict[str, Any] | None:
    """DICOM JSON through pydicom; None for bulk data and oversized values."""
    element = dataset[tag]
    if element.VR in BULK_VRS or element.VM > MAX_INDEXED_VM or (
        element.VR in _LONG_TEXT_VRS and len(element.value or "") > MAX_INDEXED_LENGTH
    ):
        return None
    result: dict[str, Any] = element.to_json_dict(
        bulk_data_element_handler=_no_bulk_data, bulk_data_threshold=MAX_INDEXED_LENGTH
    )
    if _is_undecoded(result):
        unread.undecoded.append(_tag_text(tag))
    return result


def _element_json(dataset: Dataset, tag: BaseTag, codec: str | None,
                  unread: _Unread) -> dict[str, Any] | None:
    """The indexed DICOM JSON of a top-level element; None if it is not indexed.

    Raises:
        UnreadableAttributeError: an attribute kept in a column cannot be read.
    """
    try:
        element = _fast_json(dataset, tag, codec, unread)
        if element is None:
            return _slow_json(dataset, tag, unread)
    except _UNREADABLE:
        if tag in _INDEXED_TAGS:
            raise UnreadableAttributeError(_INDEXED_TAGS[tag], tag) from None
        unread.skipped.append(_tag_text(tag))
        return None
    if len(element.get("Value", ())) > MAX_INDEXED_VM or (
        element["vr"] in _LONG_TEXT_VRS
        and len(element.get("Value", [""])[0]) > MAX_INDEXED_LENGTH
    ):
        return None
    return element


def record_from_dataset(dataset: Dataset) -> InstanceRecord:
    """Extract what the index needs from a dataset read without its pixels.

    One pass over the top-level elements: every non-bulk, non-private
    attribute goes, as DICOM JSON, to the attributes of its level, and the
    indexed values are taken from that JSON as text. Most elements are read
    straight from their bytes (:mod:`imaging_common.dicom_json`).

    Text is decoded with the dataset's Specific Character Set, code
    extensions included (pydicom's :mod:`pydicom.charset`); what does not
    decode or parse is handled as the module says.

    Raises:
        UnreadableAttributeError: an attribute kept in a column cannot be read.
        DicomInputError: a UID the archive needs is missing or malformed.
    """
    values = dict.fromkeys(INDEXED_KEYWORDS, "")
    attributes: dict[Level, dict[str, Any]] = {level: {} for level in Level}
    codec = encoding_of(dataset.get("SpecificCharacterSet"))
    unread = _Unread()
    for tag in list(dataset.keys()):
        if tag.is_private or tag.group in (0x0002, 0x7FE0) or tag in _SKIPPED_TAGS:
            continue
        element = _element_json(dataset, tag, codec, unread)
        if element is None:
            continue
        keyword = _INDEXED_TAGS.get(tag)
        if keyword is not None:
            values[keyword] = _text_of_json(element)
        attributes[level_of_tag(tag)][f"{tag:08X}"] = element
    unknown = _unknown_terms(dataset.get("SpecificCharacterSet"))
    if unread.undecoded or unread.skipped or unknown:
        log.warning("indexed in part", sop_instance_uid=values["SOPInstanceUID"],
                    undecoded=unread.undecoded, skipped=unread.skipped,
                    unknown_character_sets=unknown)
    return InstanceRecord(
        sop_class_uid=validate_uid(values["SOPClassUID"], "SOPClassUID"),
        sop_instance_uid=validate_uid(values["SOPInstanceUID"], "SOPInstanceUID"),
        study_instance_uid=validate_uid(values["StudyInstanceUID"], "StudyInstanceUID"),
        series_instance_uid=validate_uid(values["SeriesInstanceUID"], "SeriesInstanceUID"),
        values=values,
        attributes=attributes,
    )
