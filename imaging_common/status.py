"""DIMSE status codes by name.

Values from PS3.4 (service class annexes) and PS3.7 C. A handler returns one of
these rather than a bare number.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "CommitmentFailure",
    "GeneralStatus",
    "MppsErrorId",
    "NStatus",
    "QueryStatus",
    "RetrieveStatus",
    "StoreStatus",
]


class GeneralStatus(IntEnum):
    """Statuses shared by every DIMSE service (PS3.7 C.1)."""

    SUCCESS = 0x0000
    PENDING = 0xFF00
    CANCEL = 0xFE00


class StoreStatus(IntEnum):
    """C-STORE statuses, PS3.4 B.2.3."""

    SUCCESS = 0x0000
    OUT_OF_RESOURCES = 0xA700
    DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    CANNOT_UNDERSTAND = 0xC000
    COERCION_OF_DATA_ELEMENTS = 0xB000
    ELEMENTS_DISCARDED = 0xB006
    DATASET_DOES_NOT_MATCH_SOP_CLASS_WARNING = 0xB007


class QueryStatus(IntEnum):
    """C-FIND statuses, PS3.4 C.4.1.1.4."""

    SUCCESS = 0x0000
    PENDING = 0xFF00
    PENDING_WARNING = 0xFF01  # optional keys were not supported
    CANCEL = 0xFE00
    OUT_OF_RESOURCES = 0xA700
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    UNABLE_TO_PROCESS = 0xC000


class RetrieveStatus(IntEnum):
    """C-MOVE and C-GET statuses, PS3.4 C.4.2.1.5 and C.4.3.1.4."""

    SUCCESS = 0x0000
    PENDING = 0xFF00
    CANCEL = 0xFE00
    OUT_OF_RESOURCES_MATCHES = 0xA701
    OUT_OF_RESOURCES_SUB_OPERATIONS = 0xA702
    MOVE_DESTINATION_UNKNOWN = 0xA801
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    SUB_OPERATIONS_COMPLETE_WITH_FAILURES = 0xB000
    UNABLE_TO_PROCESS = 0xC000


class NStatus(IntEnum):
    """DIMSE-N statuses, PS3.7 C.4 and 10.1."""

    SUCCESS = 0x0000
    PROCESSING_FAILURE = 0x0110
    NO_SUCH_ATTRIBUTE = 0x0105
    INVALID_ATTRIBUTE_VALUE = 0x0106
    DUPLICATE_SOP_INSTANCE = 0x0111
    NO_SUCH_SOP_INSTANCE = 0x0112
    NO_SUCH_ARGUMENT = 0x0114
    INVALID_ARGUMENT_VALUE = 0x0115
    INVALID_OBJECT_INSTANCE = 0x0117
    CLASS_INSTANCE_CONFLICT = 0x0119
    MISSING_ATTRIBUTE = 0x0120
    MISSING_ATTRIBUTE_VALUE = 0x0121
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    NO_SUCH_ACTION = 0x0123
    DUPLICATE_INVOCATION = 0x0210
    UNRECOGNIZED_OPERATION = 0x0211
    MISTYPED_ARGUMENT = 0x0212


class MppsErrorId(IntEnum):
    """Error ID (0000,0903) sent with an MPPS N-SET Processing Failure, PS3.4 F.7.2.2.4."""

    MAY_NO_LONGER_BE_UPDATED = 0xA710


class CommitmentFailure(IntEnum):
    """Failure Reason (0008,1197) values for storage commitment, PS3.4 J.3.3.1."""

    PROCESSING_FAILURE = 0x0110
    NO_SUCH_OBJECT_INSTANCE = 0x0112
    RESOURCE_LIMITATION = 0x0213
    REFERENCED_SOP_CLASS_NOT_SUPPORTED = 0x0122
    CLASS_INSTANCE_CONFLICT = 0x0119
    DUPLICATE_TRANSACTION_UID = 0x0131
