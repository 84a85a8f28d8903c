"""SOP classes, transfer syntaxes and presentation contexts Fovea speaks.

An archive accepts what it is sent and keeps it as received, so the acceptor
side offers every transfer syntax in :data:`STORAGE_TRANSFER_SYNTAXES` for every
class in :data:`STORAGE_SOP_CLASSES`; nothing on the receive path decodes pixels.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydicom import uid
from pynetdicom.presentation import PresentationContext, build_context

__all__ = [
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

#: Storage SOP classes a fundus network and a general viewer meet (PS3.4 B.5).
STORAGE_SOP_CLASSES: tuple[str, ...] = (
    # Ophthalmology
    uid.OphthalmicPhotography8BitImageStorage,
    uid.OphthalmicPhotography16BitImageStorage,
    uid.WideFieldOphthalmicPhotographyStereographicProjectionImageStorage,
    uid.WideFieldOphthalmicPhotography3DCoordinatesImageStorage,
    uid.OphthalmicTomographyImageStorage,
    uid.VLPhotographicImageStorage,
    # Secondary Capture family
    uid.SecondaryCaptureImageStorage,
    uid.MultiFrameSingleBitSecondaryCaptureImageStorage,
    uid.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    uid.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    uid.MultiFrameTrueColorSecondaryCaptureImageStorage,
    # Structured reports and documents
    uid.BasicTextSRStorage,
    uid.EnhancedSRStorage,
    uid.ComprehensiveSRStorage,
    uid.Comprehensive3DSRStorage,
    uid.ExtensibleSRStorage,
    uid.KeyObjectSelectionDocumentStorage,
    uid.EncapsulatedPDFStorage,
    # Derived objects
    uid.SegmentationStorage,
    uid.ParametricMapStorage,
    uid.GrayscaleSoftcopyPresentationStateStorage,
    # General radiology, so a viewer can use the archive for anything
    uid.CTImageStorage,
    uid.EnhancedCTImageStorage,
    uid.MRImageStorage,
    uid.EnhancedMRImageStorage,
    uid.ComputedRadiographyImageStorage,
    uid.DigitalXRayImageStorageForPresentation,
    uid.DigitalXRayImageStorageForProcessing,
    uid.UltrasoundImageStorage,
    uid.UltrasoundMultiFrameImageStorage,
)

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

#: Every transfer syntax the archive accepts and stores as received.
STORAGE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    UNCOMPRESSED_TRANSFER_SYNTAXES + COMPRESSED_TRANSFER_SYNTAXES
)

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
    compressed pair also gets an uncompressed context, used when the peer
    refuses the compressed one. PS3.8 9.3.2.2 allows at most 128 contexts.

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
