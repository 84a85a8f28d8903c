"""An acceptor association that waits for messages instead of polling for them.

pynetdicom's acceptor loop (``Association._run_reactor`` in pynetdicom 3.0)
sleeps 1 ms before each look at its message queue, and a synchronous exchange
pays that on every message: a C-STORE requester waits for each response before
sending the next request. :class:`PromptAcceptor` runs the same loop with the
same checks in the same order, but blocks on the queue for up to
:data:`IDLE_WAIT` seconds, so a message is served as soon as it is decoded.

:func:`make_prompt` turns a new association into these; the connection
handler in :mod:`imaging_common.dimse` calls it before the association starts.
"""

from __future__ import annotations

import logging
import queue
import time
from typing import Any, cast

from pynetdicom import Association, evt
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu_primitives import P_DATA

from imaging_common.exceptions import PeerError

__all__ = [
    "BUSY_DELAY", "BUSY_WINDOW", "IDLE_DELAY", "IDLE_WAIT", "PromptAcceptor",
    "PromptTransport", "make_prompt", "wait_until_sent",
]

#: Seconds the loop waits on the message queue before it checks for a
#: release, an abort, a dead transport or the idle timeout. A message ends
#: the wait at once; only those checks wait this long.
IDLE_WAIT = 0.005

#: pynetdicom's transport thread sleeps between looks at the socket and its
#: send queue (1 ms by default, paid on every message of a synchronous
#: exchange). :class:`PromptTransport` sleeps BUSY_DELAY while the peer has
#: sent something in the last BUSY_WINDOW seconds, IDLE_DELAY otherwise, so
#: that a busy association is fast and an idle one costs little CPU.
BUSY_DELAY = 0.0002
IDLE_DELAY = 0.005
BUSY_WINDOW = 0.5

_LOGGER = logging.getLogger("pynetdicom.assoc")


class PromptAcceptor(Association):
    """An acceptor :class:`~pynetdicom.Association` served without polling delay."""

    def _run_reactor(self) -> None:
        self._is_paused = False
        while not self._kill:
            # The pause point lets send_*() from a handler own the DIMSE
            # queue, exactly as in pynetdicom's loop.
            self._is_paused = True
            self._reactor_checkpoint.wait()
            self._is_paused = False
            try:
                context_id, message = self.dimse.msg_queue.get(timeout=IDLE_WAIT)
            except queue.Empty:
                message = None
            if message is not None:
                self._serve_request(message, cast(int, context_id))
                continue
            if self._ended():
                return

    def _ended(self) -> bool:
        """Handle a release, an abort, a dead transport or the idle timeout."""
        if self.is_established and self.acse.is_release_requested():
            self.acse.send_release(is_response=True)
            _LOGGER.info("Association Released")
            self.is_released = True
            self.is_established = False
            evt.trigger(self, evt.EVT_RELEASED, {})
        elif self.acse.is_aborted():
            _LOGGER.info("Association Aborted")
            self.dul.receive_pdu(wait=False)  # so that EVT_ACSE_RECV fires
            self.is_aborted = True
            self.is_established = False
            evt.trigger(self, evt.EVT_ABORTED, {})
        elif self.dul.is_alive() and not self.dul.idle_timer_expired():
            return False
        elif self.dul.is_alive():
            _LOGGER.error("Network timeout reached")
            if self.network_timeout_response == "A-RELEASE":
                self._is_paused = True
                self._reactor_checkpoint.wait()
                self.release()
                self._is_paused = False
            else:
                self.abort()
        self.kill()
        return True


class PromptTransport(DULServiceProvider):
    """A :class:`~pynetdicom.dul.DULServiceProvider` whose poll adapts to traffic."""

    @property
    def _run_loop_delay(self) -> float:
        timer = self._idle_timer
        if timer.timeout is None or timer.timeout - timer.remaining < BUSY_WINDOW:
            return BUSY_DELAY
        return IDLE_DELAY

    @_run_loop_delay.setter
    def _run_loop_delay(self, value: float) -> None:
        """Ignore pynetdicom's fixed delay; the getter decides."""

    def send_pdu(self, primitive: Any) -> None:
        """Queue a primitive; refuse DIMSE data unless the association is open.

        A message queued from another thread just after the peer released
        would reach the state machine in Sta13 and end the transport thread
        with an InvalidEventError; the sender gets a :class:`PeerError` instead.
        """
        if isinstance(primitive, P_DATA) and self.state_machine.current_state not in _OPEN:
            raise PeerError("the association is closing; nothing more can be sent on it")
        super().send_pdu(primitive)


#: PS3.8 9.2 state in which Fovea sends P-DATA: established. Sta8 (the peer
#: asked for a release) allows it too, but the release answer may already be
#: queued ahead of the data, and a releasing peer would not answer anyway.
_OPEN = frozenset({"Sta6"})


def make_prompt(assoc: Association) -> None:
    """Give a not yet started association the adaptive transport poll and,
    for an acceptor, the :class:`PromptAcceptor` loop."""
    if type(assoc.dul) is DULServiceProvider:
        assoc.dul.__class__ = PromptTransport
    if assoc.is_acceptor and type(assoc) is Association:
        assoc.__class__ = PromptAcceptor


def wait_until_sent(assoc: Association, backlog: int = 2, timeout: float = 10.0) -> None:
    """Wait until at most ``backlog`` messages are waiting to be sent.

    pynetdicom's transport thread reads the socket only when it has nothing
    left to send, so a handler that yields responses faster than they go out
    keeps a peer's C-CANCEL unread until every match has been sent, and holds
    all of them in memory. Calling this before each response keeps a C-FIND
    or C-GET streaming at the pace of the network.
    """
    pending = assoc.dul.to_provider_queue
    deadline = time.monotonic() + timeout
    while pending.qsize() > backlog and assoc.is_established:
        if time.monotonic() > deadline:
            return
        time.sleep(0.0002)
