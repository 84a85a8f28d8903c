"""Screenshots of the web pages for the README, taken by the browser tests.

``make screenshots`` runs those tests with ``FOVEA_SCREENSHOTS=docs/screenshots``;
in a plain test run the variable is unset and nothing is written.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from PIL import Image

#: One size for every picture, so that they line up in the README.
VIEWPORT = {"width": 1280, "height": 800}
#: A phone's screen (an iPhone 12 to 15): every page must be usable at this width.
PHONE = {"width": 390, "height": 844}
#: The tallest picture: longer pages (long lists) are cut to this height.
MAX_HEIGHT = 2400
#: Pixels of page kept above a ``focus`` element, for context.
FOCUS_MARGIN = 160


def screenshot(page: Any, name: str, focus: Any = None,
               viewport: dict[str, int] | None = None) -> None:
    """Save the whole page as ``<FOVEA_SCREENSHOTS>/<name>.png`` when that is set.

    A page taller than :data:`MAX_HEIGHT` is pictured from its top, or from a
    little above ``focus`` (a Playwright locator) when one is given, so that
    what the picture is about is in it. The picture is cut down to 256 colours
    (a third of the size; the pages are flat colours and text). ``viewport``
    (such as :data:`PHONE`) replaces the README's :data:`VIEWPORT`.
    """
    folder = os.environ.get("FOVEA_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    size = viewport or VIEWPORT
    page.set_viewport_size(size)
    height = int(page.evaluate("document.documentElement.scrollHeight"))
    top = 0
    if focus is not None and height > MAX_HEIGHT:
        focus_top = focus.evaluate("e => e.getBoundingClientRect().top + window.scrollY")
        top = max(0, min(height - MAX_HEIGHT, int(focus_top) - FOCUS_MARGIN))
    clip = {"x": 0, "y": top, "width": size["width"], "height": min(height - top, MAX_HEIGHT)}
    picture = Image.open(io.BytesIO(page.screenshot(full_page=True, clip=clip)))
    picture.convert("RGB").quantize(256, Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
                                    ).save(Path(folder) / f"{name}.png", optimize=True)
