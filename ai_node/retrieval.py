"""Bring an order's photographs from the PACS into the node: C-FIND, then C-MOVE.

1. C-FIND at STUDY level by the order's Study Instance UID; a station that
   ignored the worklist's Study Instance UID is still found by the
   Accession Number (PS3.17 J.2.2 asks it to carry both).
2. C-FIND at SERIES level for the study's OP series, so that the node's own
   SR and Secondary Captures of an earlier run do not come back.
3. C-MOVE each such series to the node's AE; when the C-MOVE's final status
   arrives the storage SCP has every instance durable in the inbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pynetdicom import AE

from imaging_common.exceptions import PeerError
from imaging_common.levels import Level
from imaging_common.logs import get_logger
from imaging_common.move_scu import move
from imaging_common.query_scu import find
from imaging_common.settings import Node

from ai_node.exceptions import OrderNotGradable
from ai_node.inbox import Inbox
from ai_node.scp import PHOTOGRAPH_SOP_CLASSES

__all__ = ["RetrievedStudy", "locate_study", "photograph_series", "retrieve_photographs"]

log = get_logger(__name__)

#: Modality (0008,0060) of Ophthalmic Photography series.
PHOTOGRAPHY_MODALITY = "OP"


@dataclass(frozen=True)
class RetrievedStudy:
    """The study found on the PACS and its photographs, read from the inbox."""

    study_instance_uid: str
    photographs: tuple[Dataset, ...]


def _query(level: Level, **keys: str) -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level.value
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    return identifier


def locate_study(ae: AE, pacs: Node, study_instance_uid: str, accession_number: str) -> str:
    """The Study Instance UID under which the PACS keeps the order's images.

    Raises:
        OrderNotGradable: no study, or several studies, carry the order's identifiers.
        PeerError: the PACS could not be asked.
    """
    if study_instance_uid:
        if find(ae, pacs, _query(Level.STUDY, StudyInstanceUID=study_instance_uid,
                                 AccessionNumber="")):
            return study_instance_uid
    if accession_number:
        matches = find(ae, pacs, _query(Level.STUDY, AccessionNumber=accession_number,
                                        StudyInstanceUID=""))
        uids = sorted({str(m.StudyInstanceUID) for m in matches if m.get("StudyInstanceUID")})
        if len(uids) == 1:
            log.info("study found by accession number", accession_number=accession_number)
            return uids[0]
        if len(uids) > 1:
            raise OrderNotGradable(f"{len(uids)} studies on the PACS carry accession number "
                                   f"{accession_number}; grade them one at a time")
    raise OrderNotGradable(f"the PACS has no study for accession number {accession_number}")


def photograph_series(ae: AE, pacs: Node, study_instance_uid: str) -> list[str]:
    """The Series Instance UIDs of the study's Ophthalmic Photography series."""
    matches = find(ae, pacs, _query(Level.SERIES, StudyInstanceUID=study_instance_uid,
                                    SeriesInstanceUID="", Modality=PHOTOGRAPHY_MODALITY))
    return sorted({str(m.SeriesInstanceUID) for m in matches if m.get("SeriesInstanceUID")})


def retrieve_photographs(ae: AE, pacs: Node, destination: str, inbox: Inbox,
                         study_instance_uid: str, accession_number: str) -> RetrievedStudy:
    """C-FIND the order's study, C-MOVE its photographs to ``destination``, read them.

    Raises:
        OrderNotGradable: no study, or no photograph in it.
        PeerError: the PACS was unreachable, or could not send every instance
            (e.g. the storage SCP is not running).
    """
    study = locate_study(ae, pacs, study_instance_uid, accession_number)
    series = photograph_series(ae, pacs, study)
    if not series:
        raise OrderNotGradable(f"the study of accession number {accession_number} holds "
                               "no ophthalmic photograph")
    inbox.clear(study)
    for series_uid in series:
        result = move(ae, pacs, _query(Level.SERIES, StudyInstanceUID=study,
                                       SeriesInstanceUID=series_uid), destination)
        if result.failed:
            raise PeerError(f"{pacs.ae_title} could not send {result.failed} instance(s) to "
                            f"{destination}: is the AI node's storage SCP running?")
        log.info("retrieved", series_instance_uid=series_uid, instances=result.completed,
                 warnings=result.warning)
    photographs = tuple(ds for ds in inbox.read(study)
                        if str(ds.get("SOPClassUID", "")) in PHOTOGRAPH_SOP_CLASSES)
    if not photographs:
        raise OrderNotGradable(f"no ophthalmic photograph of accession number "
                               f"{accession_number} reached the node")
    return RetrievedStudy(study, photographs)
