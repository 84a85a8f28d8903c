"""Exceptions shared by every Fovea service.

::

    FoveaError
     +-- ConfigError          a setting in the network file or environment is wrong
     +-- DicomInputError      a dataset or identifier from a peer cannot be used
     |    +-- MissingAttributeError   a required attribute is absent or empty
     +-- PeerError            a remote node refused, aborted or did not answer
          +-- AssociationFailed       no association could be made with it at all

Services raise these inside and turn them into DIMSE statuses or HTTP errors at
their edge.
"""

from __future__ import annotations

__all__ = [
    "AssociationFailed",
    "ConfigError",
    "DicomInputError",
    "FoveaError",
    "MissingAttributeError",
    "PeerError",
]


class FoveaError(Exception):
    """Base class of every error Fovea raises on purpose."""


class ConfigError(FoveaError):
    """A value in the network file, the environment or the options is wrong."""


class DicomInputError(FoveaError):
    """A dataset or identifier received from a peer cannot be used as it is."""


class MissingAttributeError(DicomInputError):
    """A required attribute is absent or empty."""

    def __init__(self, keyword: str, context: str = "dataset") -> None:
        super().__init__(f"{context} lacks {keyword}")
        self.keyword = keyword


class PeerError(FoveaError):
    """A remote node refused an association, aborted it, or did not answer."""


class AssociationFailed(PeerError):
    """No association could be made with the peer: unreachable, rejected, or the TLS
    handshake failed. Whatever else would be asked of it now fails the same way."""
