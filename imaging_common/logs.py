"""Logging set-up for entry points; modules only call ``get_logger(__name__)``.

Output is JSON lines (one event per line, for collectors) or a readable console
rendering. A guard processor replaces the value of any event field that names
patient data, so a slip in a log call cannot leak a name, an ID or a birth date.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from pynetdicom import _config as pynetdicom_config

__all__ = ["CORRELATION_FIELDS", "CORRELATION_HEADER", "PATIENT_FIELDS", "configure_logging",
           "correlate", "correlated", "correlation_from_header", "correlation_header",
           "get_logger", "redact_patient_data"]

#: Event fields that may never carry a value into a log line.
PATIENT_FIELDS = frozenset(
    {
        "patient_name", "patientname", "patient_id", "patientid", "mrn",
        "patient_birth_date", "patientbirthdate", "birth_date",
        "other_patient_ids", "otherpatientids", "patient_address",
        "patientaddress", "identifier", "dataset",
    }
)

REDACTED = "[redacted]"

#: Identifiers that follow one order through every service's log lines: the
#: accession number (the order, never the person) and the AI node's job id.
CORRELATION_FIELDS = ("accession_number", "job_id")
#: HTTP header that carries them from one service to the next:
#: ``accession_number=FV123; job_id=dr-order-7``.
CORRELATION_HEADER = "X-Fovea-Correlation"
#: What a correlation value may look like (DICOM SH, RQ job ids); others are dropped,
#: so that a header cannot write arbitrary text into another service's log.
_CORRELATION_VALUE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _valid_ids(ids: Mapping[str, object]) -> dict[str, str]:
    return {key: str(ids[key]).strip() for key in CORRELATION_FIELDS
            if ids.get(key) is not None and _CORRELATION_VALUE.fullmatch(str(ids[key]).strip())}


def correlate(**ids: object) -> None:
    """Add correlation ids to every later log line of this context (thread, request).

    Empty or malformed values are left out. Use :func:`correlated` where the
    context outlives the work (a DIMSE association's thread serves many requests).
    """
    structlog.contextvars.bind_contextvars(**_valid_ids(ids))


@contextmanager
def correlated(**ids: object) -> Iterator[None]:
    """Correlation ids on every log line inside the ``with`` block, and not after it."""
    with structlog.contextvars.bound_contextvars(**_valid_ids(ids)):
        yield


def correlation_header() -> dict[str, str]:
    """The header that passes this context's correlation ids on to an HTTP call."""
    bound = _valid_ids(structlog.contextvars.get_contextvars())
    if not bound:
        return {}
    return {CORRELATION_HEADER: "; ".join(f"{key}={value}" for key, value in bound.items())}


def correlation_from_header(value: str | None) -> dict[str, str]:
    """The correlation ids a :data:`CORRELATION_HEADER` value carries (valid ones only)."""
    ids = {}
    for part in (value or "").split(";"):
        key, _, item = part.partition("=")
        ids[key.strip()] = item.strip()
    return _valid_ids(ids)


def get_logger(name: str) -> Any:
    """Return the structlog logger for module ``name``."""
    return structlog.get_logger(name)


def redact_patient_data(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: blank the value of every field in PATIENT_FIELDS."""
    for key in list(event):
        if key.lower() in PATIENT_FIELDS:
            event[key] = REDACTED
    return event


def configure_logging(log_format: str = "auto", level: str = "INFO") -> None:
    """Configure structlog and the standard library for one process.

    Args:
        log_format: ``json``, ``console``, or ``auto`` (console on a terminal).
        level: the lowest level written.
    """
    if log_format == "auto":
        log_format = "console" if sys.stderr.isatty() else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_patient_data,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a cached logger keeps the processors of the moment it was
        # first used, so a later configure_logging (or a test's capture_logs)
        # would not reach it. The cost is a few microseconds per log line.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pynetdicom's INFO and DEBUG output can echo identifiers (and so patient
    # data); its warnings and errors are about the protocol only.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    # It also decodes every identifier it receives or sends to log it at INFO,
    # whatever the level: work for nothing, and a malformed one fails there.
    pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
    pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False
    # pydicom reports a value that breaks its VR by quoting it, as a log record
    # and as a warning; in a query or a received dataset that value can be a
    # patient's name or birth date. Services log their own refusals, naming
    # the attribute, never the value.
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module="pydicom")
