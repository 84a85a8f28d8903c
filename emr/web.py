"""Small helpers the blueprints share: the app's configuration, time zones, paging."""

from __future__ import annotations

from datetime import date, datetime
from typing import TypeVar

from flask import current_app, request

from emr.config import EmrConfig
from emr.models import utcnow

__all__ = ["app_config", "local", "page_arguments", "parse_date", "today", "with_zone"]

T = TypeVar("T")

CONFIG_KEY = "fovea_config"


def app_config() -> EmrConfig:
    """The configuration the current app was created with."""
    return current_app.extensions[CONFIG_KEY]


def with_zone(moment: datetime) -> datetime:
    """A naive local date-time from a form, placed in the site's time zone."""
    return moment.replace(tzinfo=app_config().zone)


def local(moment: datetime | None) -> datetime | None:
    """A stored (UTC) timestamp in the site's time zone."""
    return None if moment is None else moment.astimezone(app_config().zone)


def today() -> date:
    """Today's date at the site."""
    return utcnow().astimezone(app_config().zone).date()


def parse_date(text: str | None) -> date | None:
    """A ``YYYY-MM-DD`` date, or ``None`` when empty or malformed."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def page_arguments(default_size: int = 50, largest: int = 500) -> tuple[int, int]:
    """``limit`` and ``offset`` from the query string, clamped to sane values."""
    limit = request.args.get("limit", default_size, type=int) or default_size
    offset = request.args.get("offset", 0, type=int) or 0
    return max(1, min(limit, largest)), max(0, offset)
