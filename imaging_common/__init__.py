"""DICOM knowledge shared by every Fovea service; it imports no service.

- :mod:`~imaging_common.settings`: the network file (AE table) and overrides.
- :mod:`~imaging_common.uids`: the UID root and UID generation.
- :mod:`~imaging_common.sop_classes`: SOP classes, transfer syntaxes, contexts.
- :mod:`~imaging_common.status`: DIMSE statuses by name.
- :mod:`~imaging_common.levels`: query/retrieve levels and their attributes.
- :mod:`~imaging_common.dimse`: AE set-up, TCP_NODELAY, SCU associations.
- :mod:`~imaging_common.listener`: a service's listener, and the calling AE
  title plus address check.
- :mod:`~imaging_common.tls`: DICOM TLS settings and SSL contexts.
- :mod:`~imaging_common.deployment`: deployment modes; production's secret check.
- :mod:`~imaging_common.logs`: logging set-up with the patient-data guard.
- :mod:`~imaging_common.metrics`: Prometheus metrics of DIMSE traffic, and the
  ``/metrics`` listener of a DIMSE-only service.
- :mod:`~imaging_common.web_metrics`: ``/metrics`` and HTTP request metrics
  for a Flask app.
- :mod:`~imaging_common.codes`: coded concepts (SNOMED CT, DCM).
- :mod:`~imaging_common.builders`: builders of the DICOM objects Fovea writes.
- :mod:`~imaging_common.laterality`: which eye a fundus photograph shows (optic disc side).
- :mod:`~imaging_common.simulation`: marking and recognising a simulated capture.
- :mod:`~imaging_common.exceptions`: the exception hierarchy.
"""

from imaging_common.exceptions import (
    ConfigError,
    DicomInputError,
    FoveaError,
    MissingAttributeError,
    PeerError,
)
from imaging_common.settings import Network, Node, Settings, load_settings

__all__ = [
    "ConfigError",
    "DicomInputError",
    "FoveaError",
    "MissingAttributeError",
    "Network",
    "Node",
    "PeerError",
    "Settings",
    "load_settings",
]
