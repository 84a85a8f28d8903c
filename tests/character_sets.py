"""Patient names encoded in each Specific Character Set, as the standard shows them.

The Japanese, Korean and Chinese names and their bytes are the examples of
PS3.5 Annex H (H.3.1, H.3.2), Annex I (I.2) and Annex J (J.2, J.3); the
single-byte sets each have a name in their own script. The bytes are written
out here, so that decoding is checked against the standard, not against the
encoder under test.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

__all__ = ["EXAMPLES", "NameExample", "with_name"]


@dataclass(frozen=True)
class NameExample:
    """One Patient's Name: its Specific Character Set, its bytes, and what they read."""

    character_set: str | list[str]
    encoded: bytes
    name: str

    @property
    def character_set_text(self) -> str:
        """(0008,0005) as DCMTK's ``-k`` takes it: values joined by backslashes."""
        if isinstance(self.character_set, str):
            return self.character_set
        return "\\".join(self.character_set)


EXAMPLES = {
    # PS3.5 H.3.1: ISO 2022 IR 87 (JIS X 0208) as a code extension of ASCII.
    "japanese kanji": NameExample(
        ["", "ISO 2022 IR 87"],
        b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B="
        b"\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B",
        "Yamada^Tarou=山田^太郎=やまだ^たろう"),
    # PS3.5 H.3.2: half-width katakana (JIS X 0201) as G1, kanji by escape.
    "japanese katakana": NameExample(
        ["ISO 2022 IR 13", "ISO 2022 IR 87"],
        b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J="
        b"\x1b$B$d$^$@\x1b(J^\x1b$B$?$m$&\x1b(J",
        "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
    # PS3.5 I.2: ISO 2022 IR 149 (KS X 1001) as a code extension of ASCII.
    "korean": NameExample(
        ["", "ISO 2022 IR 149"],
        b"Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7="
        b"\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf",
        "Hong^Gildong=洪^吉洞=홍^길동"),
    # PS3.5 J.2: Unicode in UTF-8 (traditional characters).
    "chinese utf-8": NameExample(
        "ISO_IR 192",
        b"Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1=",
        "Wang^XiaoDong=王^小東"),
    # PS3.5 J.3: GB 18030 (simplified characters).
    "chinese gb18030": NameExample(
        "GB18030", b"Wang^XiaoDong=\xcd\xf5^\xd0\xa1\xb6\xab=", "Wang^XiaoDong=王^小东"),
    "latin-1": NameExample("ISO_IR 100", b"Buc^J\xe9r\xf4me", "Buc^Jérôme"),
    "greek": NameExample(
        "ISO_IR 126", b"\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2", "Διονυσιος"),
    "cyrillic": NameExample(
        "ISO_IR 144", b"\xbb\xee\xda\xe1\xd5\xdc\xd1\xe3\xe0\xd3", "Люксембург"),
    "arabic": NameExample(
        "ISO_IR 127", b"\xe2\xc8\xc7\xe6\xea^\xe4\xe6\xd2\xc7\xd1", "قباني^لنزار"),
    "hebrew": NameExample(
        "ISO_IR 138", b"\xf9\xf8\xe5\xef^\xe3\xe1\xe5\xf8\xe4", "שרון^דבורה"),
}


def with_name(ds: Dataset, example: NameExample) -> Dataset:
    """Give ``ds`` the example's Specific Character Set and Patient's Name, as bytes."""
    ds.SpecificCharacterSet = example.character_set
    ds.add_new(0x00100010, "PN", example.encoded)
    return ds
