"""Logging in and out of the page, with the node's own operator accounts."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from imaging_common.logs import get_logger

from ai_node.operators import Operator
from ai_node.web.context import web_context
from ai_node.web.forms import CsrfForm, LoginForm
from ai_node.web.security import login_manager

__all__ = ["bp"]

bp = Blueprint("auth", __name__)
log = get_logger(__name__)


@login_manager.user_loader
def _load_operator(username: str) -> Operator | None:
    return web_context().operators.get(username)


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host (OWASP unvalidated redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("login.html", form=form), 422 if request.method == "POST" else 200
    context = web_context()
    username = (form.username.data or "").strip().lower()[:64]
    address = request.remote_addr or ""
    wait = context.throttle.retry_after(username, address)
    if wait:
        log.warning("log-in throttled", remote_addr=address)
        form.form_errors.append(f"Too many failed log-ins. Try again in "
                                f"{max(1, wait // 60)} minute(s).")
        return render_template("login.html", form=form), 429
    operator = context.operators.authenticate(username, form.password.data or "")
    if operator is None:
        context.throttle.failed(username, address)
        log.info("log-in failed", remote_addr=address)
        form.form_errors.append("Unknown user name or wrong password.")
        return render_template("login.html", form=form), 200
    context.throttle.succeeded(username)
    session.clear()  # a fresh session for the new identity (no session fixation)
    session.permanent = True
    login_user(operator)
    log.info("logged in", operator=operator.username)
    return redirect(_safe_next(request.args.get("next")) or url_for("pages.index"))


@bp.post("/logout")
@login_required
def logout() -> Response:
    if CsrfForm().validate_on_submit():
        log.info("logged out", operator=current_user.username)
        logout_user()
        session.clear()
        flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
