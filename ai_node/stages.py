"""The stages of a grading job, as ``job.meta['stage']`` holds them for the page.

``queued`` -> ``retrieving`` (C-FIND, C-MOVE) -> ``analysing`` (quality, grade,
heat map) -> ``storing`` (C-STORE the SR and the SCs) -> ``reporting`` (POST
the result to the EMR) -> ``done``; or ``failed``, with ``job.meta['error']``.
A job waiting for a retry is ``queued`` again, with the last error kept.
"""

from __future__ import annotations

__all__ = ["Stage"]


class Stage:
    """The values of ``job.meta['stage']``."""

    QUEUED = "queued"
    RETRIEVING = "retrieving"
    ANALYSING = "analysing"
    STORING = "storing"
    REPORTING = "reporting"
    DONE = "done"
    FAILED = "failed"

    #: In the order a job goes through them.
    ALL = (QUEUED, RETRIEVING, ANALYSING, STORING, REPORTING, DONE, FAILED)
