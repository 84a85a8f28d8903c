"""The worklist's configuration: options over environment over the network file."""

from __future__ import annotations

from pathlib import Path

import pytest

from imaging_common.exceptions import ConfigError
from worklist.config import DEFAULT_CACHE_SECONDS, TOKEN_VARIABLE, load_config

from .conftest import TOKEN, write_network


@pytest.fixture
def network(tmp_path: Path) -> Path:
    return write_network(tmp_path / "network.toml", emr_port=5999, cache_seconds=2)


def test_the_network_file_gives_the_defaults(network: Path) -> None:
    config = load_config(["--config", str(network)], {TOKEN_VARIABLE: TOKEN})
    assert config.emr_url == "http://127.0.0.1:5999"
    assert config.emr_token == TOKEN
    assert (config.cache_seconds, config.emr_timeout) == (2, 3)
    assert config.settings.ae_title == "FOVEA_MWL"
    assert config.steps_dir == Path("var") / "mpps"
    assert TOKEN not in repr(config)


def test_options_override_the_environment_which_overrides_the_file(
        network: Path, tmp_path: Path) -> None:
    env = {TOKEN_VARIABLE: TOKEN, "FOVEA_CONFIG": str(network),
           "FOVEA_EMR_URL": "http://emr.example:8080/", "FOVEA_AE_TITLE": "ENV_MWL",
           "FOVEA_DATA_DIR": str(tmp_path / "env")}
    from_env = load_config([], env)
    assert from_env.emr_url == "http://emr.example:8080"
    assert from_env.settings.ae_title == "ENV_MWL"
    assert from_env.steps_dir == tmp_path / "env" / "mpps"
    from_options = load_config(["--emr-url", "https://emr.local", "--ae-title", "OPT_MWL",
                                "--port", "4242", "--data-dir", str(tmp_path / "opt")], env)
    assert from_options.emr_url == "https://emr.local"
    assert from_options.settings.ae_title == "OPT_MWL"
    assert from_options.settings.node.port == 4242
    assert from_options.steps_dir == tmp_path / "opt" / "mpps"


def test_the_shipped_network_file_is_usable() -> None:
    config = load_config([], {TOKEN_VARIABLE: TOKEN})
    assert config.settings.ae_title == "FOVEA_MWL"
    assert config.settings.node.port == 11113
    assert "FUNDUS_CAM1" in config.settings.node.accepts
    assert config.emr_url == "http://127.0.0.1:5000"
    assert config.cache_seconds == DEFAULT_CACHE_SECONDS


@pytest.mark.parametrize(("edit", "env", "message"), [
    (None, {}, "FOVEA_EMR_TOKEN_WORKLIST is not set"),
    (("accepts = [", "accepts = [] #"), {TOKEN_VARIABLE: TOKEN}, "accepts no station"),
    (("emr_timeout = 3", "emr_timeout = 0"), {TOKEN_VARIABLE: TOKEN}, "emr_timeout"),
    (("emr_cache_seconds", "cache = 1\nemr_cache_seconds"), {TOKEN_VARIABLE: TOKEN},
     r"unknown keys \['cache'\]"),
    (("emr_cache_seconds = 2", "emr_cache_seconds = -1"), {TOKEN_VARIABLE: TOKEN},
     "emr_cache_seconds"),
    (None, {TOKEN_VARIABLE: TOKEN, "FOVEA_EMR_URL": "ftp://emr"}, "not an http"),
])
def test_bad_settings_are_refused(network: Path, edit: tuple[str, str] | None,
                                  env: dict[str, str], message: str) -> None:
    if edit is not None:
        network.write_text(network.read_text().replace(*edit))
    with pytest.raises(ConfigError, match=message):
        load_config(["--config", str(network)], env)


def test_production_refuses_a_weak_or_placeholder_token(network: Path) -> None:
    strong = "w" * 40
    args = ["--config", str(network), "--environment", "production"]
    for weak in (TOKEN, "changeme", "Password"):  # TOKEN has 31 characters
        with pytest.raises(ConfigError, match="production .FOVEA_EMR_TOKEN_WORKLIST"):
            load_config(args, {TOKEN_VARIABLE: weak})
    assert load_config(args, {TOKEN_VARIABLE: strong}).production
    assert not load_config(["--config", str(network)], {TOKEN_VARIABLE: TOKEN}).production
    with pytest.raises(ConfigError, match="production"):
        load_config(["--config", str(network)], {TOKEN_VARIABLE: TOKEN, "FOVEA_ENV": "production"})
    network.write_text(network.read_text().replace("[worklist]\n",
                                                   '[worklist]\nenvironment = "production"\n'))
    with pytest.raises(ConfigError, match="production"):
        load_config(["--config", str(network)], {TOKEN_VARIABLE: TOKEN})
    assert load_config(["--config", str(network)], {TOKEN_VARIABLE: strong}).production
    with pytest.raises(ConfigError, match="not one of"):
        load_config(["--config", str(network)], {TOKEN_VARIABLE: strong, "FOVEA_ENV": "staging"})
