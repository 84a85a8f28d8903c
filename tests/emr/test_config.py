"""Configuration: secrets from the environment or a secrets file, never a default
in production; service tokens and their scopes; the EMR's port and stations."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from emr.config import EmrConfig, ServiceToken, load_config
from imaging_common.exceptions import ConfigError
from imaging_common.settings import DEFAULT_CONFIG

STRONG = "s" * 40


def network(tmp_path: Path, emr_table: str) -> Path:
    """The default network file with another ``[emr]`` table."""
    nodes = DEFAULT_CONFIG.read_text().split("\n[emr]")[0]
    path = tmp_path / "network.toml"
    path.write_text(nodes + "\n" + emr_table)
    return path


def test_defaults_come_from_the_network_file(tmp_path: Path) -> None:
    config = load_config(["--data-dir", str(tmp_path)], environ={})
    assert config.http_port == 5000
    assert config.environment == "development"
    assert config.stations == ("FUNDUS_CAM1",)
    assert config.database_url == f"sqlite:///{tmp_path.resolve()}/emr.db"
    assert config.service_tokens == ()
    assert not config.session_cookie_secure


def test_development_secret_is_random_kept_and_private(tmp_path: Path) -> None:
    first = load_config(["--data-dir", str(tmp_path)], environ={})
    second = load_config(["--data-dir", str(tmp_path)], environ={})
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 32
    mode = (tmp_path / "emr-secret-key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


@pytest.mark.parametrize("secret", [None, "", "changeme", "dev", "short-but-not-placeholder"])
def test_production_refuses_a_missing_default_or_weak_secret(tmp_path: Path,
                                                             secret: str | None) -> None:
    env = {"FOVEA_ENV": "production"}
    if secret is not None:
        env["FOVEA_SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="production"):
        load_config(["--data-dir", str(tmp_path)], environ=env)


def test_production_takes_the_secret_and_secures_cookies(tmp_path: Path) -> None:
    config = load_config(["--data-dir", str(tmp_path)],
                         environ={"FOVEA_ENV": "production", "FOVEA_SECRET_KEY": STRONG})
    assert config.production and config.secret_key == STRONG
    assert config.session_cookie_secure
    assert not (tmp_path / "emr-secret-key").exists()


def test_service_tokens_from_environment_and_secrets_file(tmp_path: Path) -> None:
    path = network(tmp_path, """
[emr]
timezone = "Europe/Paris"
stations = ["CAM_A", "CAM_B"]
[emr.services.worklist]
scopes = ["orders:read", "orders:state", "patients:read"]
[emr.services.ai]
scopes = ["orders:read", "results:write"]
""")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'secret_key = "{STRONG}"\n[tokens]\nai = "{"a" * 40}"\n')
    config = load_config(["--config", str(path), "--data-dir", str(tmp_path), "--port", "5050"],
                         environ={"FOVEA_EMR_SECRETS": str(secrets),
                                  "FOVEA_EMR_TOKEN_WORKLIST": "w" * 40,
                                  "FOVEA_ENV": "production"})
    tokens = {t.service: t for t in config.service_tokens}
    assert tokens["worklist"].token == "w" * 40
    assert tokens["worklist"].scopes == {"orders:read", "orders:state", "patients:read"}
    assert tokens["ai"].scopes == {"orders:read", "results:write"}
    assert config.secret_key == STRONG
    assert config.stations == ("CAM_A", "CAM_B")
    assert config.http_port == 5050
    assert config.timezone == "Europe/Paris"
    assert "a" * 40 not in repr(config)  # secrets stay out of reprs (and so of logs)


def test_the_default_network_file_declares_the_services(tmp_path: Path) -> None:
    config = load_config(["--data-dir", str(tmp_path)],
                         environ={"FOVEA_EMR_TOKEN_WORKLIST": "w-token",
                                  "FOVEA_EMR_TOKEN_AI": "a-token"})
    assert {t.service: t.scopes for t in config.service_tokens} == {
        "worklist": {"orders:read", "orders:state", "patients:read"},
        "ai": {"orders:read", "orders:state", "patients:read", "results:write"}}


@pytest.mark.parametrize(("table", "message"), [
    ("[emr]\ncolour = 'red'\n", "unknown keys"),
    ("[emr]\nlogin_max_failures = 'many'\n", "positive whole number"),
])
def test_bad_emr_tables_are_refused(tmp_path: Path, table: str, message: str) -> None:
    path = network(tmp_path, table)
    with pytest.raises(ConfigError, match=message):
        load_config(["--config", str(path), "--data-dir", str(tmp_path)], environ={})


def test_a_token_for_an_undeclared_service_is_refused(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[tokens]\nstranger = "x"\n')
    with pytest.raises(ConfigError, match="does not declare"):
        load_config(["--data-dir", str(tmp_path)], environ={"FOVEA_EMR_SECRETS": str(secrets)})


def test_production_refuses_weak_tokens_and_unknown_scopes() -> None:
    with pytest.raises(ConfigError, match="token of service 'ai'"):
        EmrConfig(secret_key=STRONG, database_url="sqlite://", environment="production",
                  service_tokens=(ServiceToken("ai", "short", frozenset()),))
    with pytest.raises(ConfigError, match="unknown scopes"):
        EmrConfig(secret_key=STRONG, database_url="sqlite://",
                  service_tokens=(ServiceToken("ai", "t", frozenset({"everything"})),))
    with pytest.raises(ConfigError, match="time zone"):
        EmrConfig(secret_key=STRONG, database_url="sqlite://", timezone="Mars/Olympus")
