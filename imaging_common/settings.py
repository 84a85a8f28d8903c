"""Settings: the network file and the overrides, read once into frozen objects.

A service calls :func:`load_settings` once in its entry point and passes the
result down; no other module reads the environment. Precedence, highest first:
command-line options, ``FOVEA_*`` environment variables, the network file
(``configs/network.toml`` unless ``--config`` or ``FOVEA_CONFIG`` names another),
built-in defaults.

Besides the ``[settings]`` table and the nodes (``[nodes.<name>]``), the
network file may hold a ``[tls]`` table (:mod:`imaging_common.tls`).
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from imaging_common.exceptions import ConfigError
from imaging_common.tls import TlsSettings
from imaging_common.web.serving import WebServing

__all__ = [
    "ANY_ADDRESS",
    "DEFAULT_CONFIG",
    "Network",
    "Node",
    "Settings",
    "TlsSettings",
    "load_network",
    "load_settings",
    "parse_boolean",
    "service_argument_parser",
    "validate_ae_title",
]

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "network.toml"

#: Defaults for the ``[settings]`` table of the network file.
DEFAULTS: Mapping[str, Any] = {
    "data_dir": "var",
    "max_associations": 32,
    "acse_timeout": 30.0,
    "dimse_timeout": 60.0,
    "network_timeout": 120.0,
    "log_format": "auto",
    "fsync": True,
}

LOG_FORMATS = ("auto", "json", "console")

#: Keys the ``[tls]`` table of the network file may hold (see :mod:`imaging_common.tls`).
TLS_KEYS = frozenset({"enabled", "certificate", "private_key", "ca_certificates",
                      "verify_clients", "check_hostname"})

#: Keys the ``[https]`` table may hold (see :mod:`imaging_common.web.serving`).
HTTPS_KEYS = frozenset({"enabled", "certificate", "private_key", "trusted_proxies", "threads"})

#: In ``calls_from``: associations of the node may come from any address.
ANY_ADDRESS = "*"


def validate_ae_title(value: str) -> str:
    """Return ``value`` if it is a valid AE title (PS3.5 6.2, VR AE).

    At most 16 characters of the default repertoire, no backslash, no control
    characters, not only spaces. Leading and trailing spaces are not significant
    and are removed.

    Raises:
        ConfigError: the value cannot be an AE title.
    """
    title = value.strip()
    if not title or len(title) > 16:
        raise ConfigError(f"AE title {value!r} must have 1 to 16 characters")
    if "\\" in title or any(ord(c) < 0x20 or ord(c) > 0x7E for c in title):
        raise ConfigError(
            f"AE title {value!r} may hold only printable ASCII, no backslash"
        )
    return title


@dataclass(frozen=True)
class Node:
    """One node of the network.

    Attributes:
        name: the node's key in the network file, e.g. ``"pacs"``.
        ae_title: its Application Entity title; ``None`` for HTTP-only nodes.
        host: the address peers use to reach it.
        port: its DIMSE port, ``None`` if it only acts as an SCU.
        http_port: its HTTP port, if it serves web pages or an API.
        metrics_port: the HTTP port of a DIMSE-only service's Prometheus
            metrics (``/metrics``); ``None`` or 0: not served.
        accepts: the calling AE titles this node accepts associations from.
        move_destinations: AE titles this node may send C-MOVE results to.
        tls: its DIMSE port speaks TLS (while the ``[tls]`` table is enabled).
        calls_from: the hosts, addresses or networks (``10.1.0.0/16``) its
            associations may come from, ``"*"`` for any; by default its
            ``host`` when the network file gives one, else unchecked.
    """

    name: str
    ae_title: str | None
    host: str = "127.0.0.1"
    port: int | None = None
    http_port: int | None = None
    metrics_port: int | None = None
    accepts: frozenset[str] = frozenset()
    move_destinations: tuple[str, ...] = ()
    tls: bool = False
    calls_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class Network:
    """The AE table: every node of the network, looked up by name or AE title."""

    nodes: tuple[Node, ...]

    def node(self, name: str) -> Node:
        """Return the node called ``name``; raise :class:`ConfigError` if none."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise ConfigError(f"the network file has no node named {name!r}")

    def find_ae(self, ae_title: str) -> Node | None:
        """Return the node whose AE title is ``ae_title``, or ``None``."""
        title = ae_title.strip()
        for node in self.nodes:
            if node.ae_title == title:
                return node
        return None

    def with_node(self, node: Node) -> Network:
        """Return a copy of the network with ``node`` replacing its namesake."""
        return Network(tuple(node if n.name == node.name else n for n in self.nodes))


@dataclass(frozen=True)
class Settings:
    """Everything one service process needs to know, fixed at start-up.

    Attributes:
        node: the node this process runs as, with overrides applied.
        network: the whole AE table (this node included, as overridden).
        config_path: the network file that was read.
        data_dir: folder for this service's files and embedded database.
        database_url: SQLAlchemy URL; SQLite under ``data_dir`` by default.
        bind_address: the address to listen on (the node's host by default).
        max_associations: concurrent associations accepted.
        acse_timeout: seconds to wait for association set-up and release.
        dimse_timeout: seconds to wait for a DIMSE reply.
        network_timeout: idle seconds before an association is closed.
        log_format: ``json``, ``console`` or ``auto``.
        fsync: flush files and directories to stable storage before answering.
        tls: the TLS identity and trust (``None``: TLS is off, every link is plain).
        web: how a web app's pages are served (HTTPS, trusted proxies, threads).
    """

    node: Node
    network: Network
    config_path: Path
    data_dir: Path
    database_url: str
    bind_address: str
    max_associations: int = 32
    acse_timeout: float = 30.0
    dimse_timeout: float = 60.0
    network_timeout: float = 120.0
    log_format: str = "auto"
    fsync: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)
    tls: TlsSettings | None = None
    web: WebServing = WebServing()

    @property
    def ae_title(self) -> str:
        """This node's AE title (always set for a DIMSE service)."""
        if self.node.ae_title is None:
            raise ConfigError(f"node {self.node.name!r} has no AE title")
        return self.node.ae_title


def _parse_node(name: str, table: Mapping[str, Any]) -> Node:
    known = {"ae_title", "host", "port", "http_port", "metrics_port", "accepts",
             "move_destinations", "tls", "calls_from"}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"node {name!r}: unknown keys {sorted(unknown)}")
    ae_title = table.get("ae_title")
    host = str(table.get("host", "127.0.0.1"))
    return Node(
        name=name,
        ae_title=validate_ae_title(ae_title) if ae_title is not None else None,
        host=host,
        port=_port(table.get("port"), f"nodes.{name}.port"),
        http_port=_port(table.get("http_port"), f"nodes.{name}.http_port"),
        metrics_port=_port(table.get("metrics_port"), f"nodes.{name}.metrics_port"),
        accepts=frozenset(validate_ae_title(a) for a in table.get("accepts", ())),
        move_destinations=tuple(
            validate_ae_title(a) for a in table.get("move_destinations", ())
        ),
        tls=parse_boolean(table.get("tls", False)),
        calls_from=_calls_from(table.get("calls_from", [host] if "host" in table else []),
                               f"nodes.{name}.calls_from"),
    )


def _calls_from(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: {value!r} is not a list of hosts")
    hosts = tuple(str(v).strip() for v in value)
    if any(not h or any(c.isspace() for c in h) for h in hosts):
        raise ConfigError(f"{where}: {value!r} holds an empty or spaced host")
    return hosts


def _port(value: Any, where: str) -> int | None:
    if value is None:
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{where}: {port} is outside 0-65535")
    return port


def load_network(path: Path) -> tuple[Network, dict[str, Any]]:
    """Read a network file; return the AE table and its ``[settings]`` table.

    Raises:
        ConfigError: the file is missing, is not TOML, or names a bad value.
    """
    return _network(_read_document(path))


def _read_document(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"network file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"network file {path} is not valid TOML: {exc}") from None


def _network(document: Mapping[str, Any]) -> tuple[Network, dict[str, Any]]:
    nodes = tuple(
        _parse_node(name, table) for name, table in document.get("nodes", {}).items()
    )
    titles = [n.ae_title for n in nodes if n.ae_title]
    duplicated = {t for t in titles if titles.count(t) > 1}
    if duplicated:
        raise ConfigError(f"AE titles used by more than one node: {sorted(duplicated)}")
    return Network(nodes), dict(document.get("settings", {}))


def service_argument_parser(description: str) -> argparse.ArgumentParser:
    """Return the parser with the options every DIMSE service accepts."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, help="network file (FOVEA_CONFIG)")
    parser.add_argument("--port", type=int, help="listening port (FOVEA_PORT)")
    parser.add_argument("--ae-title", help="own AE title (FOVEA_AE_TITLE)")
    parser.add_argument("--data-dir", type=Path, help="data folder (FOVEA_DATA_DIR)")
    parser.add_argument("--database-url", help="SQLAlchemy URL (DATABASE_URL)")
    parser.add_argument("--bind", help="address to listen on (FOVEA_BIND)")
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS, help="log output (FOVEA_LOG_FORMAT)"
    )
    return parser


def load_settings(
    node_name: str,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    description: str = "",
    parser: argparse.ArgumentParser | None = None,
) -> Settings:
    """Build the :class:`Settings` of the service that runs as ``node_name``.

    Args:
        node_name: the node's key in the network file (``"pacs"``, ...).
        argv: command-line arguments, ``sys.argv[1:]`` when ``None``.
        environ: the environment, ``os.environ`` when ``None``.
        description: the service's one-line description for ``--help``.
        parser: a parser made by :func:`service_argument_parser` to which the
            service added options of its own; their values land in ``extra``.

    Raises:
        ConfigError: a value in the file, the environment or the options is bad.
    """
    env = os.environ if environ is None else environ
    parser = parser or service_argument_parser(description)
    args = parser.parse_args(argv)

    config_path = Path(args.config or env.get("FOVEA_CONFIG") or DEFAULT_CONFIG)
    document = _read_document(config_path)
    network, file_settings = _network(document)
    network = _tls_nodes(network, env.get("FOVEA_TLS_NODES"))
    tls = _tls_settings(document.get("tls"), config_path.parent, env)
    unknown = set(file_settings) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"[settings]: unknown keys {sorted(unknown)}")
    values = {**DEFAULTS, **file_settings}

    def pick(option: Any, variable: str, current: Any) -> Any:
        if option is not None:
            return option
        return env.get(variable, current)

    node = network.node(node_name)
    ae_title = pick(args.ae_title, "FOVEA_AE_TITLE", node.ae_title)
    node = replace(
        node,
        ae_title=validate_ae_title(ae_title) if ae_title is not None else None,
        port=_port(pick(args.port, "FOVEA_PORT", node.port), "port"),
        # --metrics-port exists where the service added it (imaging_common.metrics).
        metrics_port=_port(pick(getattr(args, "metrics_port", None), "FOVEA_METRICS_PORT",
                                node.metrics_port), "metrics_port"),
    )
    network = network.with_node(node)

    data_dir = Path(pick(args.data_dir, "FOVEA_DATA_DIR", values["data_dir"]))
    default_db = f"sqlite:///{(data_dir / f'{node_name}.db').resolve()}"
    database_url = pick(
        args.database_url, "FOVEA_DATABASE_URL", env.get("DATABASE_URL", default_db)
    )
    log_format = pick(args.log_format, "FOVEA_LOG_FORMAT", values["log_format"])
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"log format {log_format!r} is not one of {LOG_FORMATS}")

    if tls is not None and node.ae_title is not None:
        tls.check()  # a DIMSE service: its TLS files must load now, not at the first peer

    extra = {
        k: v for k, v in vars(args).items()
        if k not in {"config", "port", "ae_title", "data_dir", "database_url",
                     "bind", "log_format", "metrics_port"}
    }
    return Settings(
        node=node,
        network=network,
        config_path=config_path,
        data_dir=data_dir,
        database_url=database_url,
        bind_address=pick(args.bind, "FOVEA_BIND", node.host),
        max_associations=_positive_int(
            env.get("FOVEA_MAX_ASSOCIATIONS", values["max_associations"]),
            "max_associations",
        ),
        acse_timeout=float(values["acse_timeout"]),
        dimse_timeout=float(values["dimse_timeout"]),
        network_timeout=float(values["network_timeout"]),
        log_format=log_format,
        fsync=parse_boolean(env.get("FOVEA_FSYNC", values["fsync"])),
        extra=extra,
        tls=tls,
        web=_web_serving(document.get("https"), config_path.parent, env),
    )


def _tls_settings(table: Any, base: Path, env: Mapping[str, str]) -> TlsSettings | None:
    """The ``[tls]`` table with its ``FOVEA_TLS*`` overrides; ``None`` when disabled.

    Paths in the file are relative to ``base`` (the network file's folder).
    """
    table = {} if table is None else table
    if not isinstance(table, dict):
        raise ConfigError("[tls] in the network file must be a table")
    unknown = set(table) - TLS_KEYS
    if unknown:
        raise ConfigError(f"[tls]: unknown keys {sorted(unknown)}")
    if not parse_boolean(env.get("FOVEA_TLS", table.get("enabled", False))):
        return None

    def path(key: str) -> Path:
        variable = f"FOVEA_TLS_{key.upper()}"
        if env.get(variable):
            return Path(env[variable])
        if not table.get(key):
            raise ConfigError(f"TLS is enabled but [tls] {key} is not set (nor {variable})")
        named = Path(str(table[key])).expanduser()
        return named if named.is_absolute() else base / named

    def flag(key: str) -> bool:
        return parse_boolean(env.get(f"FOVEA_TLS_{key.upper()}", table.get(key, True)))

    return TlsSettings(
        certificate=path("certificate"),
        private_key=path("private_key"),
        ca_certificates=path("ca_certificates"),
        verify_clients=flag("verify_clients"),
        check_hostname=flag("check_hostname"),
    )


def _web_serving(table: Any, base: Path, env: Mapping[str, str]) -> WebServing:
    """The ``[https]`` table with its ``FOVEA_HTTPS*`` overrides."""
    table = {} if table is None else table
    if not isinstance(table, dict):
        raise ConfigError("[https] in the network file must be a table")
    unknown = set(table) - HTTPS_KEYS
    if unknown:
        raise ConfigError(f"[https]: unknown keys {sorted(unknown)}")

    def path(key: str) -> Path | None:
        variable = f"FOVEA_HTTPS_{key.upper()}"
        if env.get(variable):
            return Path(env[variable])
        if not table.get(key):
            return None
        named = Path(str(table[key])).expanduser()
        return named if named.is_absolute() else base / named

    proxies = env.get("FOVEA_TRUSTED_PROXIES")
    return WebServing(
        https=parse_boolean(env.get("FOVEA_HTTPS", table.get("enabled", False))),
        certificate=path("certificate"), private_key=path("private_key"),
        trusted_proxies=tuple(proxies.replace(",", " ").split()) if proxies is not None
        else tuple(str(p) for p in table.get("trusted_proxies", ())),
        threads=_positive_int(env.get("FOVEA_HTTP_THREADS", table.get("threads", 16)),
                              "threads"))


def _tls_nodes(network: Network, names: str | None) -> Network:
    """``FOVEA_TLS_NODES`` (node names, comma- or space-separated) replaces the
    ``tls`` flags of the network file."""
    if names is None:
        return network
    chosen = set(names.replace(",", " ").split())
    unknown = chosen - {n.name for n in network.nodes}
    if unknown:
        raise ConfigError(f"FOVEA_TLS_NODES names unknown nodes {sorted(unknown)}")
    return Network(tuple(replace(n, tls=n.name in chosen) for n in network.nodes))


def _positive_int(value: Any, where: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a whole number") from None
    if number < 1:
        raise ConfigError(f"{where}: must be at least 1")
    return number


def parse_boolean(value: Any) -> bool:
    """A yes/no setting from TOML or the environment (1/0, true/false, yes/no, on/off).

    Raises:
        ConfigError: none of those.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{value!r} is not a yes/no value")
