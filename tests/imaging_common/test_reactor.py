"""The prompt transport and acceptor loop: installed on every association, and
serving, releasing and aborting like pynetdicom's own."""

from __future__ import annotations

import time

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

from imaging_common import reactor
from imaging_common.dimse import NODELAY_HANDLERS
from imaging_common.reactor import PromptAcceptor, PromptTransport


@pytest.fixture
def echo_server() -> object:
    """A bare verification SCP with the connection handlers every Fovea SCP binds."""
    ae = AE(ae_title="ECHOSCP")
    ae.add_supported_context(Verification)
    server = ae.start_server(("127.0.0.1", 0), block=False,
                             evt_handlers=[*NODELAY_HANDLERS, (evt.EVT_C_ECHO, lambda e: 0)])
    yield server
    server.shutdown()


def _associate(server: object) -> object:
    ae = AE(ae_title="ECHOSCU")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", server.server_address[1],  # type: ignore[attr-defined]
                         ae_title="ECHOSCP", evt_handlers=NODELAY_HANDLERS)
    assert assoc.is_established
    return assoc


def test_both_ends_get_the_prompt_transport(echo_server: object) -> None:
    requester = _associate(echo_server)
    (acceptor,) = echo_server.active_associations  # type: ignore[attr-defined]
    assert isinstance(acceptor, PromptAcceptor)
    assert isinstance(acceptor.dul, PromptTransport)
    assert isinstance(requester.dul, PromptTransport)  # type: ignore[attr-defined]
    assert requester.send_c_echo().Status == 0  # type: ignore[attr-defined]
    requester.release()  # type: ignore[attr-defined]
    assert requester.is_released  # type: ignore[attr-defined]


def test_abort_ends_the_acceptor(echo_server: object) -> None:
    requester = _associate(echo_server)
    (acceptor,) = echo_server.active_associations  # type: ignore[attr-defined]
    requester.abort()  # type: ignore[attr-defined]
    acceptor.join(timeout=5)
    assert not acceptor.is_alive()
    assert acceptor.is_aborted


def test_poll_slows_down_when_the_peer_is_quiet(echo_server: object,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reactor, "BUSY_WINDOW", 0.05)
    requester = _associate(echo_server)
    (acceptor,) = echo_server.active_associations  # type: ignore[attr-defined]
    requester.send_c_echo()  # type: ignore[attr-defined]
    assert acceptor.dul._run_loop_delay == reactor.BUSY_DELAY
    time.sleep(0.1)
    assert acceptor.dul._run_loop_delay == reactor.IDLE_DELAY
    assert requester.send_c_echo().Status == 0  # type: ignore[attr-defined]
    assert acceptor.dul._run_loop_delay == reactor.BUSY_DELAY
    requester.release()  # type: ignore[attr-defined]
