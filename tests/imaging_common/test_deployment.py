"""What production mode asks of a secret, shared by every service that has one."""

from __future__ import annotations

import pytest

from imaging_common.deployment import (
    MIN_SECRET_LENGTH,
    check_environment,
    check_production_secret,
    is_weak_secret,
)
from imaging_common.exceptions import ConfigError


@pytest.mark.parametrize("secret", ["", "changeme", "  Password ", "x" * (MIN_SECRET_LENGTH - 1)])
def test_placeholders_and_short_secrets_are_weak(secret: str) -> None:
    assert is_weak_secret(secret)
    with pytest.raises(ConfigError, match=r"the key must be set .* in production \(FOVEA_KEY\)"):
        check_production_secret("the key", secret, "FOVEA_KEY")


def test_a_long_random_secret_passes() -> None:
    secret = "Zq8" * MIN_SECRET_LENGTH
    assert not is_weak_secret(secret)
    check_production_secret("the key", secret, "FOVEA_KEY")


def test_environments_are_named() -> None:
    assert check_environment("production") == "production"
    with pytest.raises(ConfigError, match="not one of"):
        check_environment("prod")
