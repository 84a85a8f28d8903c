"""Exceptions of the station, below the shared ones of :mod:`imaging_common.exceptions`.

::

    FoveaError
     +-- DicomInputError
     |    +-- UploadError        a file the technician gave cannot become an image
     +-- PeerError
     |    +-- PeerRefused        a peer answered a request with a failure status
     +-- ProcedureError          the examination is not in a state that allows this

The web pages show these messages to the technician as they are; they never
go into a log line, since they may name an uploaded file (whose name may be
a patient's). Logs get :attr:`UploadError.reason`, a fixed word.
"""

from __future__ import annotations

from imaging_common.exceptions import DicomInputError, FoveaError, PeerError

__all__ = ["PeerRefused", "ProcedureError", "UploadError"]


class UploadError(DicomInputError):
    """A file cannot become an image; nothing of the upload is kept or sent.

    Attributes:
        reason: a fixed word for the log (``not_an_image``, ``truncated``,
            ``too_large``, ``another_patient``, ``wrong_eye``, ``eye_count``,
            ``unsupported``).
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PeerRefused(PeerError):
    """A peer answered with a failure status.

    Attributes:
        status: the DIMSE status.
        comment: the Error Comment (0000,0902) the peer gave, if any.
        error_id: the Error ID (0000,0903) the peer gave, if any.
    """

    def __init__(self, message: str, status: int, comment: str = "",
                 error_id: int | None = None) -> None:
        super().__init__(f"{message} (status 0x{status:04X}{': ' + comment if comment else ''})")
        self.status = status
        self.comment = comment
        self.error_id = error_id


class ProcedureError(FoveaError):
    """The examination is not in a state that allows what was asked."""
