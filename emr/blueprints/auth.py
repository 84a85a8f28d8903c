"""Logging in and out, and the home page that sends each role where it works."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from emr.accounts import authenticate
from emr.database import session as db_session
from emr.exceptions import Throttled
from emr.forms import CsrfForm, LoginForm
from emr.models import Role
from emr.web import app_config
from imaging_common.logs import get_logger

bp = Blueprint("auth", __name__)
log = get_logger(__name__)

HOME = {
    Role.NURSE: "patients.search",
    Role.TECHNICIAN: "orders.index",
    Role.OPHTHALMOLOGIST: "reports.queue",
    Role.ADMIN: "admin.users",
}


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
    return redirect(url_for(HOME[current_user.role]))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    form = LoginForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("auth/login.html", form=form), status
    config = app_config()
    db = db_session()
    try:
        user = authenticate(db, form.username.data or "", form.password.data or "",
                            request.remote_addr or "", max_failures=config.login_max_failures,
                            window=config.login_window,
                            hash_method=config.password_hash_method)
    except Throttled as exc:
        log.warning("log-in throttled", remote_addr=request.remote_addr)
        form.form_errors.append(f"Too many failed log-ins. Try again in "
                                f"{max(1, exc.retry_after // 60)} minute(s).")
        return render_template("auth/login.html", form=form), 429
    db.commit()
    if user is None:
        log.info("log-in failed", remote_addr=request.remote_addr)
        form.form_errors.append("Unknown user name or wrong password.")
        return render_template("auth/login.html", form=form), 200
    session.clear()  # a fresh session for the new identity (no session fixation)
    session.permanent = True
    login_user(user)
    log.info("logged in", user_id=user.id, role=user.role.value)
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
