"""The network file and its overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from imaging_common.exceptions import ConfigError
from imaging_common.settings import DEFAULT_CONFIG, load_settings, validate_ae_title


def test_default_network_matches_the_design() -> None:
    settings = load_settings("pacs", [], environ={})
    assert (settings.ae_title, settings.node.port) == ("FOVEA_PACS", 11112)
    assert settings.node.move_destinations == ("FOVEA_AI", "WEASIS_AE")
    network = settings.network
    assert {n.name: (n.ae_title, n.port) for n in network.nodes if n.port} == {
        "pacs": ("FOVEA_PACS", 11112), "worklist": ("FOVEA_MWL", 11113),
        "ai": ("FOVEA_AI", 11114), "viewer": ("WEASIS_AE", 11115),
    }
    assert network.node("station").ae_title == "FUNDUS_CAM1"
    assert settings.config_path == DEFAULT_CONFIG


def test_options_beat_environment_beat_file(tmp_path: Path) -> None:
    env = {"FOVEA_PORT": "2000", "FOVEA_AE_TITLE": "ENV_AE", "FOVEA_DATA_DIR": str(tmp_path)}
    from_env = load_settings("pacs", [], environ=env)
    assert (from_env.node.port, from_env.ae_title) == (2000, "ENV_AE")
    assert from_env.database_url == f"sqlite:///{tmp_path.resolve()}/pacs.db"
    assert from_env.network.find_ae("ENV_AE") is from_env.node
    from_cli = load_settings("pacs", ["--port", "3000", "--ae-title", "CLI_AE"], environ=env)
    assert (from_cli.node.port, from_cli.ae_title) == (3000, "CLI_AE")


def test_database_url_from_environment() -> None:
    settings = load_settings("pacs", [], environ={"DATABASE_URL": "postgresql:///fovea"})
    assert settings.database_url == "postgresql:///fovea"


def test_settings_are_frozen() -> None:
    settings = load_settings("pacs", [], environ={})
    with pytest.raises(AttributeError):
        settings.node = settings.node  # type: ignore[misc]


@pytest.mark.parametrize("title", ["", " ", "A" * 17, "BAD\\AE", "TAB\tAE", "ÄE"])
def test_bad_ae_titles_are_refused(title: str) -> None:
    with pytest.raises(ConfigError):
        validate_ae_title(title)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[nodes.pacs]\nae_title = 'X'\nport = 99999\n", "outside"),
        ("[nodes.pacs]\nae_title = 'X'\ncolour = 'red'\n", "unknown keys"),
        ("[nodes.pacs]\nae_title = 'X'\n[nodes.other]\nae_title = 'X'\n", "more than one"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_network_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "network.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings("pacs", ["--config", str(path)], environ={})


def test_missing_network_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings("pacs", [], environ={"FOVEA_CONFIG": str(tmp_path / "none.toml")})
