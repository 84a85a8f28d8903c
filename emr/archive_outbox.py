"""The archive outbox: DICOM objects the EMR owes the PACS, kept until the PACS has them.

What the EMR writes for the PACS (the verified report of a signing, the
printable report as Encapsulated PDF) goes first into the ``archive_outbox``
table (:class:`emr.models.ArchiveItem`), in the same transaction as what it
records, so nothing committed is lost while the PACS is away. It is sent after
the commit; what cannot be sent stays pending, with the reason, until a later
try succeeds:

- after each signing, the signed order's objects (:mod:`emr.blueprints.reports`);
- the report page's "Send to the PACS now" button (:mod:`emr.blueprints.archive`);
- ``flask --app emr send-archive``, every pending object: a deployment runs it
  from a timer (cron, a systemd timer) so the backlog drains without a person.

Objects go in the order they were owed, each over its own association, by
:func:`emr.pacs.store_instances`; the PACS replaces an instance it already
has, so sending one twice does no harm. A verified report waits for the one
it supersedes. A run stops when no association can be made with the PACS
(it is away: every further try would wait for its own time-out), or after
:data:`MAX_FAILURES_IN_A_ROW` failed tries in a row; the rest wait for the
next run. An object the PACS refuses does not hold up the others.

API::

    enqueue(db, order, dataset, kind) -> ArchiveItem    in the caller's transaction
    send_pending(db, config, order_id=None) -> SendSummary    after the commit; commits
    archive_items(db, order) -> list[ArchiveItem]      newest first, for a page
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset
from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from emr import pacs
from emr.config import EmrConfig
from emr.database import session
from emr.models import ArchiveItem, ArchiveKind, ArchiveState, Order, utcnow
from emr.signed_report import build_verified_sr
from emr.web import CONFIG_KEY
from imaging_common.exceptions import AssociationFailed, DicomInputError, FoveaError, PeerError
from imaging_common.logs import get_logger
from imaging_common.uids import validate_uid

__all__ = ["MAX_FAILURES_IN_A_ROW", "SendSummary", "archive_items", "enqueue", "send_pending",
           "start_resending"]

log = get_logger(__name__)

#: Failed tries in a row (the PACS reached but refusing) after which a run stops.
MAX_FAILURES_IN_A_ROW = 3
#: The longest reason kept for a failed try.
_ERROR_MAX = 1000

#: How an entry written without its content is built, by kind, when first sent.
_BUILDERS: dict[ArchiveKind, Callable[[Session, EmrConfig, ArchiveItem], Dataset]] = {
    ArchiveKind.VERIFIED_SR: build_verified_sr,
}


@dataclass(frozen=True)
class SendSummary:
    """What one run of :func:`send_pending` did."""

    sent: int = 0
    failed: int = 0
    waiting: int = 0

    @property
    def all_sent(self) -> bool:
        return self.failed == 0 and self.waiting == 0


def enqueue(db: Session, order: Order, dataset: Dataset, kind: ArchiveKind | str) -> ArchiveItem:
    """Owe the PACS ``dataset``, an object of ``order``'s study; return its entry.

    The dataset is encoded now as a DICOM file (with its file meta), in the
    caller's transaction; :func:`send_pending` sends it after the commit.
    Enqueuing an object with the SOP Instance UID of one already owed or sent
    replaces it (the PACS replaces the instance too).

    Raises:
        DicomInputError: the dataset lacks its identifiers or file meta, or
            belongs to another study than the order's.
    """
    kind = ArchiveKind(kind)
    for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"):
        validate_uid(dataset.get(keyword, ""), keyword)
    if str(dataset.StudyInstanceUID) != order.study_instance_uid:
        raise DicomInputError("the object belongs to another study than the order's")
    if "TransferSyntaxUID" not in getattr(dataset, "file_meta", Dataset()):
        raise DicomInputError("the object has no file meta information")
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    uid = str(dataset.SOPInstanceUID)
    item = db.scalar(select(ArchiveItem).where(ArchiveItem.sop_instance_uid == uid))
    if item is None:
        item = ArchiveItem(order=order, kind=kind, sop_instance_uid=uid, attempts=0,
                           last_error="")
        db.add(item)
    item.sop_class_uid = str(dataset.SOPClassUID)
    item.content = buffer.getvalue()
    item.state = ArchiveState.PENDING
    item.sent_at = None
    db.flush()
    return item


def archive_items(db: Session, order: Order) -> list[ArchiveItem]:
    """Everything the EMR owed the PACS for ``order``, newest first."""
    return list(db.scalars(select(ArchiveItem).where(ArchiveItem.order_id == order.id)
                           .order_by(ArchiveItem.id.desc())))


def send_pending(db: Session, config: EmrConfig, order_id: int | None = None, *,
                 max_failures: int = MAX_FAILURES_IN_A_ROW) -> SendSummary:
    """Send what is pending (``order_id``'s objects only, when given), oldest first.

    Each entry is committed as it is sent or fails, so a run that stops
    halfway loses nothing. Never raises for a PACS that is away or refuses:
    the entry keeps the reason and waits for the next run. The run stops
    when the PACS cannot be reached, or after ``max_failures`` failed tries in
    a row. An entry another process is sending (its row locked, on
    PostgreSQL) is left to it.
    """
    query = select(ArchiveItem.id).where(ArchiveItem.state == ArchiveState.PENDING) \
        .order_by(ArchiveItem.id)
    if order_id is not None:
        query = query.where(ArchiveItem.order_id == order_id)
    pending = list(db.scalars(query))
    db.commit()
    sent = failed = waiting = in_a_row = 0
    for number, item_id in enumerate(pending):
        if in_a_row >= max_failures:
            return SendSummary(sent, failed, waiting + len(pending) - number)
        item = _claim(db, item_id)
        if item is None:
            continue
        if _waits_for_predecessor(db, item):
            _record_failure(db, item, "waits for the report it supersedes to be sent",
                            tried=False)
            waiting += 1
            continue
        outcome = _send(db, config, item)
        if outcome is None:
            sent += 1
            in_a_row = 0
            continue
        failed += 1
        in_a_row += 1
        if isinstance(outcome, AssociationFailed):
            return SendSummary(sent, failed, waiting + len(pending) - number - 1)
    return SendSummary(sent, failed, waiting)


def _claim(db: Session, item_id: int) -> ArchiveItem | None:
    """The entry, still pending, locked for this run until its outcome is committed."""
    return db.scalar(select(ArchiveItem).where(ArchiveItem.id == item_id,
                                               ArchiveItem.state == ArchiveState.PENDING)
                     .options(undefer(ArchiveItem.content))
                     .with_for_update(skip_locked=True))


def _waits_for_predecessor(db: Session, item: ArchiveItem) -> bool:
    if not item.predecessor_uid:
        return False
    state = db.scalar(select(ArchiveItem.state).where(
        ArchiveItem.sop_instance_uid == item.predecessor_uid))
    return state == ArchiveState.PENDING


def _send(db: Session, config: EmrConfig, item: ArchiveItem) -> FoveaError | None:
    """One try at one entry, committed either way: None when the PACS has it, else
    why not."""
    try:
        dataset = _dataset(db, config, item)
        pacs.store_instances(config, [dataset])
    except (PeerError, DicomInputError) as exc:
        _record_failure(db, item, str(exc))
        return exc
    item.state = ArchiveState.SENT
    item.sent_at = item.last_attempt_at = utcnow()
    item.last_error = ""
    db.commit()
    log.info("archive object sent", kind=item.kind.value, order_id=item.order_id,
             sop_instance_uid=item.sop_instance_uid, attempts=item.attempts + 1)
    return None


def _dataset(db: Session, config: EmrConfig, item: ArchiveItem) -> Dataset:
    """The entry's object: its content, or built and kept as its content first."""
    if item.content is None:
        built = _BUILDERS[item.kind](db, config, item)
        buffer = io.BytesIO()
        dcmwrite(buffer, built, enforce_file_format=True)
        # Kept with the try's outcome (sent or failed, both committed): every
        # later try sends the same object. The row stays locked meanwhile.
        item.content = buffer.getvalue()
        db.flush()
    return dcmread(io.BytesIO(item.content))


def _record_failure(db: Session, item: ArchiveItem, reason: str, tried: bool = True) -> None:
    if tried:
        item.attempts += 1
        item.last_attempt_at = utcnow()
    item.last_error = reason[:_ERROR_MAX]
    db.commit()
    log.warning("archive object not sent", kind=item.kind.value, order_id=item.order_id,
                sop_instance_uid=item.sop_instance_uid, attempts=item.attempts, error=reason)


def start_resending(app: Flask, seconds: float) -> threading.Event:
    """Send what is still owed to the PACS every ``seconds``, in a thread of the EMR's
    process (``python -m emr`` starts it); set the returned event to stop it."""
    stop = threading.Event()

    def resend() -> None:
        while not stop.wait(seconds):
            with app.app_context():
                try:
                    summary = send_pending(session(), app.extensions[CONFIG_KEY])
                except Exception:  # the next round tries again; never end the thread
                    log.exception("archive outbox round failed")
                    continue
            if summary.sent or summary.failed:
                log.info("archive outbox round", sent=summary.sent, failed=summary.failed,
                         waiting=summary.waiting)

    threading.Thread(target=resend, name="archive-outbox", daemon=True).start()
    return stop
