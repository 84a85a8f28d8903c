"""The EMR's REST API as the worklist uses it: scheduled orders in, order states out.

::

    PeerError (imaging_common)
     +-- EmrUnavailable     the EMR did not answer, or answered 5xx or garbage
     +-- EmrRefused         the EMR answered 4xx (bad token, unknown order, refused move),
                            or orders without the patient the worklist needs

Orders are read with :meth:`EmrClient.scheduled_orders` (every page of
``GET /api/v1/orders``) and moved with :meth:`EmrClient.change_state`
(``POST /api/v1/orders/<id>/transitions``); the EMR's state names are those of
:class:`emr.states.OrderState`.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from imaging_common.exceptions import PeerError
from imaging_common.rest_client import JsonClient, ServiceRefused, ServiceUnavailable

__all__ = ["EmrClient", "EmrRefused", "EmrUnavailable", "Order", "PAGE_SIZE",
           "WORKLIST_STATES"]

#: Order states whose Scheduled Procedure Step is on the worklist.
WORKLIST_STATES = ("scheduled", "in_progress")
#: Orders asked for per page (the API gives at most 500).
PAGE_SIZE = 500

#: An order as the API's JSON gives it (:func:`emr.api_json.order_json`).
Order = dict[str, Any]


class EmrUnavailable(PeerError):
    """The EMR could not be reached, or failed to answer properly."""


class EmrRefused(PeerError):
    """The EMR answered a client error (4xx), or not what the worklist needs.

    Attributes:
        status: the HTTP status (0 when the answer was well formed but unusable).
        code: the API's error code, e.g. ``invalid_transition``.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"the EMR refused ({status} {code}): {message}")
        self.status = status
        self.code = code


class EmrClient:
    """A bearer-token client of the EMR's REST API under ``/api/v1``.

    Args:
        base_url: the EMR's address, e.g. ``http://127.0.0.1:5000``.
        token: the worklist's service token (scopes ``orders:read``,
            ``orders:state``, ``patients:read``).
        timeout: seconds to wait for each answer.
    """

    def __init__(self, base_url: str, token: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._api = JsonClient(f"{self.base_url}/api/v1", token, timeout)

    @property
    def timeout(self) -> float:
        return self._api.timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            return self._api.request(method, path, body=body).body
        except ServiceRefused as exc:
            raise EmrRefused(exc.status, exc.code, exc.message) from None
        except ServiceUnavailable as exc:
            raise EmrUnavailable(f"the EMR: {exc}") from None

    def orders(self, **criteria: str) -> list[Order]:
        """Every order matching ``criteria`` (query parameters of ``GET /orders``).

        Raises:
            EmrUnavailable, EmrRefused: the EMR could not give the list.
        """
        found: list[Order] = []
        while True:
            query = urllib.parse.urlencode({**criteria, "limit": PAGE_SIZE,
                                            "offset": len(found)})
            reply = self._call("GET", f"/orders?{query}")
            page = reply.get("orders") if isinstance(reply, dict) else None
            if not isinstance(page, list) or not all(isinstance(o, dict) for o in page):
                raise EmrUnavailable("the EMR's order list is not a list of orders")
            found.extend(page)
            if len(page) < PAGE_SIZE:
                return found

    def scheduled_orders(self) -> list[Order]:
        """Orders on the worklist (scheduled or in progress), each with its patient.

        Raises:
            EmrUnavailable: the EMR could not give the list.
            EmrRefused: it refused, or gave orders without their patient (the
                token lacks the ``patients:read`` scope).
        """
        found = self.orders(state=",".join(WORKLIST_STATES))
        if any(not isinstance(order.get("patient"), dict) for order in found):
            raise EmrRefused(0, "no_patient", "orders come without their patient: "
                                              "the worklist's token needs patients:read")
        return found

    def find_order(self, study_instance_uid: str, accession_number: str = "") -> Order | None:
        """The order of this study (or, failing that, of this accession number).

        Raises:
            EmrUnavailable, EmrRefused: the EMR could not answer.
        """
        for key, value in (("study_instance_uid", study_instance_uid),
                           ("accession_number", accession_number)):
            if value:
                found = self.orders(**{key: value})
                if found:
                    return found[0]
        return None

    def change_state(self, order_id: int, state: str, reason: str = "") -> Order:
        """Move an order to ``state``; a repeat of the current state is harmless.

        Raises:
            EmrUnavailable: the EMR could not answer.
            EmrRefused: the move is not allowed (409), or the order is unknown (404).
        """
        reply = self._call("POST", f"/orders/{order_id}/transitions",
                           {"state": state, "reason": reason})
        order = reply.get("order") if isinstance(reply, dict) else None
        if not isinstance(order, dict):
            raise EmrUnavailable("the EMR's answer to a state change holds no order")
        return order
