"""The audit log page: who viewed or changed what, for administrators; read only."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from emr.audit import record
from emr.database import session
from emr.models import AuditEntry, Patient, User
from emr.security import current_actor, require
from emr.web import page_arguments

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("")
@require("audit.view")
def index() -> str:
    action = request.args.get("action", "").strip()
    username = request.args.get("user", "").strip().lower()
    mrn = request.args.get("mrn", "").strip()
    limit, offset = page_arguments(default_size=100)
    query = select(AuditEntry).options(selectinload(AuditEntry.user))
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if username:
        query = query.join(User, AuditEntry.user_id == User.id).where(User.username == username)
    if mrn:
        query = query.join(Patient, AuditEntry.patient_id == Patient.id).where(Patient.mrn == mrn)
    db = session()
    entries = list(db.scalars(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)))
    patient_ids = {e.patient_id for e in entries if e.patient_id is not None}
    mrns = dict(db.execute(select(Patient.id, Patient.mrn).where(Patient.id.in_(patient_ids)))
                .all()) if patient_ids else {}
    record(db, current_actor(), "audit.view", detail={"results": len(entries)})
    db.commit()
    return render_template("audit/index.html", entries=entries, mrns=mrns, action=action,
                           username=username, mrn=mrn, limit=limit, offset=offset)
