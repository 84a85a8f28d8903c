"""SOP classes, transfer syntaxes and presentation contexts Fovea speaks.

An archive accepts what it is sent and keeps it as received, so the acceptor
side offers every transfer syntax in :data:`ARCHIVE_TRANSFER_SYNTAXES` for every
class in :data:`STORAGE_SOP_CLASSES` (all of PS3.4 Annex B); nothing on the
receive path decodes pixels. A requester proposes only what it needs
(:func:`storage_contexts`): PS3.8 9.3.2.2 allows it at most 128 contexts, while
an acceptor may support any number.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydicom import uid
from pynetdicom.presentation import (
    AllStoragePresentationContexts,
    PresentationContext,
    build_context,
)
from pynetdicom.service_class import ServiceClass, StorageServiceClass
from pynetdicom.sop_class import uid_to_service_class

__all__ = [
    "ARCHIVE_TRANSFER_SYNTAXES",
    "BIG_ENDIAN_TRANSFER_SYNTAX",
    "COMPRESSED_TRANSFER_SYNTAXES",
    "MODALITY_PERFORMED_PROCEDURE_STEP",
    "MODALITY_WORKLIST_FIND",
    "PATIENT_ROOT_MODELS",
    "QR_FIND_MODELS",
    "QR_GET_MODELS",
    "QR_MOVE_MODELS",
    "STORAGE_COMMITMENT_PUSH",
    "STORAGE_SOP_CLASSES",
    "STORAGE_TRANSFER_SYNTAXES",
    "UNCOMPRESSED_TRANSFER_SYNTAXES",
    "VERIFICATION",
    "VIDEO_SOP_CLASSES",
    "VIDEO_TRANSFER_SYNTAXES",
    "archive_transfer_syntaxes",
    "is_unknown_storage_class",
    "storage_contexts",
]

# Service SOP classes (PS3.4 A, C.6 and J.3), not in pydicom's named UIDs.
VERIFICATION = uid.UID("1.2.840.10008.1.1")
STORAGE_COMMITMENT_PUSH = uid.UID("1.2.840.10008.1.20.1")
PATIENT_ROOT_FIND = uid.UID("1.2.840.10008.5.1.4.1.2.1.1")
PATIENT_ROOT_MOVE = uid.UID("1.2.840.10008.5.1.4.1.2.1.2")
PATIENT_ROOT_GET = uid.UID("1.2.840.10008.5.1.4.1.2.1.3")
STUDY_ROOT_FIND = uid.UID("1.2.840.10008.5.1.4.1.2.2.1")
STUDY_ROOT_MOVE = uid.UID("1.2.840.10008.5.1.4.1.2.2.2")
STUDY_ROOT_GET = uid.UID("1.2.840.10008.5.1.4.1.2.2.3")
#: Modality Worklist Information Model - FIND (PS3.4 K.6.1).
MODALITY_WORKLIST_FIND = uid.UID("1.2.840.10008.5.1.4.31")
#: Modality Performed Procedure Step SOP Class (PS3.4 F.7).
MODALITY_PERFORMED_PROCEDURE_STEP = uid.UID("1.2.840.10008.3.1.2.3.3")

#: Every storage SOP class of PS3.4 Annex B (Table B.5-1), as pynetdicom lists them.
STORAGE_SOP_CLASSES: tuple[str, ...] = tuple(
    uid.UID(str(context.abstract_syntax)) for context in AllStoragePresentationContexts
)

#: The root of the standard storage SOP Class UIDs (PS3.6 Annex A): a class
#: under it that pynetdicom does not list is retired or newer than pynetdicom.
STANDARD_STORAGE_ROOT = "1.2.840.10008.5.1.4.1.1."
#: The root of every UID the standard defines (PS3.5 9.1).
STANDARD_ROOT = "1.2.840.10008."


def is_unknown_storage_class(sop_class_uid: str) -> bool:
    """Whether ``sop_class_uid`` may be a storage class the archive does not list.

    True for a SOP class no service of pynetdicom claims (or that was
    registered as storage, :func:`pynetdicom.sop_class.register_uid`) when it
    is private (outside the standard's UID root) or a standard UID under the
    storage root: a retired class such as Ultrasound Image Storage (Retired),
    1.2.840.10008.5.1.4.1.1.6, or one newer than :data:`STORAGE_SOP_CLASSES`.
    Any other standard UID names a service, never storage.
    """
    if sop_class_uid in STORAGE_SOP_CLASSES:
        return False
    if uid_to_service_class(sop_class_uid) not in (ServiceClass, StorageServiceClass):
        return False  # a service pynetdicom knows, such as Inventory FIND
    if sop_class_uid.startswith(STANDARD_STORAGE_ROOT):
        return True
    return not sop_class_uid.startswith(STANDARD_ROOT)


UNCOMPRESSED_TRANSFER_SYNTAXES: tuple[str, ...] = (
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
)

COMPRESSED_TRANSFER_SYNTAXES: tuple[str, ...] = (
    uid.JPEGBaseline8Bit,
    uid.JPEGExtended12Bit,
    uid.JPEGLossless,
    uid.JPEGLosslessSV1,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
    uid.JPEG2000Lossless,
    uid.JPEG2000,
    uid.HTJ2KLossless,
    uid.HTJ2KLosslessRPCL,
    uid.HTJ2K,
    uid.RLELossless,
    uid.DeflatedExplicitVRLittleEndian,
)

#: Every transfer syntax a Fovea node accepts for its own use (the AI node's
#: inbox, a C-GET requester) and keeps as received.
STORAGE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    UNCOMPRESSED_TRANSFER_SYNTAXES + COMPRESSED_TRANSFER_SYNTAXES
)

#: Explicit VR Big Endian, retired from the standard in 2006 (PS3.5 A.3) and
#: still sent by older modalities.
BIG_ENDIAN_TRANSFER_SYNTAX = uid.ExplicitVRBigEndian

#: Every transfer syntax the archive accepts and stores as received: its
#: retrieves convert Big Endian for a peer that did not accept it.
ARCHIVE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    STORAGE_TRANSFER_SYNTAXES + (BIG_ENDIAN_TRANSFER_SYNTAX,)
)

#: The video SOP classes (PS3.3 A.32.5-A.32.7), whose pixel data come as MPEG
#: or HEVC streams.
VIDEO_SOP_CLASSES: tuple[str, ...] = (
    uid.VideoEndoscopicImageStorage,
    uid.VideoMicroscopicImageStorage,
    uid.VideoPhotographicImageStorage,
)

#: MPEG-2, MPEG-4 AVC/H.264 and HEVC/H.265 (PS3.5 8.2.5-8.2.8), accepted for
#: the video classes and kept as received (no Fovea node decodes them).
VIDEO_TRANSFER_SYNTAXES: tuple[str, ...] = tuple(
    syntax for syntax in uid.AllTransferSyntaxes
    if syntax.name.startswith(("MPEG", "Fragmentable MPEG", "HEVC"))
)


def archive_transfer_syntaxes(sop_class_uid: str) -> list[str]:
    """The transfer syntaxes the archive accepts for ``sop_class_uid``."""
    if sop_class_uid in VIDEO_SOP_CLASSES:
        return [*ARCHIVE_TRANSFER_SYNTAXES, *VIDEO_TRANSFER_SYNTAXES]
    return list(ARCHIVE_TRANSFER_SYNTAXES)


QR_FIND_MODELS: tuple[str, ...] = (PATIENT_ROOT_FIND, STUDY_ROOT_FIND)
QR_MOVE_MODELS: tuple[str, ...] = (PATIENT_ROOT_MOVE, STUDY_ROOT_MOVE)
QR_GET_MODELS: tuple[str, ...] = (PATIENT_ROOT_GET, STUDY_ROOT_GET)
#: The Patient Root models, whose PATIENT level the Study Root models lack.
PATIENT_ROOT_MODELS = frozenset({PATIENT_ROOT_FIND, PATIENT_ROOT_MOVE, PATIENT_ROOT_GET})


def storage_contexts(
    pairs: Iterable[tuple[str, str]], limit: int = 128
) -> list[PresentationContext]:
    """Return contexts to propose for sending instances of ``pairs``.

    Each distinct (SOP Class UID, Transfer Syntax UID) pair gets a context that
    offers its own transfer syntax, so a stored file can go out as it is; a
    compressed or Big Endian pair also gets a little endian context, used when
    the peer refuses the first. PS3.8 9.3.2.2 allows at most 128 contexts.

    Raises:
        ValueError: more contexts would be needed than ``limit``.
    """
    wanted: dict[tuple[str, tuple[str, ...]], None] = {}
    for sop_class_uid, transfer_syntax in pairs:
        if transfer_syntax in UNCOMPRESSED_TRANSFER_SYNTAXES:
            wanted[(sop_class_uid, UNCOMPRESSED_TRANSFER_SYNTAXES)] = None
        else:
            wanted[(sop_class_uid, (transfer_syntax,))] = None
            wanted[(sop_class_uid, UNCOMPRESSED_TRANSFER_SYNTAXES)] = None
    if len(wanted) > limit:
        raise ValueError(
            f"{len(wanted)} presentation contexts needed, at most {limit} allowed"
        )
    return [build_context(abstract, list(syntaxes)) for abstract, syntaxes in wanted]
