"""From a received dataset to the index record: one pass over its elements.

Every non-bulk, non-private top-level attribute becomes DICOM JSON in the
attributes of its level; the attributes the index keeps in columns are taken
from that JSON as text. This module knows DICOM datasets only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydicom.datadict import DicomDictionary, dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

from imaging_common.dicom_json import encoding_of, raw_element_json
from imaging_common.levels import Level, level_of_tag
from imaging_common.uids import validate_uid

__all__ = [
    "BULK_VRS",
    "INDEXED_KEYWORDS",
    "InstanceRecord",
    "MAX_INDEXED_LENGTH",
    "record_from_dataset",
]

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


def _fast_json(dataset: Dataset, tag: BaseTag, codec: str | None) -> dict[str, Any] | None:
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
        return {"vr": "SQ", "Value": [_item_json(item, codec) for item in items]}
    if vr is None or vr in BULK_VRS or " " in vr:
        return None
    if codec is None and vr in ("LO", "LT", "PN", "SH", "ST", "UC", "UT"):
        return None
    return raw_element_json(vr, raw.value, codec or "latin_1")


def _item_json(item: Dataset, codec: str | None) -> dict[str, Any]:
    """DICOM JSON of a sequence item, as pydicom's ``Dataset.to_json_dict`` gives it."""
    result = {}
    for tag in list(item.keys()):
        element = _fast_json(item, tag, codec)
        if element is None:
            element = item[tag].to_json_dict(
                bulk_data_element_handler=_no_bulk_data,
                bulk_data_threshold=MAX_INDEXED_LENGTH,
            )
        result[f"{tag:08X}"] = element
    return result


def _slow_json(dataset: Dataset, tag: BaseTag) -> dict[str, Any] | None:
    """DICOM JSON through pydicom; None for bulk data and oversized values."""
    element = dataset[tag]
    if element.VR in BULK_VRS or element.VM > MAX_INDEXED_VM or (
        element.VR in _LONG_TEXT_VRS and len(element.value or "") > MAX_INDEXED_LENGTH
    ):
        return None
    return element.to_json_dict(
        bulk_data_element_handler=_no_bulk_data, bulk_data_threshold=MAX_INDEXED_LENGTH
    )


def record_from_dataset(dataset: Dataset) -> InstanceRecord:
    """Extract what the index needs from a dataset read without its pixels.

    One pass over the top-level elements: every non-bulk, non-private
    attribute goes, as DICOM JSON, to the attributes of its level, and the
    indexed values are taken from that JSON as text. Most elements are read
    straight from their bytes (:mod:`imaging_common.dicom_json`).

    Raises:
        DicomInputError: a UID the archive needs is missing or malformed.
    """
    values = dict.fromkeys(INDEXED_KEYWORDS, "")
    attributes: dict[Level, dict[str, Any]] = {level: {} for level in Level}
    codec = encoding_of(dataset.get("SpecificCharacterSet"))
    for tag in list(dataset.keys()):
        if tag.is_private or tag.group in (0x0002, 0x7FE0) or tag in _SKIPPED_TAGS:
            continue
        element = _fast_json(dataset, tag, codec)
        if element is not None:
            if len(element.get("Value", ())) > MAX_INDEXED_VM or (
                element["vr"] in _LONG_TEXT_VRS
                and len(element.get("Value", [""])[0]) > MAX_INDEXED_LENGTH
            ):
                element = None
        else:
            element = _slow_json(dataset, tag)
        if element is None:
            continue
        keyword = _INDEXED_TAGS.get(tag)
        if keyword is not None:
            values[keyword] = _text_of_json(element)
        attributes[level_of_tag(tag)][f"{tag:08X}"] = element
    return InstanceRecord(
        sop_class_uid=validate_uid(values["SOPClassUID"], "SOPClassUID"),
        sop_instance_uid=validate_uid(values["SOPInstanceUID"], "SOPInstanceUID"),
        study_instance_uid=validate_uid(values["StudyInstanceUID"], "StudyInstanceUID"),
        series_instance_uid=validate_uid(values["SeriesInstanceUID"], "SeriesInstanceUID"),
        values=values,
        attributes=attributes,
    )
