"""The EMR's configuration, read once at start-up into a frozen :class:`EmrConfig`.

Sources, highest first: command-line options and ``FOVEA_*`` environment
variables (through :func:`imaging_common.settings.load_settings`), the secrets
file named by ``FOVEA_EMR_SECRETS``, the ``[emr]`` table of the network file,
built-in defaults. Secrets never live in the network file:

- ``FOVEA_SECRET_KEY`` (or ``secret_key`` in the secrets file) signs sessions
  and CSRF tokens. In production it is required, at least 32 characters and not
  a known placeholder; elsewhere a random key is kept in ``<data_dir>/emr-secret-key``.
- ``FOVEA_EMR_TOKEN_<SERVICE>`` (or ``[tokens] <service> = ...`` in the secrets
  file) is the bearer token of a service whose scopes ``[emr.services.<service>]``
  declares in the network file.
- ``FOVEA_SIGN_ON_SECRET_<APP>`` (or ``[sign_on] <app> = ...`` in the secrets file)
  is the client secret of an app whose people sign on through the EMR
  (``[emr.sign_on.<app>]``: the roles it admits, where it takes people back).
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
from imaging_common.settings import (Network, Settings, load_settings, parse_boolean,
                                     service_argument_parser)
from imaging_common.web.serving import WebServing

__all__ = ["ENVIRONMENTS", "SCOPES", "EmrConfig", "ServiceToken", "SignOnClient",
           "load_config"]

#: What a service token may do on the REST API.
SCOPES = {
    "orders:read": "list and read orders",
    "orders:state": "change an order's state",
    "patients:read": "see the patient demographics of an order (for the worklist)",
    "results:write": "post AI results",
}


@dataclass(frozen=True)
class ServiceToken:
    """A bearer token a service presents on the REST API, and what it may do."""

    service: str
    token: str = field(repr=False)
    scopes: frozenset[str]


@dataclass(frozen=True)
class SignOnClient:
    """An app whose people sign on through the EMR (:mod:`emr.sign_on`).

    Attributes:
        name: the app's node name (``station``, ``ai``).
        secret: what the app shows when it trades a code or checks a session.
        roles: the roles that may use the app.
        return_url: where the browser goes back to with a one-time code.
    """

    name: str
    secret: str = field(repr=False)
    roles: frozenset[str]
    return_url: str


@dataclass(frozen=True)
class EmrConfig:
    """Everything the EMR process needs, fixed at start-up.

    Attributes:
        secret_key: signs the session cookie and CSRF tokens.
        database_url: SQLAlchemy URL (SQLite under ``data_dir`` by default).
        environment: ``development``, ``production`` or ``testing``.
        service_tokens: the REST API's callers and their scopes.
        stations: AE titles of the stations an order may be scheduled on
            (PS3.4 K.6.1.2.2 Scheduled Station AE Title); the worklist's callers.
        session_cookie_secure: send the session cookie over HTTPS only.
        login_max_failures: failed log-ins, per account or address, before a pause.
        login_window: how far back failed log-ins count, and the pause's length.
        password_hash_method: werkzeug's hashing method (scrypt by default).
        auto_migrate: upgrade the database schema when the app is created.
        max_heatmap_bytes: the largest heat map image an AI result may carry.
        timezone: the site's IANA time zone; forms and pages use its local time.
        institution: the organisation the EMR serves: the Verifying
            Organization of the reports its ophthalmologists sign.
        dicom: the EMR node's network settings as a DICOM peer (its AE title,
            the PACS node it calls, timeouts and TLS); ``None``: the EMR calls
            no DICOM peer, and the report shows no photograph from the PACS.
        archive_resend_seconds: how often the EMR's process sends again what the
            PACS has not taken yet (signed and printable reports).
        image_cache_mb: the most megabytes of photographs fetched from the
            PACS kept on disk (``<data_dir>/photographs``); the least recently
            used go first.
    """

    secret_key: str = field(repr=False)
    database_url: str
    environment: str = "development"
    data_dir: Path = Path("var")
    bind_address: str = "127.0.0.1"
    http_port: int = 5000
    log_format: str = "auto"
    service_tokens: tuple[ServiceToken, ...] = ()
    sign_on_clients: tuple[SignOnClient, ...] = ()
    stations: tuple[str, ...] = ("FUNDUS_CAM1",)
    session_cookie_secure: bool = False
    session_lifetime: timedelta = timedelta(hours=8)
    login_max_failures: int = 5
    login_window: timedelta = timedelta(minutes=15)
    password_hash_method: str = "scrypt"
    auto_migrate: bool = True
    max_heatmap_bytes: int = 2 * 1024 * 1024
    timezone: str = "UTC"
    institution: str = "Fovea screening service"
    dicom: Settings | None = field(default=None, repr=False)
    web: WebServing = WebServing()
    image_cache_mb: int = 512
    archive_resend_seconds: int = 60

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise ConfigError(f"environment {self.environment!r} is not one of {ENVIRONMENTS}")
        if self.environment == "production":
            _check_production_secret("the secret key", self.secret_key)
            for token in self.service_tokens:
                _check_production_secret(f"the token of service {token.service!r}", token.token)
            for client in self.sign_on_clients:
                _check_production_secret(f"the sign-on secret of {client.name!r}", client.secret)
        if not self.secret_key:
            raise ConfigError("the secret key is empty")
        if not self.institution.strip() or len(self.institution) > 64:
            raise ConfigError("institution must be 1 to 64 characters (a DICOM long string)")
        if self.image_cache_mb < 1:
            raise ConfigError(f"image_cache_mb {self.image_cache_mb} is not a positive number")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {self.timezone!r}") from None
        names = [t.service for t in self.service_tokens]
        if len(set(names)) != len(names):
            raise ConfigError("a service is named twice in the service tokens")
        for token in self.service_tokens:
            unknown = token.scopes - set(SCOPES)
            if unknown:
                raise ConfigError(f"service {token.service!r}: unknown scopes {sorted(unknown)}")

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def production(self) -> bool:
        """Whether this process runs in production mode."""
        return self.environment == "production"


def _check_production_secret(what: str, value: str) -> None:
    check_production_secret(what, value, "FOVEA_SECRET_KEY, FOVEA_EMR_TOKEN_<SERVICE> "
                                         "or the file FOVEA_EMR_SECRETS names")


def argument_parser() -> argparse.ArgumentParser:
    """The options of ``python -m emr``: the shared service options and the mode."""
    parser = service_argument_parser("Fovea EMR: patients, prescriptions, reports, REST API")
    parser.add_argument("--environment", choices=ENVIRONMENTS,
                        help="development, production or testing (FOVEA_ENV)")
    return parser


def load_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> EmrConfig:
    """Build the EMR's configuration from options, environment and files.

    ``--port`` (``FOVEA_PORT``) overrides the EMR node's ``http_port``.

    Raises:
        ConfigError: a value is missing, malformed, or unsafe in production.
    """
    env = os.environ if environ is None else environ
    settings = load_settings("emr", argv if argv is not None else [], env,
                             parser=argument_parser())
    table = _emr_table(settings.config_path)
    secret_file = _read_secrets(env.get("FOVEA_EMR_SECRETS"))
    environment = (settings.extra.get("environment") or env.get("FOVEA_ENV")
                   or table.get("environment", "development"))
    secret_key = env.get("FOVEA_SECRET_KEY") or str(secret_file.get("secret_key", ""))
    if not secret_key and environment != "production":
        secret_key = kept_secret(settings.data_dir / "emr-secret-key")
    http_port = settings.node.port or settings.node.http_port or 5000
    return EmrConfig(
        secret_key=secret_key,
        database_url=settings.database_url,
        environment=str(environment),
        data_dir=settings.data_dir,
        bind_address=settings.bind_address,
        http_port=http_port,
        log_format=settings.log_format,
        service_tokens=_service_tokens(table, secret_file, env),
        sign_on_clients=_sign_on_clients(settings.network, table, secret_file, env),
        stations=_stations(settings.network, table),
        session_cookie_secure=_flag(
            env.get("FOVEA_EMR_COOKIE_SECURE", table.get("cookie_secure")),
            default=environment == "production"),
        session_lifetime=_minutes(table, "session_minutes", 480),
        login_max_failures=_whole(table, "login_max_failures", 5),
        login_window=_minutes(table, "login_window_minutes", 15),
        timezone=str(env.get("FOVEA_TIMEZONE") or table.get("timezone", "UTC")),
        institution=str(table.get("institution", "Fovea screening service")),
        dicom=settings if settings.node.ae_title is not None else None,
        web=settings.web,
        image_cache_mb=_whole(table, "image_cache_mb", 512),
        archive_resend_seconds=_whole(table, "archive_resend_seconds", 60),
    )


#: Keys the ``[emr]`` table of the network file may hold.
EMR_KEYS = frozenset({"environment", "timezone", "institution", "stations", "cookie_secure",
                      "login_max_failures", "login_window_minutes", "session_minutes",
                      "services", "sign_on", "image_cache_mb", "archive_resend_seconds"})


def _emr_table(path: Path) -> dict[str, Any]:
    """The ``[emr]`` table of the network file (the AE table lives in ``[nodes]``)."""
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    table = document.get("emr", {})
    if not isinstance(table, dict):
        raise ConfigError("[emr] in the network file must be a table")
    unknown = set(table) - EMR_KEYS
    if unknown:
        raise ConfigError(f"[emr]: unknown keys {sorted(unknown)}")
    return table


def _minutes(table: Mapping[str, Any], key: str, default: int) -> timedelta:
    return timedelta(minutes=_whole(table, key, default))


def _whole(table: Mapping[str, Any], key: str, default: int) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"[emr] {key}: {value!r} is not a positive whole number")
    return value


def _read_secrets(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"secrets file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"secrets file {path} is not valid TOML: {exc}") from None


def _service_tokens(
    table: Mapping[str, Any], secret_file: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[ServiceToken, ...]:
    declared = table.get("services", {})
    from_file = secret_file.get("tokens", {})
    unknown = set(from_file) - set(declared)
    if unknown:
        raise ConfigError(f"tokens for services the network file does not declare: "
                          f"{sorted(unknown)}")
    tokens = []
    for service, spec in declared.items():
        token = env.get(f"FOVEA_EMR_TOKEN_{service.upper()}") or from_file.get(service)
        if token:
            tokens.append(ServiceToken(service, str(token), frozenset(spec.get("scopes", ()))))
    return tuple(tokens)


def _stations(network: Network, table: Mapping[str, Any]) -> tuple[str, ...]:
    """Stations: ``[emr] stations``, else the worklist's callers, else the station node."""
    if "stations" in table:
        return tuple(str(s) for s in table["stations"])
    for node in network.nodes:
        if node.name == "worklist" and node.accepts:
            return tuple(sorted(node.accepts))
    station = next((n for n in network.nodes if n.name == "station"), None)
    return (station.ae_title,) if station and station.ae_title else ()


def _flag(value: Any, default: bool) -> bool:
    return default if value is None else parse_boolean(value)


#: The roles each app admits when the network file does not say.
DEFAULT_SIGN_ON_ROLES = {"station": ("technician",), "ai": ("nurse",)}


def _sign_on_clients(network: Network, table: Mapping[str, Any], secret_file: Mapping[str, Any],
                     env: Mapping[str, str]) -> tuple[SignOnClient, ...]:
    """The apps of ``[emr.sign_on]`` that have a secret; the others cannot sign anyone on."""
    declared = table.get("sign_on", {})
    from_file = secret_file.get("sign_on", {})
    clients = []
    for name, spec in declared.items():
        secret = env.get(f"FOVEA_SIGN_ON_SECRET_{name.upper()}") or from_file.get(name)
        if not secret:
            continue
        roles = frozenset(spec.get("roles", DEFAULT_SIGN_ON_ROLES.get(name, ())))
        return_url = (env.get(f"FOVEA_SIGN_ON_RETURN_URL_{name.upper()}") or spec.get("return_url")
                      or _node_url(network, name) + "/sign-on/return")
        clients.append(SignOnClient(name, str(secret), roles, str(return_url)))
    return tuple(clients)


def _node_url(network: Network, name: str) -> str:
    node = next((n for n in network.nodes if n.name == name), None)
    if node is None or not node.http_port:
        raise ConfigError(f"[emr.sign_on.{name}]: no node {name!r} with an http_port, "
                          "so give return_url")
    return f"http://{node.host}:{node.http_port}"
