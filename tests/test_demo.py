"""scripts/demo.py: the page parsing it relies on and its failure path (no network)."""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "demo.py"


@pytest.fixture(scope="module")
def demo() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("fovea_demo", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defined
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_csrf_token_and_visible_errors(demo: ModuleType) -> None:
    page = demo.Page("http://x/login", 200, (
        '<p id="emr-error" class="flash flash-error" hidden></p>'
        '<p class="flash flash-error" role="alert">Unknown user &amp; password.</p>'
        '<input id="csrf_token" name="csrf_token" type="hidden" value="abc.def">'
        '<p class="error" id="mrn-error">already <b>taken</b></p>'))
    assert page.csrf_token() == "abc.def"
    assert page.error_messages() == ["Unknown user & password.", "already taken"]


def test_page_without_form_is_a_demo_error(demo: ModuleType) -> None:
    with pytest.raises(demo.DemoError, match="no form"):
        demo.Page("http://x/", 200, "<p>nothing</p>").csrf_token()


def test_secrets_environment_wins(demo: ModuleType, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secrets.env"
    path.write_text("# comment\nFOVEA_DEMO_PASSWORD=file\nFOVEA_EMR_TOKEN_AI=token\n")
    monkeypatch.setenv("FOVEA_DEMO_PASSWORD", "env")
    assert demo.read_secrets(path) == {"FOVEA_DEMO_PASSWORD": "env",
                                       "FOVEA_EMR_TOKEN_AI": "token"}


def test_no_network_fails_with_a_message(demo: ModuleType, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    network = tmp_path / "network.toml"
    network.write_text(f'[nodes.emr]\nhost = "127.0.0.1"\nhttp_port = {port}\n')
    (tmp_path / "secrets.env").write_text("FOVEA_DEMO_PASSWORD=x\nFOVEA_EMR_TOKEN_AI=y\n")
    assert demo.main(["--data-dir", str(tmp_path), "--network", str(network)]) == 1
    assert "did not answer" in capsys.readouterr().err
