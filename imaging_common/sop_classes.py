"""SOP classes, transfer syntaxes and presentation contexts Fovea speaks.

An archive accepts what it is sent and keeps it as received, so the acceptor
side offers every transfer syntax in :data:`STORAGE_TRANSFER_SYNTAXES` for every
class in :data:`STORAGE_SOP_CLASSES`; nothing on the receive path decodes pixels.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydicom import uid
from pynetdicom import sop_class
from pynetdicom.presentation import PresentationContext, build_context

__all__ = [
    "COMPRESSED_TRANSFER_SYNTAXES",
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

VERIFICATION = sop_class.Verification
STORAGE_COMMITMENT_PUSH = sop_class.StorageCommitmentPushModel

#: Storage SOP classes a fundus network and a general viewer meet (PS3.4 B.5).
STORAGE_SOP_CLASSES: tuple[str, ...] = (
    # Ophthalmology
    sop_class.OphthalmicPhotography8BitImageStorage,
    sop_class.OphthalmicPhotography16BitImageStorage,
    sop_class.WideFieldOphthalmicPhotographyStereographicProjectionImageStorage,
    sop_class.WideFieldOphthalmicPhotography3DCoordinatesImageStorage,
    sop_class.OphthalmicTomographyImageStorage,
    sop_class.VLPhotographicImageStorage,
    # Secondary Capture family
    sop_class.SecondaryCaptureImageStorage,
    sop_class.MultiFrameSingleBitSecondaryCaptureImageStorage,
    sop_class.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    sop_class.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    sop_class.MultiFrameTrueColorSecondaryCaptureImageStorage,
    # Structured reports and documents
    sop_class.BasicTextSRStorage,
    sop_class.EnhancedSRStorage,
    sop_class.ComprehensiveSRStorage,
    sop_class.Comprehensive3DSRStorage,
    sop_class.ExtensibleSRStorage,
    sop_class.KeyObjectSelectionDocumentStorage,
    sop_class.EncapsulatedPDFStorage,
    # Derived objects
    sop_class.SegmentationStorage,
    sop_class.ParametricMapStorage,
    sop_class.GrayscaleSoftcopyPresentationStateStorage,
    # General radiology, so a viewer can use the archive for anything
    sop_class.CTImageStorage,
    sop_class.EnhancedCTImageStorage,
    sop_class.MRImageStorage,
    sop_class.EnhancedMRImageStorage,
    sop_class.ComputedRadiographyImageStorage,
    sop_class.DigitalXRayImageStorageForPresentation,
    sop_class.DigitalXRayImageStorageForProcessing,
    sop_class.UltrasoundImageStorage,
    sop_class.UltrasoundMultiFrameImageStorage,
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

QR_FIND_MODELS: tuple[str, ...] = (
    sop_class.PatientRootQueryRetrieveInformationModelFind,
    sop_class.StudyRootQueryRetrieveInformationModelFind,
)
QR_MOVE_MODELS: tuple[str, ...] = (
    sop_class.PatientRootQueryRetrieveInformationModelMove,
    sop_class.StudyRootQueryRetrieveInformationModelMove,
)
QR_GET_MODELS: tuple[str, ...] = (
    sop_class.PatientRootQueryRetrieveInformationModelGet,
    sop_class.StudyRootQueryRetrieveInformationModelGet,
)


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
