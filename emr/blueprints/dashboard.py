"""The screening dashboard: figures per station and period, charts drawn on the server."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template, request

from emr.dashboard import GRADE_KEYS, screening_figures
from emr.database import session
from emr.grading import DrGrade
from emr.recall import recall_lists
from emr.security import require
from emr.web import app_config, parse_date, today

bp = Blueprint("dashboard", __name__)

GRADE_NAMES = {**{str(g.value): g.label for g in DrGrade}, "ungradable": "Ungradable"}
DEFAULT_PERIOD = timedelta(days=90)


@bp.get("/dashboard")
@require("dashboard.view")
def index() -> str:
    last = parse_date(request.args.get("to")) or today()
    first = parse_date(request.args.get("from")) or last - DEFAULT_PERIOD
    if first > last:
        first, last = last, first
    station = request.args.get("station", "").strip()
    figures = screening_figures(session(), first, last, app_config().zone, station)
    recall = recall_lists(session(), today(), app_config().zone, station).counts
    return render_template("dashboard.html", figures=figures, recall=recall, first=first,
                           last=last, station=station, stations=app_config().stations,
                           grade_keys=GRADE_KEYS, grade_names=GRADE_NAMES)
