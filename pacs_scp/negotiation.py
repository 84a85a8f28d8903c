"""Association negotiation beyond the archive's fixed contexts.

The archive's AE supports every storage SOP class of PS3.4 Annex B
(:func:`pacs_scp.server.build_ae`). Two handlers complete it:

- :func:`support_unknown_storage` (EVT_REQUESTED, bound only when
  ``[pacs] accept_unknown_storage`` is on) adds, for one association, a
  storage context for each proposed class that may be storage but is not in
  Annex B (a private or retired class); :func:`register_unknown_storage`
  (EVT_ACCEPTED) then lets pynetdicom's storage service answer its C-STOREs.
- :func:`log_refused_contexts` (EVT_ACCEPTED) says which proposed contexts
  were refused and why, so that a modality whose objects never arrive can be
  told what to change (a warning when nothing at all was accepted).
"""

from __future__ import annotations

from pydicom.uid import UID
from pynetdicom import build_context, evt
from pynetdicom.presentation import PresentationContext
from pynetdicom.service_class import ServiceClass, StorageServiceClass
from pynetdicom.sop_class import register_uid, uid_to_service_class

from imaging_common.logs import get_logger
from imaging_common.sop_classes import ARCHIVE_TRANSFER_SYNTAXES, is_unknown_storage_class

__all__ = ["log_refused_contexts", "register_unknown_storage", "support_unknown_storage"]

log = get_logger(__name__)

#: PS3.8 9.3.3.2 Presentation Context Item results of a refused context.
ABSTRACT_SYNTAX_NOT_SUPPORTED = 0x03
TRANSFER_SYNTAXES_NOT_SUPPORTED = 0x04


def _peer(event: evt.Event) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def _unknown_storage_context(sop_class_uid: str) -> PresentationContext:
    context = build_context(sop_class_uid, list(ARCHIVE_TRANSFER_SYNTAXES))
    # As for the Annex B classes: a C-GET requester may take the SCP role.
    context.scu_role, context.scp_role = False, True
    return context


def support_unknown_storage(event: evt.Event) -> None:
    """EVT_REQUESTED: support each proposed class that may be storage, for this association.

    A class already supported (Annex B, the query models, ...) is left to the
    AE's contexts; a standard UID outside the storage root is never storage.
    """
    assoc = event.assoc
    request = assoc.requestor.primitive
    if request is None:
        return
    supported = assoc.acceptor.supported_contexts
    known = {str(context.abstract_syntax) for context in supported}
    added = []
    for proposed in request.presentation_context_definition_list:
        sop_class_uid = str(proposed.abstract_syntax)
        if (sop_class_uid in known or not UID(sop_class_uid).is_valid
                or not is_unknown_storage_class(sop_class_uid)):
            continue
        known.add(sop_class_uid)
        added.append(_unknown_storage_context(sop_class_uid))
    if added:
        assoc.acceptor.supported_contexts = [*supported, *added]


def register_unknown_storage(event: evt.Event) -> None:
    """EVT_ACCEPTED: let the storage service answer the accepted unknown classes.

    pynetdicom picks the service of a DIMSE request by its SOP class, and
    answers a class it does not know by aborting; registering the class
    (:func:`pynetdicom.sop_class.register_uid`) is its way to add one. Only
    classes accepted for a calling AE the archive knows are registered.
    """
    accepted = []
    for context in event.assoc.accepted_contexts:
        sop_class_uid = str(context.abstract_syntax)
        if not is_unknown_storage_class(sop_class_uid):
            continue
        if uid_to_service_class(sop_class_uid) is ServiceClass:
            register_uid(sop_class_uid, "UnknownStorage_" + sop_class_uid.replace(".", "_"),
                         StorageServiceClass)
        accepted.append(sop_class_uid)
    if accepted:
        log.info("unknown storage classes accepted", peer=_peer(event),
                 sop_class_uids=sorted(set(accepted)))


def log_refused_contexts(event: evt.Event, accept_unknown_storage: bool) -> None:
    """EVT_ACCEPTED: log the refused presentation contexts, one line per association.

    Args:
        event: the accepted association's event.
        accept_unknown_storage: whether ``[pacs] accept_unknown_storage`` is on
            (when it is off, the line says that it would accept the refused
            private or unknown classes).
    """
    refused = event.assoc.rejected_contexts
    if not refused:
        return
    classes = sorted({str(c.abstract_syntax) for c in refused
                      if c.result == ABSTRACT_SYNTAX_NOT_SUPPORTED})
    syntaxes = sorted({str(c.abstract_syntax) for c in refused
                       if c.result == TRANSFER_SYNTAXES_NOT_SUPPORTED})
    details: dict[str, object] = {}
    if classes:
        details["sop_class_not_supported"] = classes
    if syntaxes:
        details["transfer_syntax_not_supported"] = syntaxes
    if not accept_unknown_storage and any(is_unknown_storage_class(c) for c in classes):
        details["hint"] = ("private or unknown storage classes are refused unless "
                           "[pacs] accept_unknown_storage = true")
    accepted = len(event.assoc.accepted_contexts)
    # A requester may propose classes it seldom sends; nothing accepted is a problem.
    report = log.info if accepted else log.warning
    report("presentation contexts refused", peer=_peer(event), accepted=accepted, **details)
