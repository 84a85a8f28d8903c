"""The station's configuration: the network file's station node, options and FOVEA_* overrides."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from imaging_common.exceptions import ConfigError
from modality_scu.config import RetryPolicy, load_config

from .conftest import free_port, write_network


def test_defaults_come_from_the_network_file(tmp_path: Path) -> None:
    config = load_config([], environ={"FOVEA_DATA_DIR": str(tmp_path)})
    assert config.http_port == 5001
    assert config.ae_title == "FUNDUS_CAM1"
    assert (config.worklist.ae_title, config.worklist.port) == ("FOVEA_MWL", 11113)
    assert (config.pacs.ae_title, config.pacs.port) == ("FOVEA_PACS", 11112)
    assert config.max_upload_bytes == 50 * 1024 * 1024
    assert config.settings.database_url.endswith(f"{tmp_path.resolve()}/station.db")
    assert config.environment == "development"
    assert not config.session_cookie_secure
    key_file = tmp_path / "station-secret-key"
    assert config.secret_key == key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_options_override_the_environment_and_the_file(tmp_path: Path) -> None:
    environ = {"FOVEA_PORT": "6002", "FOVEA_AE_TITLE": "FUNDUS_CAM9",
               "FOVEA_DATA_DIR": str(tmp_path / "env"), "FOVEA_STATION_SECRET_KEY": "k" * 40}
    config = load_config([], environ=environ)
    assert (config.http_port, config.ae_title) == (6002, "FUNDUS_CAM9")
    assert config.secret_key == "k" * 40
    config = load_config(["--port", "6001", "--ae-title", "FUNDUS_CAM2",
                          "--data-dir", str(tmp_path / "opt")], environ=environ)
    assert (config.http_port, config.ae_title) == (6001, "FUNDUS_CAM2")
    assert config.settings.data_dir == tmp_path / "opt"


def test_production_needs_a_real_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="secret key must be set"):
        load_config(["--environment", "production", "--data-dir", str(tmp_path)], environ={})
    with pytest.raises(ConfigError, match="secret key must be set"):
        load_config(["--environment", "production"],
                    environ={"FOVEA_STATION_SECRET_KEY": "changeme"})
    config = load_config(["--environment", "production"],
                         environ={"FOVEA_STATION_SECRET_KEY": "s" * 40})
    assert config.production and config.session_cookie_secure


def test_station_table_tunes_limits_and_retries(tmp_path: Path) -> None:
    network = write_network(tmp_path / "network.toml", free_port(), free_port(),
                            station="max_upload_mb = 2\nmax_images_per_eye = 2")
    config = load_config(["--config", str(network), "--data-dir", str(tmp_path)], environ={})
    assert config.max_upload_bytes == 2 * 1024 * 1024
    assert config.max_images_per_eye == 2
    assert config.retry == RetryPolicy(first=0.2, maximum=1.0)
    assert config.commitment_timeout == 5


@pytest.mark.parametrize(("line", "environ"), [
    ("colour = 'blue'", {}), ("max_upload_mb = -1", {}), ("max_images_per_eye = true", {}),
    ("", {"FOVEA_TIMEZONE": "Mars/Olympus"})])
def test_bad_station_settings_are_refused(tmp_path: Path, line: str,
                                          environ: dict[str, str]) -> None:
    network = write_network(tmp_path / "network.toml", free_port(), free_port(), station=line)
    with pytest.raises(ConfigError):
        load_config(["--config", str(network), "--data-dir", str(tmp_path)], environ=environ)


def test_backoff_doubles_up_to_its_maximum() -> None:
    policy = RetryPolicy(first=5, factor=2, maximum=60)
    assert [policy.delay(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert policy.delay(10_000) == 60
    with pytest.raises(ConfigError):
        RetryPolicy(first=0)


def test_simulated_capture_needs_demo_mode_and_never_runs_in_production(tmp_path: Path) -> None:
    assert not load_config(["--data-dir", str(tmp_path)], environ={}).demo
    assert load_config(["--data-dir", str(tmp_path)], environ={"FOVEA_DEMO": "1"}).demo
    network = write_network(tmp_path / "network.toml", free_port(), free_port(),
                            station="demo = true")
    assert load_config(["--config", str(network), "--data-dir", str(tmp_path)], environ={}).demo
    assert not load_config(["--config", str(network), "--data-dir", str(tmp_path)],
                           environ={"FOVEA_DEMO": "no"}).demo
    with pytest.raises(ConfigError, match="not a yes/no value"):
        load_config(["--data-dir", str(tmp_path)], environ={"FOVEA_DEMO": "perhaps"})
    with pytest.raises(ConfigError, match="not allowed in production"):
        load_config(["--environment", "production"],
                    environ={"FOVEA_STATION_SECRET_KEY": "s" * 40, "FOVEA_DEMO": "1"})
