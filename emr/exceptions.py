"""Errors the EMR raises on purpose; the web and API edges turn them into responses.

::

    FoveaError (imaging_common)
     +-- EmrError
          +-- ValidationError     input is malformed or implausible       -> 400 / 422
          +-- NotFound            no such patient, order, result, user    -> 404
          +-- Conflict            the request clashes with stored data    -> 409
          +-- TransitionRefused   the order's state does not allow it     -> 409
          +-- Throttled           too many failed log-ins                 -> 429

:class:`TransitionRefused` wraps :class:`emr.states.InvalidTransition`.
"""

from __future__ import annotations

from collections.abc import Mapping

from imaging_common.exceptions import FoveaError

__all__ = ["Conflict", "EmrError", "NotFound", "Throttled", "TransitionRefused",
           "ValidationError"]


class EmrError(FoveaError):
    """Base class of the EMR's errors; ``status`` is the HTTP status at the edge."""

    status = 500
    code = "error"


class ValidationError(EmrError):
    """Input is malformed or implausible; ``fields`` maps a field to its message."""

    status = 422
    code = "invalid"

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})


class NotFound(EmrError):
    """The patient, order, result or user asked for does not exist."""

    status = 404
    code = "not_found"


class Conflict(EmrError):
    """The request clashes with what is stored (a duplicate MRN, a changed result)."""

    status = 409
    code = "conflict"


class TransitionRefused(EmrError):
    """The order's current state does not allow the requested change."""

    status = 409
    code = "invalid_transition"


class Throttled(EmrError):
    """Too many failed log-ins for an account or an address; try again later."""

    status = 429
    code = "throttled"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
