"""Calling AE title plus address: every SCP (archive, worklist, AI node) accepts a
node's AE title only from that node's host or ``calls_from``, with an
A-ASSOCIATE-RJ "calling AE title not recognised" otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from pynetdicom import AE, Association
from pynetdicom.presentation import build_context
from pynetdicom.transport import ThreadedAssociationServer

from ai_node.inbox import Inbox
from ai_node.scp import start_storage_scp
from imaging_common.dimse import associate, make_ae
from imaging_common.exceptions import ConfigError, PeerError
from imaging_common.listener import (
    CALLING_AE_TITLE_NOT_RECOGNISED,
    REJECTED_PERMANENT,
    SOURCE_SERVICE_USER,
    address_allowed,
)
from imaging_common.settings import load_network, load_settings
from imaging_common.sop_classes import VERIFICATION
from pacs_scp.server import start_server as start_pacs
from worklist.config import TOKEN_VARIABLE
from worklist.config import load_config as load_worklist_config
from tests.certificates import Pki, enable_tls
from worklist.server import start_server as start_worklist

ELSEWHERE = "127.0.0.2"  # a loopback address that is not the nodes' host


def write_network(path: Path, station: str = 'host = "127.0.0.1"') -> Path:
    """Every SCP on a free port; the station's address line is ``station``."""
    path.write_text(f"""
[settings]
acse_timeout = 10
dimse_timeout = 10
network_timeout = 10

[nodes.pacs]
ae_title = "FOVEA_PACS"
host = "127.0.0.1"
port = 0
accepts = ["FUNDUS_CAM1", "FOVEA_AI", "ECHOSCU"]

[nodes.worklist]
ae_title = "FOVEA_MWL"
host = "127.0.0.1"
port = 0
accepts = ["FUNDUS_CAM1"]

[nodes.ai]
ae_title = "FOVEA_AI"
host = "127.0.0.1"
port = 0
accepts = ["FOVEA_PACS"]

[nodes.station]
ae_title = "FUNDUS_CAM1"
{station}

[nodes.emr]
host = "127.0.0.1"
http_port = 1
""")
    return path


def _pacs(network: Path, data: Path) -> ThreadedAssociationServer:
    return start_pacs(load_settings("pacs", ["--config", str(network), "--data-dir", str(data),
                                             "--database-url", f"sqlite:///{data}.db"],
                                    environ={}))


def _worklist(network: Path, data: Path) -> ThreadedAssociationServer:
    return start_worklist(load_worklist_config(
        ["--config", str(network), "--data-dir", str(data)], environ={TOKEN_VARIABLE: "t"}))


def _ai(network: Path, data: Path) -> ThreadedAssociationServer:
    settings = load_settings("ai", ["--config", str(network), "--data-dir", str(data)],
                             environ={})
    return start_storage_scp(settings, Inbox(data / "inbox", fsync=False))


#: Each SCP, its AE title, and a caller it accepts that is a node of the network file.
SERVICES: dict[str, tuple[Callable[[Path, Path], ThreadedAssociationServer], str, str]] = {
    "pacs": (_pacs, "FOVEA_PACS", "FUNDUS_CAM1"),
    "worklist": (_worklist, "FOVEA_MWL", "FUNDUS_CAM1"),
    "ai": (_ai, "FOVEA_AI", "FOVEA_PACS"),
}
#: The node of each caller above.
CALLER_NODES = {"FUNDUS_CAM1": "station", "FOVEA_PACS": "pacs"}


@contextmanager
def serving(service: str, network: Path, data: Path) -> Iterator[int]:
    server = SERVICES[service][0](network, data)
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def echo_association(port: int, called: str, calling: str, source: str) -> Association:
    ae = AE(calling)
    ae.acse_timeout = 10
    ae.add_requested_context(VERIFICATION)
    return ae.associate("127.0.0.1", port, ae_title=called, bind_address=(source, 0))


def _rejected_as_unknown_caller(assoc: Association) -> bool:
    primitive = assoc.acceptor.primitive
    return (assoc.is_rejected and primitive is not None
            and (primitive.result, primitive.result_source, primitive.diagnostic)
            == (REJECTED_PERMANENT, SOURCE_SERVICE_USER, CALLING_AE_TITLE_NOT_RECOGNISED))


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_known_ae_title_is_accepted_only_from_its_host(service: str, tmp_path: Path) -> None:
    _, called, caller = SERVICES[service]
    with serving(service, write_network(tmp_path / "network.toml"), tmp_path / "data") as port:
        wrong = echo_association(port, called, caller, ELSEWHERE)
        assert not wrong.is_established
        assert _rejected_as_unknown_caller(wrong)
        right = echo_association(port, called, caller, "127.0.0.1")
        assert right.is_established
        assert right.send_c_echo().Status == 0
        right.release()


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_scp_listens_with_tls_when_its_node_speaks_it(service: str, tmp_path: Path,
                                                            pki: Pki) -> None:
    _, called, caller = SERVICES[service]
    network = enable_tls(write_network(tmp_path / "network.toml"), pki,
                         ("pacs", "worklist", "ai"))
    caller_settings = load_settings(CALLER_NODES[caller], ["--config", str(network)],
                                    environ={})
    with serving(service, network, tmp_path / "data") as port:
        node = replace(caller_settings.network.node(service), port=port)
        with associate(make_ae(caller_settings), node, [build_context(VERIFICATION)]) as assoc:
            assert assoc.send_c_echo().Status == 0
        assert not echo_association(port, called, caller, "127.0.0.1").is_established
        plain = make_ae(replace(caller_settings, tls=None))  # TLS off on the caller's side
        with pytest.raises(PeerError, match=f"{called} at 127.0.0.1:{port} failed"):
            with associate(plain, node, [build_context(VERIFICATION)]):
                pass


def test_a_caller_that_is_no_node_is_checked_by_its_ae_title_alone(tmp_path: Path) -> None:
    with serving("pacs", write_network(tmp_path / "network.toml"), tmp_path / "data") as port:
        known = echo_association(port, "FOVEA_PACS", "ECHOSCU", ELSEWHERE)
        assert known.is_established
        known.release()
        stranger = echo_association(port, "FOVEA_PACS", "STRANGER", "127.0.0.1")
        assert _rejected_as_unknown_caller(stranger)


@pytest.mark.parametrize(("station", "accepted"), [
    ("", True),  # no host in the network file: not checked
    ('host = "127.0.0.1"\ncalls_from = ["127.0.0.0/8"]', True),
    ('host = "127.0.0.1"\ncalls_from = ["localhost", "10.9.8.7"]', False),
    ('host = "127.0.0.1"\ncalls_from = ["*"]', True),
])
def test_calls_from_names_where_a_node_may_call_from(tmp_path: Path, station: str,
                                                     accepted: bool) -> None:
    network = write_network(tmp_path / "network.toml", station)
    with serving("worklist", network, tmp_path / "data") as port:
        assoc = echo_association(port, "FOVEA_MWL", "FUNDUS_CAM1", ELSEWHERE)
        assert assoc.is_established == accepted
        if accepted:
            assoc.release()


@pytest.mark.parametrize(("address", "allowed", "expected"), [
    ("127.0.0.1", ["127.0.0.1"], True),
    ("127.0.0.2", ["127.0.0.1"], False),
    ("127.0.0.2", ["10.0.0.1", "127.0.0.0/8"], True),
    ("::ffff:10.0.0.5", ["10.0.0.0/24"], True),
    ("10.0.0.5", ["::ffff:10.0.0.5"], True),
    ("::1", ["127.0.0.1"], False),
    ("fe80::1%lo", ["fe80::/64"], True),
    ("203.0.113.9", ["*"], True),
    ("127.0.0.1", ["localhost"], True),
    ("127.0.0.1", ["no-such-host.invalid"], False),
    ("not an address", ["*"], False),
])
def test_address_allowed(address: str, allowed: list[str], expected: bool) -> None:
    assert address_allowed(address, allowed) is expected


def test_calls_from_defaults_to_the_host_the_file_gives(tmp_path: Path) -> None:
    network, _ = load_network(write_network(tmp_path / "network.toml", station=""))
    assert network.node("pacs").calls_from == ("127.0.0.1",)
    assert network.node("station").calls_from == ()
    path = write_network(tmp_path / "bad.toml", station='calls_from = "127.0.0.1"')
    with pytest.raises(ConfigError, match="not a list of hosts"):
        load_network(path)
    path = write_network(tmp_path / "bad.toml", station='calls_from = ["a b"]')
    with pytest.raises(ConfigError, match="empty or spaced"):
        load_network(path)
