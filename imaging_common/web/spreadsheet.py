"""Exported CSV cells that a spreadsheet shows as text, never runs as a formula.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is a formula to Excel, LibreOffice and Google Sheets (OWASP "CSV Injection"):
a model name or comment such as ``=HYPERLINK(...)`` would run on the
reader's machine. Such a text cell gets a leading apostrophe, which the
spreadsheet hides and which keeps the text as it was.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["FORMULA_STARTS", "spreadsheet_row", "spreadsheet_text"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    """``value`` as a cell that cannot start a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def spreadsheet_row(row: Mapping[str, str]) -> dict[str, str]:
    """``row`` with every cell made safe."""
    return {key: spreadsheet_text(value) for key, value in row.items()}
