"""The archive outbox on the report page: what the PACS has of an order, and a retry."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from werkzeug.wrappers import Response as BaseResponse

from emr.archive_outbox import SendSummary, archive_items, send_pending
from emr.audit import record
from emr.database import session
from emr.models import ArchiveItem, ArchiveKind, Order
from emr.orders import get_order
from emr.security import current_actor, require
from emr.web import app_config

__all__ = ["bp", "send_after_signing"]

bp = Blueprint("archive", __name__)


@bp.app_template_global()
def signed_reports(order: Order) -> list[ArchiveItem]:
    """The order's verified reports, newest first, as the outbox holds them."""
    return [item for item in archive_items(session(), order)
            if item.kind == ArchiveKind.VERIFIED_SR]


def _flash_summary(summary: SendSummary, order: Order) -> None:
    if not (summary.sent or summary.failed or summary.waiting):
        return
    if summary.all_sent:
        flash("The signed report is in the PACS.", "success")
        return
    waiting = [item for item in archive_items(session(), order) if not item.sent]
    if waiting:
        flash(f"Not yet in the PACS ({len(waiting)} waiting to be sent): "
              f"{waiting[0].last_error or 'not tried yet'}. It will be sent again.", "info")


def send_after_signing(order: Order) -> None:
    """Send the order's pending objects right after its signing was committed.

    A PACS that cannot be reached ends it at the first try: the person who
    signed waits for one time-out at most; the rest is left to the retry
    button and ``flask send-archive``.
    """
    summary = send_pending(session(), app_config(), order_id=order.id)
    _flash_summary(summary, order)


@bp.post("/orders/<int:order_id>/archive")
@require("reports.review")
def send(order_id: int) -> BaseResponse:
    """Try again to send what the order owes the PACS."""
    db = session()
    order = get_order(db, order_id)
    summary = send_pending(db, app_config(), order_id=order.id)
    record(db, current_actor(), "archive.send", patient_id=order.patient_id, order_id=order.id,
           detail={"sent": summary.sent, "failed": summary.failed})
    db.commit()
    _flash_summary(summary, order)
    return redirect(url_for("reports.report", order_id=order.id))
