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

import struct

from pydicom.errors import BytesLengthException, InvalidDicomError

__all__ = [
    "MALFORMED_DATASET_ERRORS",
    "AssociationFailed",
    "ConfigError",
    "DicomInputError",
    "FoveaError",
    "MissingAttributeError",
    "PeerError",
    "failure_kind",
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


#: What reading a peer's malformed dataset raises, in pydicom or in our own
#: readers: a value of the wrong length for its VR, text that is not a number,
#: an unknown character set, a value of an unexpected type. A handler maps these
#: to its service's refusal status instead of an unhandled-exception failure.
MALFORMED_DATASET_ERRORS: tuple[type[Exception], ...] = (
    DicomInputError, ValueError, TypeError, LookupError, AttributeError,
    ArithmeticError, struct.error, BytesLengthException, InvalidDicomError,
)


def failure_kind(exc: BaseException) -> str:
    """The exception's type and the function that raised it, for a log line that
    must not carry the value (``ValueError in dicom_json.py:encoding_of``)."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None:
        return type(exc).__name__
    code = frame.tb_frame.f_code
    return f"{type(exc).__name__} in {code.co_filename.rsplit('/', 1)[-1]}:{code.co_name}"
