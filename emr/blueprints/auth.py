"""Logging in and out, the home page that sends each role where it works, and signing
people on to the station and the AI node's page (:mod:`emr.sign_on`)."""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import (Blueprint, abort, flash, jsonify, redirect, render_template, request, session,
                   url_for)
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from emr import sign_on
from emr.accounts import authenticate
from emr.config import SignOnClient
from emr.database import session as db_session
from emr.exceptions import Throttled
from emr.forms import CsrfForm, LoginForm
from emr.models import Role, User
from emr.security import csrf
from emr.web import app_config
from imaging_common.logs import get_logger
from imaging_common.web.foundation import error_page
from imaging_common.web.redirects import safe_next

bp = Blueprint("auth", __name__)
log = get_logger(__name__)

HOME = {
    Role.NURSE: "patients.search",
    Role.TECHNICIAN: "orders.index",
    Role.OPHTHALMOLOGIST: "reports.queue",
    Role.ADMIN: "admin.users",
}


@bp.get("/")
@login_required
def home() -> Response:
    return redirect(url_for(HOME[current_user.role]))


#: How the log-in page names an app it will sign the person on to.
APP_NAMES = {"station": "the fundus imaging station", "ai": "the AI node's page"}


def _login_page(form: LoginForm, status: int) -> tuple[str, int]:
    """The log-in form; it says which app the person goes on to, when one sent them."""
    target = urlsplit(safe_next(request.args.get("next")) or "")
    client = parse_qs(target.query).get("client", [""])[0] \
        if target.path == url_for("auth.authorize") else ""
    known = _client(client)
    going_to = APP_NAMES.get(known.name, known.name) if known else None
    return render_template("auth/login.html", form=form, going_to=going_to), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    form = LoginForm()
    if not form.validate_on_submit():
        return _login_page(form, 422 if request.method == "POST" else 200)
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
        return _login_page(form, 429)
    db.commit()
    if user is None:
        log.info("log-in failed", remote_addr=request.remote_addr)
        form.form_errors.append("Unknown user name or wrong password.")
        return _login_page(form, 200)
    target = safe_next(request.args.get("next")) or url_for("auth.home")
    user.sign_on_token = sign_on.begin(db, user, sign_on.EMR_CLIENT, config.session_lifetime)
    db.commit()
    session.clear()  # a fresh session for the new identity (no session fixation)
    session.permanent = True
    login_user(user)
    log.info("logged in", user_id=user.id, role=user.role.value)
    return redirect(target)


@bp.post("/logout")
@login_required
def logout() -> Response:
    form = CsrfForm()
    if form.validate_on_submit():
        log.info("logged out", user_id=current_user.id)
        db = db_session()
        sign_on.end(db, current_user.sign_on_token)  # and the app sessions it began
        db.commit()
        logout_user()
        session.clear()
        flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


def _client(name: str | None) -> SignOnClient | None:
    return next((c for c in app_config().sign_on_clients if c.name == name), None)


@bp.get("/sign-on/authorize")
@login_required
def authorize() -> Response | tuple[str, int]:
    """Send the logged-in person back to an app with a one-time code for it."""
    client = _client(request.args.get("client"))
    state = request.args.get("state", "")
    if client is None or not 16 <= len(state) <= 128:
        abort(400, "The application asking for a sign-on is not one this EMR knows.")
    user: User = current_user._get_current_object()
    if user.role.value not in client.roles:
        log.info("sign-on refused", user_id=user.id, client=client.name, reason="role")
        roles = " or ".join(sorted(client.roles))
        return error_page(403, "Not for your role",
                          f"The {client.name} pages are for the {roles} role; you are signed "
                          f"in as {user.role.value}.")
    db = db_session()
    code = sign_on.issue_code(db, user.sign_on_token, client.name, app_config().session_lifetime)
    db.commit()
    log.info("signed on", user_id=user.id, client=client.name)
    return redirect(f"{client.return_url}?{urlencode({'code': code, 'state': state})}")


def _calling_client() -> SignOnClient:
    """The app calling, by the client name and secret it shows (RFC 6750 bearer)."""
    body = request.get_json(silent=True)
    client = _client(body.get("client") if isinstance(body, dict) else None)
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if client is None or not hmac.compare_digest(given.encode(), client.secret.encode()):
        abort(401, "Unknown application or wrong client secret.")
    return client


def _person(user: User) -> dict[str, Any]:
    return {"username": user.username, "full_name": user.full_name, "role": user.role.value}


@bp.post("/sign-on/token")
@csrf.exempt
def token() -> Response | tuple[Response, int]:
    """An app trades a one-time code for its session token (server to server)."""
    client = _calling_client()
    db = db_session()
    redeemed = sign_on.redeem_code(db, str(request.get_json().get("code") or ""), client.name)
    db.commit()
    if redeemed is None:
        return jsonify(error={"code": "invalid_grant",
                              "message": "the code is unknown, spent or expired"}), 400
    token, user = redeemed
    return jsonify(token=token, person=_person(user))


@bp.post("/sign-on/session")
@csrf.exempt
def session_state() -> Response:
    """Whether an app's session is still good, and whose it is (server to server)."""
    client = _calling_client()
    db = db_session()
    user = sign_on.resolve(db, str(request.get_json().get("token") or ""), client.name)
    db.commit()
    return jsonify(active=False) if user is None else jsonify(active=True,
                                                              person=_person(user))


@bp.post("/sign-on/end")
@csrf.exempt
def end_session() -> Response:
    """An app's person logged out of it (server to server)."""
    client = _calling_client()
    db = db_session()
    given = str(request.get_json().get("token") or "")
    if sign_on.resolve(db, given, client.name) is not None:
        sign_on.end(db, given)
    db.commit()
    return jsonify(ended=True)
