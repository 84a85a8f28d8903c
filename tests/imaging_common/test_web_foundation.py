"""The web apps' shared plumbing: redirect targets and spreadsheet-safe cells."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import BadRequest

from imaging_common.web.redirects import safe_next
from imaging_common.web.spreadsheet import spreadsheet_row, spreadsheet_text


@pytest.mark.parametrize("value", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx",
                                   '=HYPERLINK("http://x","y")'])
def test_formula_cells_are_neutralised(value: str) -> None:
    assert spreadsheet_text(value) == "'" + value


def test_plain_cells_are_kept() -> None:
    assert spreadsheet_text("Doe") == "Doe" and spreadsheet_text("") == ""
    assert spreadsheet_row({"a": "=x", "b": "y"}) == {"a": "'=x", "b": "y"}


@pytest.mark.parametrize("target", ["/orders", "/orders/3/report?tab=1", "/"])
def test_a_path_on_this_site_is_kept(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize("target", ["", None, "https://evil.example/", "//evil.example/x",
                                    "/\\evil.example", "orders", "javascript:alert(1)"])
def test_a_target_off_this_site_is_dropped(target: str | None) -> None:
    assert safe_next(target) is None


@pytest.mark.parametrize("target", ["/orders\r\nSet-Cookie: x=1", "/a\nb", "/a\x00b", "/a\x7fb"])
def test_a_control_character_is_a_bad_request(target: str) -> None:
    with pytest.raises(BadRequest):
        safe_next(target)
