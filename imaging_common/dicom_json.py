"""DICOM JSON (PS3.18 F.2) of elements straight from their encoded bytes.

The archive turns every header attribute of every received instance into DICOM
JSON. pydicom does it through full element objects, which costs about 15 µs
an element; this module reads the common VRs from the raw bytes in a few
microseconds and gives the same result as pydicom's ``to_json_dict`` (a test
holds the two equal). Whatever it is not sure of (sequences, an ambiguous or
unknown VR, code extensions of the character set, big endian, a malformed
number, text that does not decode) it answers ``None`` and the caller asks
pydicom, whose :mod:`pydicom.charset` handles every Specific Character Set.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from pydicom.charset import python_encoding

__all__ = ["element_value", "encoding_of", "raw_element_json"]

#: PS3.5 6.1.2.3: text VRs decoded with the dataset's Specific Character Set.
_CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
#: Python codecs of the commonest character sets (pydicom's names for the rest).
_CODECS = {"": "latin_1", "ISO_IR 6": "latin_1", "ISO_IR 100": "latin_1",
           "ISO_IR 192": "utf_8"}
#: PS3.5 6.1.2.4: the escape character that announces a code extension.
_ESC = b"\x1b"
#: Binary numeric VRs and their little-endian struct codes.
_BINARY = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d",
           "SV": "q", "UV": "Q"}


def encoding_of(specific_character_set: str | Sequence[str] | None) -> str | None:
    """The codec that reads text of a Specific Character Set (0008,0005) here, or None.

    A single value without code extensions (PS3.5 6.1.2.5.1: the default
    repertoire, ISO_IR 100 to 166, ISO_IR 192, GB18030, GBK) is one stateless
    Python codec, taken from pydicom's table. Several values, or any
    ``ISO 2022`` term, announce code extensions switched by escape sequences
    (PS3.5 6.1.2.5.3, Japanese and Korean); those, and unknown terms, answer
    None: pydicom reads them.

    Args:
        specific_character_set: the element's value as pydicom gives it: a
            string, a list of strings (multi-valued), or None when absent.
    """
    value = specific_character_set
    if value is not None and not isinstance(value, str):
        terms = [str(term).strip() for term in value]
        if len(terms) > 1:
            return None
        value = terms[0] if terms else ""
    term = (value or "").strip()
    if term in _CODECS:
        return _CODECS[term]
    if term.startswith("ISO 2022"):
        return None
    return python_encoding.get(term)


def _strings(text: str, strip: Callable[[str], str]) -> list[str]:
    return [strip(part) for part in text.split("\\")]


def _multi(text: str) -> list[str]:
    """CS, AS, UI and friends: pydicom strips the whole value, then splits."""
    return text.rstrip(" \x00").split("\\")


def _numbers(text: str, kind: type) -> list[Any] | None:
    parts = text.strip(" \x00").split("\\")
    try:
        return [kind(part.strip()) for part in parts]
    except ValueError:
        return None


def _person_names(text: str) -> list[dict[str, str]]:
    names = []
    for value in text.rstrip(" \x00").split("\\"):
        groups = value.split("=")
        while len(groups) > 1 and not groups[-1]:
            groups.pop()  # as pydicom: no trailing empty component groups
        name = {"Alphabetic": groups[0]}
        if len(groups) > 1:
            name["Ideographic"] = groups[1]
        if len(groups) > 2:
            name["Phonetic"] = groups[2]
        names.append(name)
    return names


def _text_values(vr: str, text: str) -> list[Any] | None:
    if vr in ("LT", "ST", "UT"):
        return [text.rstrip("\x00 ")]
    if vr == "UR":
        return [text.rstrip()]
    if vr in ("LO", "SH", "UC"):
        return _strings(text, lambda s: s.rstrip("\x00 "))
    if vr == "AE":
        return [s.strip() for s in _multi(text)]
    if vr in ("DA", "TM", "DT"):
        return [s.rstrip() for s in _multi(text)]
    if vr in ("AS", "CS", "UI"):
        return _multi(text)
    if vr == "DS":
        return _numbers(text, float)
    if vr == "IS":
        return _numbers(text, int)
    if vr == "PN":
        return _person_names(text)
    return None


def raw_element_json(vr: str, value: bytes, codec: str) -> dict[str, Any] | None:
    """DICOM JSON of one element given its VR and value bytes (little endian).

    Args:
        vr: the element's VR, as encoded or from the data dictionary.
        value: the encoded value, padding included.
        codec: the Python codec of the dataset's Specific Character Set.

    Returns:
        ``{"vr": ..., "Value": [...]}`` (no ``Value`` when empty), or None when
        this element needs pydicom.
    """
    if vr in _BINARY:
        if not value:
            return {"vr": vr}
        code = _BINARY[vr]
        size = struct.calcsize(code)
        if len(value) % size:
            return None
        return {"vr": vr, "Value": list(struct.unpack(f"<{len(value) // size}{code}", value))}
    if vr == "AT":
        if not value or len(value) % 4:
            return None
        pairs = struct.unpack(f"<{len(value) // 2}H", value)
        return {"vr": vr, "Value": [f"{pairs[i]:04X}{pairs[i + 1]:04X}"
                                    for i in range(0, len(pairs), 2)]}
    if vr not in _CHARSET_VRS and vr not in _OTHER_TEXT:
        return None
    if not value.strip(b" \x00"):
        return {"vr": vr}
    if _ESC in value:
        return None
    try:
        text = value.decode(codec if vr in _CHARSET_VRS else "latin_1")
    except UnicodeDecodeError:
        return None
    values = _text_values(vr, text)
    if values is None:
        return None
    return {"vr": vr, "Value": values}


#: String VRs decoded with the default repertoire whatever the character set.
_OTHER_TEXT = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"})


def element_value(element: dict[str, Any]) -> Any:
    """The pydicom value of a DICOM JSON element, or ``...`` if pydicom must read it.

    The inverse of :func:`raw_element_json` for the same VRs: strings and
    numbers as they are (several values as a list), person names rejoined
    from their groups, no ``Value`` as an empty value.
    """
    vr = element.get("vr")
    if vr == "SQ" or "InlineBinary" in element or "BulkDataURI" in element:
        return ...
    values = element.get("Value")
    if not values:
        return None
    if vr == "PN":
        values = ["=".join(v[k] for k in _PN_GROUPS if k in v).rstrip("=")
                  if isinstance(v, dict) else v for v in values]
    elif vr == "AT":
        values = [int(v, 16) for v in values]
    return values[0] if len(values) == 1 else values


_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
