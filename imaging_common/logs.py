"""Logging set-up for entry points; modules only call ``get_logger(__name__)``.

Output is JSON lines (one event per line, for collectors) or a readable console
rendering. A guard processor replaces the value of any event field that names
patient data, so a slip in a log call cannot leak a name, an ID or a birth date.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import MutableMapping
from typing import Any

import structlog

__all__ = ["PATIENT_FIELDS", "configure_logging", "get_logger", "redact_patient_data"]

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
    # pydicom reports a value that breaks its VR by quoting it, as a log record
    # and as a warning; in a query or a received dataset that value can be a
    # patient's name or birth date. Services log their own refusals, naming
    # the attribute, never the value.
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module="pydicom")
