"""The station's configuration, read once at start-up into a frozen :class:`StationConfig`.

Sources, highest first: command-line options and ``FOVEA_*`` environment
variables (through :func:`imaging_common.settings.load_settings`), the
optional ``[station]`` table of the network file, built-in defaults. The
station runs as the network file's ``station`` node: its AE title
(``--ae-title``) is the calling AE title of every association and the
Scheduled Station AE Title it asks the worklist for; ``--port`` (``FOVEA_PORT``)
overrides the node's ``http_port``. It calls the ``worklist`` node (MWL and
MPPS) and the ``pacs`` node (C-STORE and storage commitment).

Secrets never live in the network file: ``FOVEA_STATION_SECRET_KEY`` signs
sessions and CSRF tokens (the station's own key: no other app's cookie means
anything here). In production it is required, at least 32 characters and not
a known placeholder; elsewhere a random key is kept in
``<data_dir>/station-secret-key``. Technicians sign on through the EMR
(:mod:`imaging_common.web.sign_on`): ``FOVEA_SIGN_ON_SECRET_STATION`` is the
station's client secret there, and the EMR is the network file's ``emr`` node
(or ``FOVEA_EMR_URL``). The ``[station]`` table tunes the rest::

    [station]
    environment = "development"   # or "production", "testing" (FOVEA_ENV)
    timezone = "UTC"              # whose "today" the worklist shows (FOVEA_TIMEZONE)
    max_upload_mb = 50            # largest file a technician may upload
    max_images_per_eye = 4        # photographs of one eye per examination
    retry_first_seconds = 5       # first wait after a failed delivery, then doubled
    retry_max_seconds = 300       # the longest wait between two attempts
    commitment_timeout = 30       # seconds to wait for the commitment report
    session_minutes = 480         # a log-in lasts one working day
    cookie_secure = false         # session cookie over HTTPS only (production: true)
    demo = false                  # offer simulated capture (FOVEA_DEMO=1; never in production)

Demo mode is what ``make run`` and ``make demo`` use: the technician may take a
"simulated capture" (a synthetic fundus, marked as such in DICOM) instead of
uploading a photograph. Off by default; a production station refuses it.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from imaging_common.deployment import ENVIRONMENTS, check_production_secret, kept_secret
from imaging_common.exceptions import ConfigError
from imaging_common.settings import (
    Node,
    Settings,
    load_settings,
    parse_boolean,
    service_argument_parser,
)
from imaging_common.web.sign_on import SignOnSettings, load_sign_on_settings

__all__ = ["ENVIRONMENTS", "RetryPolicy", "StationConfig", "argument_parser", "load_config"]

#: Keys the ``[station]`` table of the network file may hold.
STATION_KEYS = frozenset({
    "environment", "timezone", "max_upload_mb", "max_images_per_eye",
    "retry_first_seconds", "retry_max_seconds", "commitment_timeout",
    "session_minutes", "cookie_secure", "demo"})

_MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """How long the outbox waits before trying a failed delivery again.

    The n-th consecutive failure waits ``first * factor ** (n - 1)`` seconds,
    never more than ``maximum``: exponential backoff, without a last attempt.
    Nothing is given up: an image waits until it is stored and committed.
    """

    first: float = 5.0
    factor: float = 2.0
    maximum: float = 300.0

    def __post_init__(self) -> None:
        if self.first <= 0 or self.maximum < self.first or self.factor < 1:
            raise ConfigError("retry: need 0 < first <= maximum and factor >= 1")

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1, 2, ...)."""
        exponent = max(0, failures - 1)
        if exponent > 64:  # beyond any maximum; avoid a float overflow
            return self.maximum
        return min(self.maximum, self.first * self.factor ** exponent)


@dataclass(frozen=True)
class StationConfig:
    """Everything the station process needs, fixed at start-up.

    Attributes:
        settings: the shared service settings (own node, AE table, data folder).
        secret_key: signs the session cookie and CSRF tokens.
        environment: ``development``, ``production`` or ``testing``.
        http_port: where the technicians' web pages are served.
        timezone: the site's IANA time zone; "today" of the worklist is its date.
        max_upload_bytes: the largest file accepted for upload.
        max_images_per_eye: the most photographs of one eye in one examination.
        retry: the outbox's backoff between failed deliveries.
        commitment_timeout: seconds to wait for a storage commitment report.
        session_lifetime: how long a log-in lasts.
        session_cookie_secure: send the session cookie over HTTPS only.
        demo: whether simulated capture is offered (the network runs in demo mode).
        sign_on: how technicians sign on through the EMR; ``None``: nobody can.
    """

    settings: Settings
    secret_key: str = field(repr=False)
    environment: str = "development"
    http_port: int = 5001
    timezone: str = "UTC"
    max_upload_bytes: int = 50 * _MEGABYTE
    max_images_per_eye: int = 4
    retry: RetryPolicy = RetryPolicy()
    commitment_timeout: float = 30.0
    session_lifetime: timedelta = timedelta(hours=8)
    session_cookie_secure: bool = False
    demo: bool = False
    sign_on: SignOnSettings | None = None

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise ConfigError(f"environment {self.environment!r} is not one of {ENVIRONMENTS}")
        if self.production and self.demo:
            raise ConfigError("demo mode (simulated capture) is not allowed in production")
        if self.production:
            check_production_secret("the secret key", self.secret_key,
                                    "FOVEA_STATION_SECRET_KEY")
        if not self.secret_key:
            raise ConfigError("the secret key is empty")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {self.timezone!r}") from None
        if self.max_upload_bytes < 1 or self.max_images_per_eye < 1:
            raise ConfigError("max_upload_mb and max_images_per_eye must be positive")
        if self.commitment_timeout <= 0:
            raise ConfigError("commitment_timeout must be more than 0 seconds")
        for peer in ("worklist", "pacs"):
            _peer(self.settings, peer)

    @property
    def production(self) -> bool:
        """Whether this process runs in production mode."""
        return self.environment == "production"

    @property
    def ae_title(self) -> str:
        """The station's own AE title (calling AE, Scheduled Station AE Title)."""
        return self.settings.ae_title

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def worklist(self) -> Node:
        """The Modality Worklist and MPPS SCP."""
        return _peer(self.settings, "worklist")

    @property
    def pacs(self) -> Node:
        """The archive that stores and commits the images."""
        return _peer(self.settings, "pacs")

    @property
    def outbox_dir(self) -> Path:
        """Where images wait until the archive has committed them."""
        return self.settings.data_dir / "outbox"

    @property
    def holding_dir(self) -> Path:
        """Where pictures wait while the technician checks their eyes (nothing sent)."""
        return self.settings.data_dir / "holding"

    @property
    def thumbnails_dir(self) -> Path:
        """Where the thumbnails of sent images are kept for the examination page."""
        return self.settings.data_dir / "thumbnails"

    @property
    def max_request_bytes(self) -> int:
        """The largest acquisition form: every file at its limit, and the fields."""
        return 2 * self.max_images_per_eye * self.max_upload_bytes + _MEGABYTE


def _peer(settings: Settings, name: str) -> Node:
    node = settings.network.node(name)
    if node.ae_title is None or node.port is None:
        raise ConfigError(f"the {name} node needs an ae_title and a port")
    return node


def argument_parser() -> argparse.ArgumentParser:
    """The options of ``python -m modality_scu``: the shared ones and the mode."""
    parser = service_argument_parser(
        "Fovea fundus station: technicians' web form; worklist, MPPS, C-STORE, "
        "storage commitment")
    parser.add_argument("--environment", choices=ENVIRONMENTS,
                        help="development, production or testing (FOVEA_ENV)")
    return parser


def load_config(argv: Sequence[str] | None = None,
                environ: Mapping[str, str] | None = None) -> StationConfig:
    """Build the station's configuration from options, environment and network file.

    Raises:
        ConfigError: a value is missing, malformed, or unsafe in production.
    """
    env = os.environ if environ is None else environ
    settings = load_settings("station", argv if argv is not None else [], env,
                             parser=argument_parser())
    table = _station_table(settings.config_path)
    environment = str(settings.extra.get("environment") or env.get("FOVEA_ENV")
                      or table.get("environment", "development"))
    secret_key = env.get("FOVEA_STATION_SECRET_KEY", "")
    if not secret_key and environment != "production":
        secret_key = kept_secret(settings.data_dir / "station-secret-key")
    retry = RetryPolicy(first=_number(table, "retry_first_seconds", 5.0),
                        maximum=_number(table, "retry_max_seconds", 300.0))
    cookie_secure = env.get("FOVEA_STATION_COOKIE_SECURE", table.get("cookie_secure"))
    demo = env.get("FOVEA_DEMO", table.get("demo", False))
    return StationConfig(
        settings=settings,
        secret_key=secret_key,
        environment=environment,
        http_port=settings.node.port or settings.node.http_port or 5001,
        timezone=str(env.get("FOVEA_TIMEZONE") or table.get("timezone", "UTC")),
        max_upload_bytes=int(_number(table, "max_upload_mb", 50) * _MEGABYTE),
        max_images_per_eye=int(_number(table, "max_images_per_eye", 4)),
        retry=retry,
        commitment_timeout=_number(table, "commitment_timeout", 30.0),
        session_lifetime=timedelta(minutes=_number(table, "session_minutes", 480)),
        session_cookie_secure=(environment == "production" if cookie_secure is None
                               else parse_boolean(cookie_secure)),
        demo=_flag("demo", demo),
        sign_on=_sign_on(settings, env),
    )


def _sign_on(settings: Settings, env: Mapping[str, str]) -> SignOnSettings | None:
    """The sign-on settings, or ``None`` (with the reason logged by the app) without a secret."""
    if not env.get("FOVEA_SIGN_ON_SECRET_STATION"):
        return None
    return load_sign_on_settings(settings.network, "station", env)


def _station_table(path: Path) -> dict[str, Any]:
    """The ``[station]`` table of the network file (empty when absent)."""
    table = tomllib.loads(path.read_text(encoding="utf-8")).get("station", {})
    if not isinstance(table, dict):
        raise ConfigError("[station] in the network file must be a table")
    unknown = set(table) - STATION_KEYS
    if unknown:
        raise ConfigError(f"[station]: unknown keys {sorted(unknown)}")
    return table


def _flag(key: str, value: Any) -> bool:
    try:
        return parse_boolean(value)
    except ConfigError:
        raise ConfigError(f"[station] {key} / FOVEA_DEMO: {value!r} is not a yes/no value"
                          ) from None


def _number(table: Mapping[str, Any], key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"[station] {key}: {value!r} is not a positive number")
    return float(value)
