"""The optional automatic run: queue every order that reaches 'acquired'.

With ``auto_run`` on (``[ai] auto_run = true``, ``FOVEA_AI_AUTO_RUN=1`` or
``--auto-run``), a thread of ``python -m ai_node`` asks the EMR every
``poll_seconds`` for orders whose images are acquired and queues them, as a
nurse pressing Run all would. Queueing is idempotent (:mod:`ai_node.dispatch`),
so two nodes polling the same EMR do not grade an order twice.
"""

from __future__ import annotations

import threading

from redis.exceptions import RedisError

from imaging_common.exceptions import FoveaError
from imaging_common.logs import get_logger

from ai_node.dispatch import Dispatcher
from ai_node.emr_api import ACQUIRED

__all__ = ["AUTO_RUN_USER", "AutoRun"]

log = get_logger(__name__)

#: Who the job's ``requested_by`` names when nobody clicked.
AUTO_RUN_USER = "auto-run"


class AutoRun:
    """Polls the EMR on a daemon thread; :meth:`stop` ends it."""

    def __init__(self, dispatcher: Dispatcher, seconds: float) -> None:
        self.dispatcher = dispatcher
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ai-auto-run", daemon=True)

    def run_once(self) -> int:
        """Queue the acquired orders once; return how many jobs were created."""
        try:
            orders = self.dispatcher.emr.orders([ACQUIRED])
        except FoveaError as exc:
            log.warning("auto-run: the EMR did not answer", reason=str(exc))
            return 0
        created = 0
        for order in orders:
            try:
                created += self.dispatcher.enqueue(int(order["id"]), AUTO_RUN_USER).created
            except (FoveaError, RedisError) as exc:
                log.warning("auto-run: order not queued", order_id=order["id"], reason=str(exc))
        return created

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds):
            self.run_once()

    def start(self) -> AutoRun:
        self._thread.start()
        log.info("auto-run started", every_seconds=self.seconds)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.seconds + 1)
