"""Fovea worklist: Modality Worklist C-FIND SCP and MPPS SCP, built from the EMR's orders.

Stations query the EMR's scheduled prescriptions as Modality Worklist items
(PS3.4 K) and report what they performed with Modality Performed Procedure
Steps (PS3.4 F.7), which move the EMR's orders on. DIMSE to the stations, the
EMR's REST API behind.

- :func:`load_config` and :class:`WorklistConfig`: the configuration, read once.
- :func:`start_server`: serve until ``shutdown()``.
- ``python -m worklist`` (or ``fovea-worklist``) runs it.
"""

from worklist.config import WorklistConfig, load_config
from worklist.server import build_ae, build_context, start_server

__all__ = ["WorklistConfig", "build_ae", "build_context", "load_config", "start_server"]
