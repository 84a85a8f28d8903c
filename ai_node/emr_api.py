"""The EMR's REST API as the AI node uses it: orders to grade, their states, the results.

The node's token has the scopes ``orders:read``, ``orders:state``,
``patients:read`` and ``results:write``: orders come with the patient's name and
MRN, which the nurses' page shows to a logged-in nurse; the logs identify an
order by its id and Accession Number only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from imaging_common.rest_client import JsonClient

__all__ = ["ACQUIRED", "AI_DONE", "AI_QUEUED", "AI_RUNNING", "EmrApi", "FAILED",
           "PAGE_STATES", "Order", "REVIEWED"]

# Order states of the EMR (emr.states.OrderState values) that the node reads or sets.
ACQUIRED = "acquired"
AI_QUEUED = "ai_queued"
AI_RUNNING = "ai_running"
AI_DONE = "ai_done"
REVIEWED = "reviewed"
FAILED = "failed"

#: The states of the orders the nurse's page lists.
PAGE_STATES = (ACQUIRED, AI_QUEUED, AI_RUNNING, FAILED)
#: Orders asked for per page (the API allows at most 500).
PAGE_SIZE = 500
#: The EMR keeps a reason as text; the node sends at most this much.
REASON_LIMIT = 500

Order = dict[str, Any]


class EmrApi:
    """The routes of ``/api/v1`` the AI node calls.

    Raises (every method):
        ServiceUnavailable: the EMR is unreachable or answered 5xx.
        ServiceRefused: the EMR refused the request (4xx).
    """

    def __init__(self, client: JsonClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, emr_url: str, token: str, timeout: float) -> EmrApi:
        """A client of the EMR at ``emr_url`` (its root; ``/api/v1`` is added)."""
        return cls(JsonClient(f"{emr_url.rstrip('/')}/api/v1", token, timeout))

    def orders(self, states: Iterable[str]) -> list[Order]:
        """Every order in one of ``states``, by scheduled time."""
        found: list[Order] = []
        while True:
            page = self.client.get("/orders", {"state": ",".join(states),
                                               "limit": PAGE_SIZE, "offset": len(found)})
            orders = page.get("orders", []) if isinstance(page, dict) else []
            found.extend(orders)
            if len(orders) < PAGE_SIZE:
                return found

    def order(self, order_id: int) -> Order:
        """One order, with its transitions and results."""
        return dict(self.client.get(f"/orders/{int(order_id)}"))

    def move(self, order_id: int, state: str, reason: str = "") -> Order:
        """Move an order to ``state`` (a repeat of its current state is harmless)."""
        reply = self.client.post(f"/orders/{int(order_id)}/transitions",
                                 {"state": state, "reason": reason[:REASON_LIMIT]})
        return dict(reply.get("order", {}))

    def post_result(self, order_id: int, body: dict[str, Any]) -> bool:
        """Post an AI result; return whether it is new (the same body twice is stored once)."""
        reply = self.client.request("POST", f"/orders/{int(order_id)}/results", body=body)
        return reply.status == 201

    def results(self, order_id: int) -> list[dict[str, Any]]:
        """The AI results already stored for an order."""
        return list(self.client.get(f"/orders/{int(order_id)}/results").get("results", []))
