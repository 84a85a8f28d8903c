"""The archive with DICOM TLS on (PS3.15 B.9): DCMTK's tools and our SCU as TLS
clients are served; plain clients, strangers' certificates and no certificate
(with mutual authentication) are refused; an idle connection blocks no one."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.presentation import build_context
from sqlalchemy import select

from imaging_common.dimse import associate, make_ae
from imaging_common.sop_classes import VERIFICATION
from imaging_common.store_scu import store_instances
from pacs_scp.__main__ import main
from pacs_scp.models import Instance
from pacs_scp.server import build_context as build_pacs_context
from pacs_scp.server import start_server
from tests.certificates import Pki, enable_tls, tls_options
from tests.conftest import RunningPacs, dcmtk, pacs_settings
from tests.factory import make_instance, write


@contextmanager
def serving(network_file: Path, data_dir: Path) -> Iterator[RunningPacs]:
    """The archive in this process on a free port, with an SQLite index."""
    settings = pacs_settings(network_file, data_dir,
                             "--database-url", f"sqlite:///{data_dir}.db")
    server = start_server(settings)
    try:
        yield RunningPacs(settings, server.server_address[1], build_pacs_context(settings))
    finally:
        server.shutdown()


@pytest.fixture
def tls_pacs(tmp_path: Path, network_file: Path, pki: Pki) -> Iterator[RunningPacs]:
    """The archive listening with TLS and asking callers for a CA-signed certificate."""
    with serving(enable_tls(network_file, pki, ("pacs",)), tmp_path / "pacs") as running:
        yield running


def _indexed(pacs: RunningPacs) -> set[str]:
    assert pacs.context is not None
    with pacs.context.sessions() as session:
        return set(session.scalars(select(Instance.sop_instance_uid)))


def _echo(pacs: RunningPacs, *options: str, timeout: float = 60) -> bool:
    result = dcmtk("echoscu", *options, "-aet", "ECHOSCU", *pacs.address(),
                   check=False, timeout=timeout)
    return result.returncode == 0


def test_dcmtk_echoes_and_stores_over_tls(tls_pacs: RunningPacs, pki: Pki,
                                          tmp_path: Path) -> None:
    tls = tls_options(pki.dcmtk, pki)
    assert _echo(tls_pacs, *tls)
    instance = make_instance()
    dcmtk("storescu", *tls, "-aet", "STORESCU", *tls_pacs.address(),
          str(write(instance, tmp_path / "one.dcm")))
    assert _indexed(tls_pacs) == {str(instance.SOPInstanceUID)}


def test_plain_clients_are_refused_and_tls_clients_still_served(tls_pacs: RunningPacs,
                                                                pki: Pki) -> None:
    assert not _echo(tls_pacs)
    plain = AE("ECHOSCU")
    plain.add_requested_context(VERIFICATION)
    assoc = plain.associate("127.0.0.1", tls_pacs.port, ae_title=tls_pacs.ae_title)
    assert not assoc.is_established
    assert _echo(tls_pacs, *tls_options(pki.dcmtk, pki))


def test_a_certificate_the_ca_did_not_sign_is_refused(tls_pacs: RunningPacs, pki: Pki) -> None:
    assert not _echo(tls_pacs, *tls_options(pki.rogue, pki))
    assert not _echo(tls_pacs, *tls_options(None, pki))  # no certificate at all
    assert _echo(tls_pacs, *tls_options(pki.dcmtk, pki))


def test_without_mutual_authentication_callers_need_no_certificate(
        tmp_path: Path, network_file: Path, pki: Pki) -> None:
    enable_tls(network_file, pki, ("pacs",), verify_clients=False)
    with serving(network_file, tmp_path / "pacs") as pacs:
        assert _echo(pacs, *tls_options(None, pki))
        assert _echo(pacs, *tls_options(pki.rogue, pki))
        assert not _echo(pacs)  # still TLS only


def test_a_silent_connection_does_not_hold_up_the_listener(tls_pacs: RunningPacs,
                                                           pki: Pki) -> None:
    """The handshake runs in the connection's thread, not in the one that accepts."""
    with socket.create_connection(("127.0.0.1", tls_pacs.port)):
        started = time.monotonic()
        assert _echo(tls_pacs, *tls_options(pki.dcmtk, pki), timeout=30)
        assert time.monotonic() - started < 5


def test_our_scu_echoes_and_stores_over_tls(tls_pacs: RunningPacs) -> None:
    node = replace(tls_pacs.settings.node, port=tls_pacs.port)
    ae = make_ae(tls_pacs.settings, "ECHOSCU")
    with associate(ae, node, [build_context(VERIFICATION)]) as assoc:
        assert assoc.send_c_echo().Status == 0
    instance = make_instance()
    outcomes = store_instances(make_ae(tls_pacs.settings, "STORESCU"), node, [instance])
    assert [o.kept for o in outcomes] == [True]
    assert _indexed(tls_pacs) == {str(instance.SOPInstanceUID)}


def test_python_m_pacs_scp_names_a_missing_tls_file(tmp_path: Path, network_file: Path, pki: Pki,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    for variable in [v for v in os.environ if v.startswith("FOVEA_")]:
        monkeypatch.delenv(variable)
    enable_tls(network_file, pki, ("pacs",))
    missing = tmp_path / "gone.crt"
    network_file.write_text(network_file.read_text().replace(str(pki.fovea.certificate),
                                                             str(missing)))
    assert main(["--config", str(network_file), "--data-dir", str(tmp_path / "pacs")]) == 2
    assert f"TLS certificate file {missing} does not exist" in capsys.readouterr().err
