"""The AI node in production: no default, placeholder or short secret (EMR token,
page key), and no page key made up on the spot."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai_node.__main__ import main
from ai_node.config import load_config, with_page_secret
from imaging_common.exceptions import ConfigError
from tests.ai_node.node_peers import AI_TOKEN, write_node_network

STRONG_TOKEN = "t" * 40
STRONG_KEY = "k" * 40


@pytest.fixture
def args(tmp_path: Path) -> list[str]:
    network = write_node_network(tmp_path / "network.toml")
    return ["--config", str(network.path), "--data-dir", str(tmp_path / "data")]


def test_production_refuses_a_weak_emr_token(args: list[str]) -> None:
    production = {"FOVEA_ENV": "production", "FOVEA_AI_SECRET_KEY": STRONG_KEY}
    for weak in (AI_TOKEN, "changeme"):  # AI_TOKEN has 29 characters
        with pytest.raises(ConfigError, match=r"EMR token .* \(FOVEA_EMR_TOKEN_AI\)"):
            load_config(args, {**production, "FOVEA_EMR_TOKEN_AI": weak})
    config = load_config(args, {**production, "FOVEA_EMR_TOKEN_AI": STRONG_TOKEN})
    assert config.production and with_page_secret(config).secret_key == STRONG_KEY


def test_production_refuses_a_weak_page_key(args: list[str]) -> None:
    env = {"FOVEA_EMR_TOKEN_AI": STRONG_TOKEN, "FOVEA_AI_SECRET_KEY": "secret"}
    with pytest.raises(ConfigError, match=r"secret key .* \(FOVEA_AI_SECRET_KEY\)"):
        load_config([*args, "--environment", "production"], env)
    assert not load_config(args, env).production  # development takes what it is given


def test_production_needs_the_page_key_but_workers_do_not(args: list[str]) -> None:
    env = {"FOVEA_EMR_TOKEN_AI": STRONG_TOKEN, "FOVEA_ENV": "production"}
    config = load_config(args, env)  # what a worker loads: no page, no page key
    with pytest.raises(ConfigError, match="FOVEA_AI_SECRET_KEY is not set"):
        with_page_secret(config)
    development = with_page_secret(load_config(args, {"FOVEA_EMR_TOKEN_AI": AI_TOKEN}))
    assert len(development.secret_key) >= 32  # kept in the node's folder


def test_the_environment_comes_from_the_ai_table_too(args: list[str]) -> None:
    network = Path(args[1])
    network.write_text(network.read_text().replace("[ai]\n", '[ai]\nenvironment = "production"\n'))
    with pytest.raises(ConfigError, match="production"):
        load_config(args, {"FOVEA_EMR_TOKEN_AI": AI_TOKEN})
    network.write_text(network.read_text().replace('"production"', '"staging"'))
    with pytest.raises(ConfigError, match="not one of"):
        load_config(args, {"FOVEA_EMR_TOKEN_AI": STRONG_TOKEN})


def test_python_m_ai_node_exits_with_a_message(args: list[str],
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FOVEA_ENV", "production")
    monkeypatch.setenv("FOVEA_EMR_TOKEN_AI", STRONG_TOKEN)
    monkeypatch.delenv("FOVEA_AI_SECRET_KEY", raising=False)
    monkeypatch.delenv("FOVEA_CONFIG", raising=False)
    assert main(args) == 2
    assert "FOVEA_AI_SECRET_KEY is not set" in capsys.readouterr().err


def test_the_report_links_use_the_emr_page_url_when_given(args: list[str]) -> None:
    config = load_config(args, {"FOVEA_EMR_TOKEN_AI": AI_TOKEN})
    assert config.emr_page_url == ""  # the page links to emr_url
    given = load_config(args, {"FOVEA_EMR_TOKEN_AI": AI_TOKEN,
                               "FOVEA_EMR_PAGE_URL": "https://emr.example.org"})
    assert given.emr_page_url == "https://emr.example.org"
