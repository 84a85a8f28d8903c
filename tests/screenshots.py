"""Screenshots of the web pages for the README, taken by the browser tests.

``make screenshots`` runs those tests with ``FOVEA_SCREENSHOTS=docs/screenshots``;
in a plain test run the variable is unset and nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: One size for every picture, so that they line up in the README.
VIEWPORT = {"width": 1280, "height": 800}
#: Pages taller than this (long lists) are pictured down to the viewport only.
MAX_FULL_HEIGHT = 2400


def screenshot(page: Any, name: str) -> None:
    """Save the whole page as ``<FOVEA_SCREENSHOTS>/<name>.png`` when that is set."""
    folder = os.environ.get("FOVEA_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(VIEWPORT)
    height = page.evaluate("document.documentElement.scrollHeight")
    page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=height <= MAX_FULL_HEIGHT)
