"""The outbox sender: store-and-forward to the archive, then the MPPS end.

A background thread works through the outbox in rounds (:meth:`OutboxSender.run_once`):

1. images due are sent on one association: C-STORE those not stored yet,
   then a storage commitment request for every image the archive holds, and
   the wait for its report (:func:`modality_scu.delivery.deliver`);
2. an examination whose images are all committed gets its MPPS N-SET
   COMPLETED listing them; a cancelled one its N-SET DISCONTINUED.

Whatever fails is tried again after the :class:`~modality_scu.config.RetryPolicy`
backoff, with its last error kept for the pages; nothing is given up. Every
state lives in the database and every image in the outbox folder, so a
restarted station resumes where it stopped. A committed image's file is removed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from pynetdicom import AE
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from imaging_common.dimse import make_ae
from imaging_common.exceptions import PeerError
from imaging_common.logs import get_logger
from imaging_common.status import CommitmentFailure
from modality_scu.config import StationConfig
from modality_scu.database import Database
from modality_scu.delivery import Delivery, OutgoingImage, deliver
from modality_scu.exceptions import PeerRefused
from modality_scu.models import ImageState, OutboxImage, Procedure, ProcedureState, utcnow
from modality_scu.monitoring import count_delivery
from modality_scu.mpps_scu import is_already_final, update_step
from modality_scu.outbox import Outbox
from modality_scu.procedures import final_step

__all__ = ["BATCH_SIZE", "IDLE_WAIT", "OutboxSender"]

log = get_logger(__name__)

#: The most images sent on one association.
BATCH_SIZE = 32
#: Seconds the thread sleeps when nothing is due (a new upload wakes it at once).
IDLE_WAIT = 60.0
_OPEN_IMAGE_STATES = (ImageState.PENDING, ImageState.STORED)
_FINISHING = (ProcedureState.SENDING, ProcedureState.DISCONTINUING)


def _failure_reason(code: int) -> str:
    try:
        return CommitmentFailure(code).name.replace("_", " ").lower()
    except ValueError:
        return f"reason 0x{code:04X}"


class OutboxSender:
    """Delivers the outbox to the archive and ends the MPPS of each examination.

    Args:
        config: the station's configuration (peers, retry policy, timeouts).
        db: the station's database.
        outbox: the folder of images.
        ae_factory: makes the AE of each association (the station's own by default).
    """

    def __init__(self, config: StationConfig, db: Database, outbox: Outbox,
                 ae_factory: Callable[[], AE] | None = None) -> None:
        self.config = config
        self.db = db
        self.outbox = outbox
        self.ae_factory = ae_factory or (lambda: make_ae(config.settings))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the background thread -------------------------------------------------

    def start(self) -> None:
        """Remove unfinished files, then start working in a background thread."""
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
        self._thread.start()
        log.info("outbox sender started", archive=self.config.pacs.ae_title)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current round."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Start a round now (new photographs, a cancellation)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                due = self.run_once()
            except Exception:  # the thread must outlive any one round
                log.exception("outbox round failed")
                due = utcnow() + timedelta(seconds=self.config.retry.first)
            wait = IDLE_WAIT if due is None else (due - utcnow()).total_seconds()
            self._wake.wait(min(IDLE_WAIT, max(0.0, wait)))

    def recover(self) -> int:
        """Remove outbox files that no image of the database names (an upload cut short)."""
        with self.db.sessions() as db:
            known = db.scalars(select(OutboxImage.file_name).where(
                OutboxImage.state.in_(_OPEN_IMAGE_STATES))).all()
        return self.outbox.sweep(known)

    # -- one round ---------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> datetime | None:
        """Do everything due at ``now``; return when something is due next, if ever."""
        now = now or utcnow()
        while True:
            batch = self._due_images(now)
            if not batch:
                break
            self._deliver(batch, now)
            if len(batch) < BATCH_SIZE:
                break
        for procedure_id in self._due_steps(now):
            self._end_step(procedure_id, now)
        return self.next_due()

    def _due_images(self, now: datetime) -> list[OutgoingImage]:
        with self.db.sessions() as db:
            rows = db.scalars(
                select(OutboxImage)
                .where(OutboxImage.state.in_(_OPEN_IMAGE_STATES),
                       OutboxImage.next_attempt_at <= now)
                .order_by(OutboxImage.id).limit(BATCH_SIZE)).all()
            return [OutgoingImage(r.sop_class_uid, r.sop_instance_uid, r.transfer_syntax_uid,
                                  self.outbox.path(r.file_name),
                                  send=r.state == ImageState.PENDING) for r in rows]

    def _deliver(self, batch: Sequence[OutgoingImage], now: datetime) -> None:
        archive = self.config.pacs
        delivery: Delivery | None = None
        error = ""
        try:
            delivery = deliver(self.ae_factory(), archive, batch,
                               self.config.commitment_timeout)
        except (PeerError, OSError) as exc:  # OSError: the network under the association
            log.warning("delivery failed", peer=archive.ae_title, images=len(batch),
                        reason=str(exc))
            error = f"{archive.ae_title} at {archive.host}:{archive.port}: {exc}"
        count_delivery(batch, delivery)
        with self.db.sessions() as db:
            rows = {r.sop_instance_uid: r for r in db.scalars(select(OutboxImage).where(
                OutboxImage.sop_instance_uid.in_([i.sop_instance_uid for i in batch])))}
            for image in batch:
                row = rows[image.sop_instance_uid]
                if delivery is None:
                    self._failed(row, error, now)
                else:
                    self._apply(row, delivery, now)
            db.commit()

    def _apply(self, row: OutboxImage, delivery: Delivery, now: datetime) -> None:
        """Record what the archive answered for one image."""
        uid = row.sop_instance_uid
        outcome = delivery.stored.get(uid)
        if outcome is not None and not outcome.kept:
            if outcome.status is None:
                self._failed(row, f"not sent: {outcome.describe()}", now)
            else:
                self._failed(row, f"the archive refused the image: {outcome.describe()}", now)
            return
        if outcome is not None:
            row.state, row.stored_at = ImageState.STORED, now
        if uid in delivery.committed:
            row.state, row.committed_at = ImageState.COMMITTED, now
            row.attempts, row.last_error = 0, ""
            self.outbox.remove(row.file_name)
        elif uid in delivery.not_committed:
            row.state = ImageState.PENDING  # the archive lacks it: send it again
            self._failed(row, "the archive did not commit to the image ("
                         f"{_failure_reason(delivery.not_committed[uid])}); it is sent again",
                         now)
        else:
            self._failed(row, delivery.commitment_error or "no commitment for the image", now)

    def _failed(self, row: OutboxImage, error: str, now: datetime) -> None:
        row.attempts += 1
        row.last_error = error[:1000]
        row.next_attempt_at = now + timedelta(seconds=self.config.retry.delay(row.attempts))

    def _due_steps(self, now: datetime) -> list[int]:
        """Examinations whose MPPS end can be sent: cancelled ones, and those whose
        every image is committed."""
        with self.db.sessions() as db:
            candidates = db.scalars(
                select(Procedure).options(selectinload(Procedure.images))
                .where(Procedure.state.in_(_FINISHING))).all()
            return [p.id for p in candidates
                    if (p.mpps_next_attempt_at is None or p.mpps_next_attempt_at <= now)
                    and all(i.state == ImageState.COMMITTED for i in p.images)]

    def _end_step(self, procedure_id: int, now: datetime) -> None:
        with self.db.sessions() as db:
            procedure = db.get(Procedure, procedure_id)
            if procedure is None or procedure.state not in _FINISHING:
                return
            try:
                update_step(self.ae_factory(), self.config.worklist, procedure.mpps_uid,
                            final_step(procedure, self.config))
            except PeerRefused as exc:
                if not is_already_final(exc):
                    self._step_failed(db, procedure, str(exc), now)
                    return
                log.warning("mpps was final already", sop_instance_uid=procedure.mpps_uid)
            except PeerError as exc:
                worklist = self.config.worklist
                self._step_failed(db, procedure, f"{worklist.ae_title} at {worklist.host}:"
                                  f"{worklist.port}: {exc}", now)
                return
            procedure.state = (ProcedureState.DISCONTINUED
                               if procedure.state == ProcedureState.DISCONTINUING
                               else ProcedureState.COMPLETED)
            procedure.finished_at, procedure.mpps_last_error = now, ""
            procedure.mpps_next_attempt_at = None
            db.commit()
            log.info("examination ended", procedure=procedure.id, state=procedure.state.value,
                     accession_number=procedure.accession_number)

    def _step_failed(self, db: Session, procedure: Procedure, error: str, now: datetime
                     ) -> None:
        log.warning("mpps end failed", sop_instance_uid=procedure.mpps_uid, reason=error,
                    accession_number=procedure.accession_number)
        procedure.mpps_attempts += 1
        procedure.mpps_last_error = error[:1000]
        procedure.mpps_next_attempt_at = now + timedelta(
            seconds=self.config.retry.delay(procedure.mpps_attempts))
        db.commit()

    def next_due(self) -> datetime | None:
        """When the next image or MPPS end is due, if anything is waiting."""
        with self.db.sessions() as db:
            image_due = db.scalar(select(OutboxImage.next_attempt_at).where(
                OutboxImage.state.in_(_OPEN_IMAGE_STATES))
                .order_by(OutboxImage.next_attempt_at).limit(1))
            steps = db.scalars(select(Procedure).where(Procedure.state.in_(_FINISHING))).all()
            step_due = [p.mpps_next_attempt_at or utcnow() for p in steps
                        if all(i.state == ImageState.COMMITTED for i in p.images)]
        times = [t for t in (image_due, *step_due) if t is not None]
        return min(times) if times else None
