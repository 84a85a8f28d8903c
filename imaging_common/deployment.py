"""Deployment modes, and what production mode asks of a service's secrets.

Every service with a secret (a session key, a bearer token on the EMR) runs
in one of :data:`ENVIRONMENTS`, chosen by ``--environment``, ``FOVEA_ENV`` or
its table of the network file. In production it refuses to start with a
secret that is missing, a known placeholder, or shorter than
:data:`MIN_SECRET_LENGTH` characters (:func:`check_production_secret`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from imaging_common.exceptions import ConfigError

__all__ = [
    "ENVIRONMENTS",
    "MIN_SECRET_LENGTH",
    "PLACEHOLDER_SECRETS",
    "PRODUCTION",
    "check_environment",
    "check_production_secret",
    "is_weak_secret",
    "kept_secret",
]

ENVIRONMENTS = ("development", "production", "testing")
PRODUCTION = "production"

#: Values that look like secrets but are not; refused in production.
PLACEHOLDER_SECRETS = frozenset(
    {"", "dev", "development", "secret", "changeme", "change-me", "change_me",
     "please-change-me", "test", "testing", "fovea", "default", "password"}
)

#: The shortest secret production accepts (``secrets.token_urlsafe(32)`` gives 43).
MIN_SECRET_LENGTH = 32


def check_environment(environment: str) -> str:
    """Return ``environment`` if it is one of :data:`ENVIRONMENTS`.

    Raises:
        ConfigError: it is not.
    """
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"environment {environment!r} is not one of {ENVIRONMENTS}")
    return environment


def is_weak_secret(value: str) -> bool:
    """Whether ``value`` is a placeholder or too short to be a production secret."""
    return value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH


def check_production_secret(what: str, value: str, source: str) -> None:
    """Refuse a weak ``value`` for a production service.

    Args:
        what: the secret in words, e.g. ``"the secret key"``.
        value: the secret.
        source: where it is set, e.g. ``"FOVEA_SECRET_KEY"``.

    Raises:
        ConfigError: the secret is empty, a placeholder, or too short.
    """
    if is_weak_secret(value):
        raise ConfigError(
            f"{what} must be set to a random value of at least {MIN_SECRET_LENGTH} "
            f"characters in production ({source})")


def kept_secret(path: Path) -> str:
    """A random key kept in ``path`` (readable by its owner only), made on first use.

    Outside production a service without a configured key keeps one here, so
    that its sessions outlive a restart; two processes starting together get
    the same key.
    """
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key)
    return key
