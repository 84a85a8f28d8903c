"""Logging in and out; the home page is today's worklist."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from imaging_common.logs import get_logger
from modality_scu.accounts import authenticate
from modality_scu.database import session as db_session
from modality_scu.forms import CsrfForm, LoginForm
from modality_scu.web import station_config

bp = Blueprint("auth", __name__)
log = get_logger(__name__)


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host (OWASP unvalidated redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.get("/")
@login_required
def home() -> Response:
    return redirect(url_for("worklist.index"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    form = LoginForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("login.html", form=form), status
    db = db_session()
    operator = authenticate(db, form.username.data or "", form.password.data or "",
                            station_config().password_hash_method)
    db.commit()
    if operator is None:
        log.info("log-in failed", remote_addr=request.remote_addr)
        form.form_errors.append("Unknown user name or wrong password.")
        return render_template("login.html", form=form), 200
    session.clear()  # a fresh session for the new identity (no session fixation)
    session.permanent = True
    login_user(operator)
    log.info("logged in", user_id=operator.id)
    return redirect(_safe_next(request.args.get("next")) or url_for("auth.home"))


@bp.post("/logout")
@login_required
def logout() -> Response:
    form = CsrfForm()
    if form.validate_on_submit():
        log.info("logged out", user_id=current_user.id)
        logout_user()
        session.clear()
        flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
