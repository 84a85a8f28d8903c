"""Errors the AI node raises on purpose, and which of them a retry could cure.

::

    FoveaError (imaging_common)
     +-- PeerError                     the PACS or the EMR did not answer: retried
     |    +-- ServiceUnavailable       the EMR is down or answered 5xx: retried
     |    +-- ServiceRefused           the EMR refused (4xx): final
     +-- AiNodeError
          +-- OrderNotGradable         the order or its study cannot be graded: final
          +-- ResultsRefused           the PACS will not keep the SR or an SC: final
          +-- EnqueueRefused           the web page cannot queue this order now
          +-- StaleJob                 the job's accession is not the order's: final,
                                       and the order is not touched

A job that raises a final error fails at once and the EMR order is marked
*failed* with the message as its reason; any other error is retried as
``rq.Retry`` declares (:func:`is_final`).
"""

from __future__ import annotations

from imaging_common.exceptions import DicomInputError, FoveaError
from imaging_common.rest_client import ServiceRefused

__all__ = ["AiNodeError", "EnqueueRefused", "OrderNotGradable", "ResultsRefused", "StaleJob",
           "is_final"]


class AiNodeError(FoveaError):
    """Base class of the AI node's own errors."""


class OrderNotGradable(AiNodeError):
    """The order's state, its study, or its photographs do not allow grading."""


class ResultsRefused(AiNodeError):
    """The PACS answered an error status to the SR or a Secondary Capture."""


class EnqueueRefused(AiNodeError):
    """The order cannot be queued now (its state does not allow it)."""


class StaleJob(AiNodeError):
    """The job was queued for another examination than the order now is: a job
    left in Redis from an earlier EMR database, whose order id was reused."""


def is_final(exc: BaseException) -> bool:
    """Whether retrying the job that raised ``exc`` cannot help."""
    return isinstance(exc, (AiNodeError, ServiceRefused, DicomInputError))
