"""DICOM TLS settings (the ``[tls]`` table, ``tls = true`` nodes, FOVEA_TLS*) and our
SCU against DCMTK's storescp listening with TLS."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydicom import dcmread

from imaging_common.dimse import make_ae
from imaging_common.exceptions import ConfigError, PeerError
from imaging_common.settings import Settings, load_settings
from imaging_common.store_scu import store_instances
from tests.certificates import KeyPair, Pki, enable_tls, tls_options
from tests.conftest import DEST_AE, require_tool, wait_for_port, write_network
from tests.factory import make_instance


def _settings(network_file: Path, env: dict[str, str] | None = None,
              node: str = "pacs") -> Settings:
    return load_settings(node, ["--config", str(network_file)], environ=env or {})


def test_tls_is_off_by_default() -> None:
    settings = load_settings("pacs", [], environ={})
    assert settings.tls is None
    assert not any(node.tls for node in settings.network.nodes)
    assert make_ae(settings).tls is None


def test_paths_in_the_file_are_taken_from_its_folder(tmp_path: Path, pki: Pki) -> None:
    folder = tmp_path / "conf"
    (folder / "tls").mkdir(parents=True)
    for source in (pki.fovea.certificate, pki.fovea.private_key, pki.ca):
        shutil.copy(source, folder / "tls" / source.name)
    network = write_network(folder / "network.toml", dest_port=11999)
    network.write_text(network.read_text().replace("[nodes.dest]\n", "[nodes.dest]\ntls = true\n")
                       + '[tls]\nenabled = true\ncertificate = "tls/fovea.crt"\n'
                         'private_key = "tls/fovea.key"\nca_certificates = "tls/ca.crt"\n')
    settings = _settings(network)
    assert settings.tls is not None
    assert settings.tls.certificate == folder / "tls" / "fovea.crt"
    assert settings.tls.ca_certificates == folder / "tls" / "ca.crt"
    assert settings.tls.verify_clients and settings.tls.check_hostname
    assert [n.name for n in settings.network.nodes if n.tls] == ["dest"]
    assert make_ae(settings).tls == settings.tls


def test_the_environment_overrides_the_table(tmp_path: Path, pki: Pki) -> None:
    network = enable_tls(write_network(tmp_path / "network.toml", 11999), pki, ("pacs",))
    assert _settings(network, {"FOVEA_TLS": "off"}).tls is None
    env = {"FOVEA_TLS_CERTIFICATE": str(pki.dcmtk.certificate),
           "FOVEA_TLS_PRIVATE_KEY": str(pki.dcmtk.private_key),
           "FOVEA_TLS_VERIFY_CLIENTS": "no", "FOVEA_TLS_NODES": "dest, commitscu"}
    settings = _settings(network, env)
    assert settings.tls is not None
    assert settings.tls.certificate == pki.dcmtk.certificate
    assert not settings.tls.verify_clients
    assert {n.name for n in settings.network.nodes if n.tls} == {"dest", "commitscu"}
    plain = write_network(tmp_path / "plain.toml", 11999)
    env = {"FOVEA_TLS": "1", "FOVEA_TLS_CERTIFICATE": str(pki.fovea.certificate),
           "FOVEA_TLS_PRIVATE_KEY": str(pki.fovea.private_key),
           "FOVEA_TLS_CA_CERTIFICATES": str(pki.ca), "FOVEA_TLS_NODES": "pacs"}
    settings = _settings(plain, env)
    assert settings.tls is not None and settings.node.tls


def _swap(pki: Pki, tmp_path: Path, key: str, value: Path) -> Path:
    network = enable_tls(write_network(tmp_path / "network.toml", 11999), pki, ("pacs",))
    text = network.read_text()
    current = {"certificate": pki.fovea.certificate, "private_key": pki.fovea.private_key,
               "ca_certificates": pki.ca}[key]
    network.write_text(text.replace(f'{key} = "{current}"', f'{key} = "{value}"'))
    return network


@pytest.mark.parametrize(("key", "make", "message"), [
    ("certificate", lambda d, p: d / "missing.crt", "certificate file .* does not exist"),
    ("private_key", lambda d, p: d, "private key file .* is not a readable file"),
    ("private_key", lambda d, p: p.dcmtk.private_key, "cannot be used"),  # not the cert's key
    ("ca_certificates", lambda d, p: _text(d / "ca.txt", "not a certificate"), "cannot be used"),
    ("certificate", lambda d, p: _text(d / "empty.crt", ""), "cannot be used"),
])
def test_bad_files_stop_a_dimse_service_at_start_up(
        tmp_path: Path, pki: Pki, key: str, make: object, message: str) -> None:
    value = make(tmp_path, pki)  # type: ignore[operator]
    network = _swap(pki, tmp_path, key, value)
    with pytest.raises(ConfigError, match=message):
        _settings(network)


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_key_is_named(tmp_path: Path, pki: Pki) -> None:
    key = tmp_path / "locked.key"
    shutil.copy(pki.fovea.private_key, key)
    key.chmod(0)
    with pytest.raises(ConfigError, match=f"private key file {key} is not a readable"):
        _settings(_swap(pki, tmp_path, "private_key", key))


def test_an_encrypted_key_is_refused_rather_than_prompted_for(tmp_path: Path, pki: Pki) -> None:
    key = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(pki.fovea.private_key), "-aes256",
                    "-passout", "pass:secret", "-out", str(key)], check=True, timeout=60)
    with pytest.raises(ConfigError, match="is encrypted"):
        _settings(_swap(pki, tmp_path, "private_key", key))


def test_table_mistakes_are_refused(tmp_path: Path, pki: Pki) -> None:
    network = write_network(tmp_path / "network.toml", 11999)
    base = network.read_text()
    network.write_text(base + "[tls]\nenabled = true\n")
    with pytest.raises(ConfigError, match="certificate is not set"):
        _settings(network)
    network.write_text(base + "[tls]\nenabled = false\ncolour = 'red'\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        _settings(network)
    network.write_text(base)
    with pytest.raises(ConfigError, match="unknown nodes"):
        _settings(network, {"FOVEA_TLS_NODES": "pacs nowhere"})


def test_a_node_without_ae_title_does_not_load_the_files(tmp_path: Path, pki: Pki) -> None:
    network = _swap(pki, tmp_path, "certificate", tmp_path / "missing.crt")
    web = '\n[nodes.web]\nhost = "127.0.0.1"\nhttp_port = 5000\n'
    network.write_text(network.read_text() + web)
    assert _settings(network, node="web").tls is not None  # an HTTP-only node speaks no DIMSE


@contextmanager
def tls_storescp(pki: Pki, pair: KeyPair, port: int, out: Path) -> Iterator[Path]:
    """DCMTK's storescp listening with TLS as ``pair``, verifying its callers."""
    out.mkdir()
    process = subprocess.Popen(
        [require_tool("storescp"), *tls_options(pair, pki), "-aet", DEST_AE,
         "-od", str(out), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield out
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_our_scu_stores_into_storescp_over_tls(tmp_path: Path, network_file: Path,
                                               dest_port: int, pki: Pki) -> None:
    settings = _settings(enable_tls(network_file, pki, ("dest",)))
    instance = make_instance()
    with tls_storescp(pki, pki.dcmtk, dest_port, tmp_path / "received") as out:
        outcomes = store_instances(make_ae(settings), settings.network.node("dest"), [instance])
        assert [o.kept for o in outcomes] == [True]
    received = [dcmread(path).SOPInstanceUID for path in out.iterdir()]
    assert received == [instance.SOPInstanceUID]


def test_our_scu_refuses_a_listener_the_ca_did_not_sign(tmp_path: Path, network_file: Path,
                                                        dest_port: int, pki: Pki) -> None:
    settings = _settings(enable_tls(network_file, pki, ("dest",)))
    with tls_storescp(pki, pki.rogue, dest_port, tmp_path / "received") as out:
        with pytest.raises(PeerError, match=r"\(TLS\) failed"):
            store_instances(make_ae(settings), settings.network.node("dest"), [make_instance()])
    assert list(out.iterdir()) == []
