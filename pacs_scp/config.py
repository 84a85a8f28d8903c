"""The archive's own settings: the ``[pacs]`` table of the network file.

Read once by the entry point (:func:`load_archive_config`) and passed down::

    [pacs]
    accept_unknown_storage = false  # also store private and unknown storage SOP classes
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from imaging_common.exceptions import ConfigError
from imaging_common.settings import parse_boolean

__all__ = ["PACS_KEYS", "ArchiveConfig", "load_archive_config"]

#: Keys the ``[pacs]`` table of the network file may hold.
PACS_KEYS = frozenset({"accept_unknown_storage"})


@dataclass(frozen=True)
class ArchiveConfig:
    """What the archive accepts beyond the standard.

    Attributes:
        accept_unknown_storage: accept, as storage, a SOP class that is not in
            PS3.4 Annex B but may be storage: a private class, or a standard
            one under the storage root that this version does not list (a
            retired or newer class). Off by default, as in Orthanc
            (``UnknownSopClassAccepted``): such an instance is kept, indexed
            and retrieved, but nothing in Fovea can display it.
    """

    accept_unknown_storage: bool = False


def load_archive_config(config_path: Path) -> ArchiveConfig:
    """Read the ``[pacs]`` table of the network file at ``config_path``.

    Raises:
        ConfigError: the file cannot be read, or the table holds an unknown
            key or a value that is not yes or no.
    """
    try:
        document = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"network file {config_path}: {exc}") from None
    table = document.get("pacs", {})
    if not isinstance(table, dict):
        raise ConfigError("[pacs] in the network file must be a table")
    unknown = set(table) - PACS_KEYS
    if unknown:
        raise ConfigError(f"[pacs]: unknown keys {sorted(unknown)}")
    try:
        accept_unknown_storage = parse_boolean(table.get("accept_unknown_storage", False))
    except ConfigError as exc:
        raise ConfigError(f"[pacs] accept_unknown_storage: {exc}") from None
    return ArchiveConfig(accept_unknown_storage=accept_unknown_storage)
