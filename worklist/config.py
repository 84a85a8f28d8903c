"""The worklist's configuration: the shared service settings plus how to reach the EMR.

Read once by the entry point (:func:`load_config`) and passed down. The EMR's
address comes from the ``emr`` node of the network file (``--emr-url`` or
``FOVEA_EMR_URL`` override it); its bearer token only from the environment
(``FOVEA_EMR_TOKEN_WORKLIST``), never from the network file. In production the
token must be a random value of at least 32 characters. An optional
``[worklist]`` table of the network file tunes the EMR cache and timeout::

    [worklist]
    environment = "development"  # or "production", "testing" (--environment, FOVEA_ENV)
    emr_cache_seconds = 5    # how long the scheduled orders answer C-FINDs
    emr_timeout = 5          # seconds to wait for the EMR's REST API
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from imaging_common.deployment import (
    ENVIRONMENTS,
    PRODUCTION,
    check_environment,
    check_production_secret,
)
from imaging_common.exceptions import ConfigError
from imaging_common.metrics import add_metrics_option
from imaging_common.settings import Settings, load_settings, service_argument_parser

__all__ = ["DEFAULT_CACHE_SECONDS", "DEFAULT_EMR_TIMEOUT", "TOKEN_VARIABLE",
           "WorklistConfig", "argument_parser", "load_config"]

#: Seconds a list of scheduled orders read from the EMR answers C-FINDs.
DEFAULT_CACHE_SECONDS = 5.0
#: Seconds to wait for the EMR's REST API before answering a failure.
DEFAULT_EMR_TIMEOUT = 5.0
#: The environment variable holding the worklist's bearer token on the EMR.
TOKEN_VARIABLE = "FOVEA_EMR_TOKEN_WORKLIST"
#: Keys the ``[worklist]`` table of the network file may hold.
WORKLIST_KEYS = frozenset({"environment", "emr_cache_seconds", "emr_timeout"})


@dataclass(frozen=True)
class WorklistConfig:
    """Everything the worklist process needs, fixed at start-up.

    Attributes:
        settings: the shared DIMSE service settings (AE title, port, peers).
        emr_url: base URL of the EMR, e.g. ``http://127.0.0.1:5000``.
        emr_token: the worklist's bearer token on the EMR's REST API.
        cache_seconds: how long a list of orders read from the EMR is reused.
        emr_timeout: seconds to wait for an answer from the EMR.
        environment: ``development``, ``production`` or ``testing``.
    """

    settings: Settings
    emr_url: str
    emr_token: str = field(repr=False)
    cache_seconds: float = DEFAULT_CACHE_SECONDS
    emr_timeout: float = DEFAULT_EMR_TIMEOUT
    environment: str = "development"

    def __post_init__(self) -> None:
        check_environment(self.environment)
        if self.production:
            check_production_secret("the worklist's EMR token", self.emr_token, TOKEN_VARIABLE)

    @property
    def production(self) -> bool:
        """Whether this process runs in production mode."""
        return self.environment == PRODUCTION

    @property
    def steps_dir(self) -> Path:
        """Where the MPPS instances are kept, one file each."""
        return self.settings.data_dir / "mpps"


def argument_parser() -> argparse.ArgumentParser:
    """The options of ``python -m worklist``: the shared service options, the EMR's URL
    and the metrics port."""
    parser = service_argument_parser(
        "Fovea worklist: Modality Worklist C-FIND SCP and MPPS SCP")
    parser.add_argument("--emr-url", help="base URL of the EMR (FOVEA_EMR_URL)")
    parser.add_argument("--environment", choices=ENVIRONMENTS,
                        help="development, production or testing (FOVEA_ENV)")
    return add_metrics_option(parser)


def _worklist_table(path: Path) -> dict[str, Any]:
    table = tomllib.loads(path.read_text(encoding="utf-8")).get("worklist", {})
    if not isinstance(table, dict):
        raise ConfigError("[worklist] in the network file must be a table")
    unknown = set(table) - WORKLIST_KEYS
    if unknown:
        raise ConfigError(f"[worklist]: unknown keys {sorted(unknown)}")
    return table


def _seconds(value: Any, where: str, allow_zero: bool = True) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a number of seconds") from None
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ConfigError(f"{where}: must be {'at least' if allow_zero else 'more than'} 0")
    return seconds


def _emr_url(settings: Settings, env: Mapping[str, str]) -> str:
    """``--emr-url``, else ``FOVEA_EMR_URL``, else the ``emr`` node's host and HTTP port."""
    url = settings.extra.get("emr_url") or env.get("FOVEA_EMR_URL")
    if not url:
        emr = settings.network.node("emr")
        if emr.http_port is None:
            raise ConfigError("the emr node has no http_port; give --emr-url")
        url = f"http://{emr.host}:{emr.http_port}"
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"EMR URL {url!r} is not an http:// or https:// address")
    return str(url).rstrip("/")


def load_config(argv: Sequence[str] | None = None,
                environ: Mapping[str, str] | None = None) -> WorklistConfig:
    """Build the worklist's configuration from options, environment and network file.

    Raises:
        ConfigError: a value is bad, the worklist accepts no calling AE, or
            its EMR token is not set (or weak, in production).
    """
    env = os.environ if environ is None else environ
    settings = load_settings("worklist", argv, env, parser=argument_parser())
    if not settings.node.accepts:
        raise ConfigError("the worklist node accepts no station: list them in 'accepts'")
    token = env.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise ConfigError(f"{TOKEN_VARIABLE} is not set: the worklist cannot read the EMR")
    table = _worklist_table(settings.config_path)
    return WorklistConfig(
        settings=settings,
        emr_url=_emr_url(settings, env),
        emr_token=token,
        cache_seconds=_seconds(table.get("emr_cache_seconds", DEFAULT_CACHE_SECONDS),
                               "[worklist] emr_cache_seconds"),
        emr_timeout=_seconds(table.get("emr_timeout", DEFAULT_EMR_TIMEOUT),
                             "[worklist] emr_timeout", allow_zero=False),
        environment=str(settings.extra.get("environment") or env.get("FOVEA_ENV")
                        or table.get("environment", "development")),
    )
