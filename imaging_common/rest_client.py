"""A JSON client for a bearer-token REST API (RFC 6750), such as the EMR's ``/api/v1``.

The services that call the EMR (the worklist, the AI node) share it; each
wraps it in a small class that knows its own routes.

::

    PeerError (imaging_common)
     +-- ServiceUnavailable   no answer, a 5xx, or a body that is not JSON: worth retrying
     +-- ServiceRefused       a 4xx: the request is wrong or not allowed; retrying cannot help

Error bodies are read in the EMR's form, ``{"error": {"code", "message", "fields"}}``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imaging_common.exceptions import PeerError
from imaging_common.logs import correlation_header

__all__ = ["JsonClient", "JsonReply", "ServiceRefused", "ServiceUnavailable"]


class ServiceUnavailable(PeerError):
    """The service could not be reached, or failed to answer properly (5xx, not JSON)."""


class ServiceRefused(PeerError):
    """The service answered a client error (4xx).

    Attributes:
        status: the HTTP status.
        code: the error code of the body (``"conflict"``, ``"invalid"``, ...).
        fields: the body's per-field messages, if any.
    """

    def __init__(self, status: int, code: str, message: str,
                 fields: Mapping[str, str] | None = None) -> None:
        super().__init__(f"refused ({status} {code}): {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})


@dataclass(frozen=True)
class JsonReply:
    """A 2xx answer: its status (200 and 201 can mean different things) and its body."""

    status: int
    body: Any


class JsonClient:
    """Calls ``<base_url><path>`` with a bearer token and JSON in and out.

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:5000/api/v1``.
        token: the bearer token (never logged, never in ``repr``).
        timeout: seconds to wait for the connection and for each read.
    """

    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"JsonClient({self.base_url!r})"

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> Any:
        """``GET`` ``path`` (with ``query`` as its query string); return the decoded body."""
        return self.request("GET", path, query=query).body

    def post(self, path: str, body: Any) -> Any:
        """``POST`` ``body`` as JSON to ``path``; return the decoded body."""
        return self.request("POST", path, body=body).body

    def request(self, method: str, path: str, body: Any = None,
                query: Mapping[str, Any] | None = None) -> JsonReply:
        """Send one request; return the status and decoded JSON body of a 2xx answer.

        Raises:
            ServiceUnavailable: no connection, a timeout, a 5xx, or a body
                that is not JSON.
            ServiceRefused: a 4xx answer.
        """
        url = f"{self.base_url}{path}"
        if query:
            url = f"{url}?{urllib.parse.urlencode(query, doseq=True)}"
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json",
                   **correlation_header()}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return JsonReply(response.status, json.loads(response.read() or b"null"))
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise ServiceUnavailable(
                    f"{self.base_url} answered {exc.code} to {method} {path}") from None
            error = _error_body(exc)
            raise ServiceRefused(exc.code, str(error.get("code", "")),
                                 str(error.get("message", exc.reason)),
                                 error.get("fields")) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServiceUnavailable(f"{self.base_url} is unreachable: {reason}") from None
        except ValueError:
            raise ServiceUnavailable(
                f"{self.base_url} answered {method} {path} with a body that is not JSON"
            ) from None


def _error_body(exc: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        error = json.loads(exc.read()).get("error", {})
    except (ValueError, AttributeError, OSError):
        return {}
    return error if isinstance(error, dict) else {}
