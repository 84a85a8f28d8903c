"""What the pages share: the station's context, the site's clock, the DIMSE AE."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from flask import current_app
from pynetdicom import AE

from modality_scu.config import StationConfig
from modality_scu.holding import HoldingArea
from modality_scu.outbox import Outbox
from modality_scu.sender import OutboxSender
from modality_scu.thumbnails import ThumbnailStore

__all__ = ["StationContext", "local", "station", "station_config", "today"]

CONTEXT_KEY = "fovea_station"


@dataclass(frozen=True)
class StationContext:
    """Built once when the app is created.

    Attributes:
        config: the station's configuration.
        outbox: the folder of images waiting for the archive.
        sender: the outbox sender (started by the entry point, not by the app).
        ae_factory: makes the AE of each association the pages open.
        holding: pictures waiting for the technician to check their eyes.
        thumbnails: the thumbnails of the images sent.
    """

    config: StationConfig
    outbox: Outbox
    sender: OutboxSender
    ae_factory: Callable[[], AE]
    holding: HoldingArea
    thumbnails: ThumbnailStore


def station() -> StationContext:
    """The context of the current app."""
    return current_app.extensions[CONTEXT_KEY]


def station_config() -> StationConfig:
    """The configuration the current app was created with."""
    return station().config


def local(moment: datetime | None) -> datetime | None:
    """A stored naive-UTC timestamp in the site's time zone."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(station_config().zone)


def today() -> date:
    """Today's date at the site: the day whose worklist is shown."""
    return datetime.now(station_config().zone).date()
