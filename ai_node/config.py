"""The AI node's configuration: the shared service settings, the EMR, Redis and the model.

Read once by an entry point (:func:`load_config`) into a frozen
:class:`AiConfig` and passed down. Sources, highest first: command-line
options, environment variables, the ``[ai]`` table of the network file,
built-in defaults. The EMR's address is the ``emr`` node of the network file
unless ``--emr-url``/``FOVEA_EMR_URL`` says otherwise; secrets come only from
the environment:

- ``FOVEA_EMR_TOKEN_AI``: the node's bearer token on the EMR's REST API
  (scopes ``orders:read``, ``orders:state``, ``results:write``);
- ``FOVEA_AI_SECRET_KEY``: signs the web page's session and CSRF tokens; when
  unset, ``python -m ai_node`` keeps a random key in ``<data_dir>/ai/secret-key``
  (:func:`with_page_secret`), except in production, which requires it;
- ``FOVEA_SIGN_ON_SECRET_AI``: the page's client secret at the EMR, through which
  nurses sign on (:mod:`imaging_common.web.sign_on`); the page keeps no accounts.

In production (``--environment``, ``FOVEA_ENV`` or ``[ai] environment``) both
must be random values of at least 32 characters.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from imaging_common.deployment import (
    ENVIRONMENTS,
    PRODUCTION,
    check_environment,
    check_production_secret,
    kept_secret,
)
from imaging_common.exceptions import ConfigError
from imaging_common.settings import (
    Node,
    Settings,
    load_settings,
    parse_boolean,
    service_argument_parser,
)
from imaging_common.web.sign_on import SignOnSettings

__all__ = ["AI_KEYS", "AiConfig", "DEFAULTS", "argument_parser", "load_config",
           "with_page_secret"]

#: Defaults of the ``[ai]`` table, each overridable there.
DEFAULTS: Mapping[str, Any] = {
    # development, production (weak secrets refused) or testing.
    "environment": "development",
    # The model registry's folder and the model the node serves (its ACTIVE version).
    "registry": "models",
    "model": "dr-grader",
    # The RQ queue the web page fills and the workers empty.
    "queue": "fovea-ai",
    # Seconds one grading job may run before RQ stops it.
    "job_timeout": 600,
    # Seconds before each retry of a job that met an unreachable PACS or EMR;
    # as many retries as values.
    "retry_intervals": [10, 30, 60],
    # Seconds between the heartbeats of a worker running a job; a job whose worker
    # missed three is abandoned, and the next worker to clean RQ's registries
    # retries it (or fails its order when no retry is left).
    "heartbeat": 10,
    # Seconds finished and failed jobs stay visible on the page.
    "result_ttl": 86400,
    # Seconds to wait for the EMR's REST API.
    "emr_timeout": 10.0,
    # Enqueue every order that reaches 'acquired' without a nurse's click.
    "auto_run": False,
    # Seconds between two looks at the EMR for such orders.
    "poll_seconds": 15.0,
    # The EMR's address as the nurses' browsers reach it, for the links to its
    # report pages; empty: the address the node calls (emr_url).
    "emr_page_url": "",
}

#: Keys the ``[ai]`` table of the network file may hold.
AI_KEYS = frozenset(DEFAULTS)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: The node's folder under the data folder that every service shares.
NODE_FOLDER = "ai"


@dataclass(frozen=True)
class AiConfig:
    """Everything an AI node process needs, fixed at start-up.

    Attributes:
        settings: the shared DIMSE service settings of the ``ai`` node.
        emr_url: the EMR's base URL, e.g. ``http://127.0.0.1:5000``.
        emr_token: the node's bearer token on the EMR's REST API.
        redis_url: the Redis that holds the job queue.
        secret_key: signs the web page's session cookie and CSRF tokens
            (``FOVEA_AI_SECRET_KEY``; empty when unset).
        http_port: the web page's port.
        registry: the model registry's folder.
        model: the name of the served model (its active version is served).
        queue: the RQ queue's name.
        job_timeout: seconds one job may run.
        retry_intervals: seconds before each retry of a transient failure.
        heartbeat: seconds between a busy worker's heartbeats.
        result_ttl: seconds finished and failed jobs are kept.
        emr_timeout: seconds to wait for the EMR.
        auto_run: enqueue orders as they reach 'acquired'.
        poll_seconds: how often the automatic run looks at the EMR.
        environment: ``development``, ``production`` or ``testing``.
        emr_page_url: the EMR's address in the nurses' browsers (its report
            pages are linked from the node's page); ``emr_url`` when empty.
        sign_on_secret: the page's client secret at the EMR (``FOVEA_SIGN_ON_SECRET_AI``).
    """

    settings: Settings
    emr_url: str
    emr_token: str = field(repr=False)
    redis_url: str = DEFAULT_REDIS_URL
    secret_key: str = field(default="", repr=False)
    http_port: int = 5003
    registry: Path = Path("models")
    model: str = "dr-grader"
    queue: str = "fovea-ai"
    job_timeout: int = 600
    retry_intervals: tuple[int, ...] = (10, 30, 60)
    heartbeat: int = 10
    result_ttl: int = 86400
    emr_timeout: float = 10.0
    auto_run: bool = False
    poll_seconds: float = 15.0
    environment: str = "development"
    emr_page_url: str = ""
    sign_on_secret: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        check_environment(self.environment)
        if self.production:
            check_production_secret("the AI node's EMR token", self.emr_token,
                                    "FOVEA_EMR_TOKEN_AI")
            if self.secret_key:
                check_production_secret("the page's secret key", self.secret_key,
                                        "FOVEA_AI_SECRET_KEY")

    @property
    def production(self) -> bool:
        """Whether this process runs in production mode."""
        return self.environment == PRODUCTION

    @property
    def data_dir(self) -> Path:
        """The node's own folder under the shared data folder."""
        return Path(self.settings.data_dir) / NODE_FOLDER

    @property
    def inbox_dir(self) -> Path:
        """Where the storage SCP keeps received instances, one folder per study."""
        return self.data_dir / "inbox"

    @property
    def sign_on(self) -> SignOnSettings | None:
        """How nurses sign on to the page through the EMR; ``None`` without a secret."""
        if not self.sign_on_secret:
            return None
        return SignOnSettings(self.emr_url, "ai", self.sign_on_secret,
                              timeout=self.emr_timeout, browser_url=self.emr_page_url)

    @property
    def pacs(self) -> Node:
        """The archive the node queries, retrieves from and stores to."""
        return self.settings.network.node("pacs")


def argument_parser(description: str) -> argparse.ArgumentParser:
    """The shared service options plus the AI node's own."""
    parser = service_argument_parser(description)
    parser.add_argument("--emr-url", help="base URL of the EMR (FOVEA_EMR_URL)")
    parser.add_argument("--redis-url", help=f"Redis of the job queue (REDIS_URL; "
                                            f"{DEFAULT_REDIS_URL})")
    parser.add_argument("--http-port", type=int, help="web page port (FOVEA_AI_HTTP_PORT)")
    parser.add_argument("--registry", type=Path, help="model registry folder "
                                                      "(FOVEA_MODEL_REGISTRY)")
    parser.add_argument("--auto-run", action=argparse.BooleanOptionalAction, default=None,
                        help="enqueue orders as they reach 'acquired' (FOVEA_AI_AUTO_RUN)")
    parser.add_argument("--environment", choices=ENVIRONMENTS,
                        help="development, production or testing (FOVEA_ENV)")
    return parser


def load_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
                parser: argparse.ArgumentParser | None = None) -> AiConfig:
    """Build the AI node's configuration from options, environment and network file.

    Args:
        argv: command-line arguments, ``sys.argv[1:]`` when ``None``.
        environ: the environment, ``os.environ`` when ``None``.
        parser: a parser from :func:`argument_parser` to which the entry point
            added options of its own; their values land in ``settings.extra``.

    Raises:
        ConfigError: a value is bad, or the EMR token is missing.
    """
    env = os.environ if environ is None else environ
    settings = load_settings("ai", argv, env,
                             parser=parser or argument_parser("Fovea AI node"))
    table = {**DEFAULTS, **_ai_table(settings.config_path)}
    extra = settings.extra
    token = env.get("FOVEA_EMR_TOKEN_AI", "")
    if not token.strip():
        raise ConfigError("FOVEA_EMR_TOKEN_AI is not set: the AI node needs its EMR token")
    auto_run = extra.get("auto_run")
    if auto_run is None:
        auto_run = parse_boolean(env.get("FOVEA_AI_AUTO_RUN", table["auto_run"]))
    http_port = next((p for p in (extra.get("http_port"), env.get("FOVEA_AI_HTTP_PORT"),
                                  settings.node.http_port) if p is not None), 5003)
    secret = env.get("FOVEA_AI_SECRET_KEY", "").strip()
    return AiConfig(
        settings=settings,
        emr_url=str(extra.get("emr_url") or env.get("FOVEA_EMR_URL") or _emr_url(settings)),
        emr_token=token.strip(),
        secret_key=secret,
        redis_url=str(extra.get("redis_url") or env.get("REDIS_URL") or DEFAULT_REDIS_URL),
        http_port=_whole(http_port, "the page's HTTP port", minimum=0),
        registry=Path(extra.get("registry") or env.get("FOVEA_MODEL_REGISTRY")
                      or table["registry"]),
        model=str(table["model"]),
        queue=str(table["queue"]),
        job_timeout=_whole(table["job_timeout"], "[ai] job_timeout"),
        retry_intervals=tuple(_whole(v, "[ai] retry_intervals", minimum=0)
                              for v in _list(table["retry_intervals"])),
        heartbeat=_whole(table["heartbeat"], "[ai] heartbeat"),
        result_ttl=_whole(table["result_ttl"], "[ai] result_ttl"),
        emr_timeout=_seconds(table["emr_timeout"], "[ai] emr_timeout"),
        auto_run=bool(auto_run),
        poll_seconds=_seconds(table["poll_seconds"], "[ai] poll_seconds"),
        environment=str(extra.get("environment") or env.get("FOVEA_ENV")
                        or table["environment"]),
        emr_page_url=str(env.get("FOVEA_EMR_PAGE_URL") or table["emr_page_url"] or ""),
        sign_on_secret=env.get("FOVEA_SIGN_ON_SECRET_AI", "").strip(),
    )


def with_page_secret(config: AiConfig) -> AiConfig:
    """``config`` with the page's secret key: its own, else one kept in the node's folder.

    Raises:
        ConfigError: in production, ``FOVEA_AI_SECRET_KEY`` is not set.
    """
    if config.secret_key:
        return config
    if config.production:
        raise ConfigError("FOVEA_AI_SECRET_KEY is not set: production needs the page's "
                          "secret key (a random value of at least 32 characters)")
    return replace(config, secret_key=kept_secret(config.data_dir / "secret-key"))


def _emr_url(settings: Settings) -> str:
    try:
        emr = settings.network.node("emr")
    except ConfigError:
        raise ConfigError("the network file has no 'emr' node: give --emr-url") from None
    if emr.http_port is None:
        raise ConfigError("the 'emr' node has no http_port: give --emr-url")
    return f"http://{emr.host}:{emr.http_port}"


def _ai_table(path: Path) -> dict[str, Any]:
    table = tomllib.loads(path.read_text(encoding="utf-8")).get("ai", {})
    if not isinstance(table, dict):
        raise ConfigError("[ai] in the network file must be a table")
    unknown = set(table) - AI_KEYS
    if unknown:
        raise ConfigError(f"[ai]: unknown keys {sorted(unknown)}")
    return table


def _list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ConfigError(f"[ai] retry_intervals: {value!r} is not a list of seconds")


def _whole(value: Any, where: str, minimum: int = 1) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a whole number") from None
    if number < minimum or isinstance(value, bool):
        raise ConfigError(f"{where}: must be a whole number of at least {minimum}")
    return number


def _seconds(value: Any, where: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a number of seconds") from None
    if seconds <= 0:
        raise ConfigError(f"{where}: must be more than 0")
    return seconds
