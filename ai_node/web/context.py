"""What the page's views share, built once by :func:`ai_node.web.create_app`."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from ai_node.config import AiConfig
from ai_node.dispatch import Dispatcher
from ai_node.web.summaries import ResultCache

__all__ = ["CONTEXT_KEY", "WebContext", "web_context"]

CONTEXT_KEY = "fovea_ai"


@dataclass(frozen=True)
class WebContext:
    """The node's configuration, its queue and EMR client."""

    config: AiConfig
    dispatcher: Dispatcher
    results: ResultCache = field(default_factory=ResultCache)


def web_context() -> WebContext:
    """The context of the app handling the current request."""
    context: WebContext = current_app.extensions[CONTEXT_KEY]
    return context
