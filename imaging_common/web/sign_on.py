"""Signing people on through the EMR: the client side, for the station and the AI page.

The EMR is the identity source (:mod:`emr.sign_on` holds the other side). An
app that uses it keeps no passwords:

1. ``GET /login`` sends the browser to the EMR's ``/sign-on/authorize`` with
   this app's name and a random ``state`` kept in the app's session; the
   person logs in there if they have not yet;
2. the EMR sends the browser back to ``/sign-on/return`` with a one-time
   code; the app checks the state and trades the code, server to server with
   its client secret, for a token of its own and the person's name and role;
3. the token is the app's session id (flask-login's user id). On every
   request the app asks the EMR whether it is still good, so logging out, a
   new password or a deactivated account end the session at once;
4. ``POST /logout`` ends the app's session at the EMR too.

Each app keeps its own cookie name and secret key: its session means nothing
to another app, and the EMR checks that a token belongs to the app showing it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response

from imaging_common.exceptions import ConfigError
from imaging_common.logs import get_logger
from imaging_common.rest_client import JsonClient, ServiceRefused, ServiceUnavailable
from imaging_common.settings import Network
from imaging_common.web import foundation
from imaging_common.web.foundation import error_page
from imaging_common.web.redirects import safe_next

__all__ = ["Person", "SignOnClient", "SignOnSettings", "init_sign_on", "load_sign_on_settings",
           "sign_on_blueprint", "sign_on_client"]

log = get_logger(__name__)

#: app.extensions key of the app's :class:`SignOnClient`.
CLIENT_KEY = "fovea_sign_on"
_STATE_KEY = "sign_on_state"
_NEXT_KEY = "sign_on_next"


@dataclass(frozen=True)
class SignOnSettings:
    """Where the EMR is and how this app proves who it is.

    Attributes:
        emr_url: the EMR's address as this app reaches it.
        client: this app's name in the EMR's ``[emr.sign_on]`` table.
        secret: this app's client secret (``FOVEA_SIGN_ON_SECRET_<APP>``).
        timeout: seconds to wait for the EMR.
        browser_url: the EMR's address as browsers reach it, where that differs.
        outage_grace: how long a session the EMR vouched for goes on while the EMR
            does not answer.
    """

    emr_url: str
    client: str
    secret: str = field(repr=False)
    timeout: float = 5.0
    browser_url: str = ""
    outage_grace: float = 300.0

    def __post_init__(self) -> None:
        if not self.emr_url.startswith(("http://", "https://")):
            raise ConfigError(f"the EMR address {self.emr_url!r} is not an http(s) URL")
        if not self.secret:
            raise ConfigError(f"no sign-on secret for {self.client!r} "
                              f"(FOVEA_SIGN_ON_SECRET_{self.client.upper()})")


@dataclass(frozen=True)
class Person:
    """Someone signed on through the EMR, as the EMR names them.

    ``token`` is the app's session token; flask-login keeps it as the user id.
    """

    token: str = field(repr=False)
    username: str
    full_name: str
    role: str

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return self.token

    @classmethod
    def from_reply(cls, token: str, body: Any) -> Person:
        person = body.get("person", {}) if isinstance(body, dict) else {}
        return cls(token, str(person.get("username", "")), str(person.get("full_name", "")),
                   str(person.get("role", "")))


def load_sign_on_settings(network: Network, client: str, env: Mapping[str, str],
                          emr_url: str | None = None) -> SignOnSettings:
    """This app's sign-on settings: the EMR's address (``FOVEA_EMR_URL``, else
    ``emr_url``, else the network file's ``emr`` node), as browsers reach it where
    that differs (``FOVEA_EMR_PAGE_URL``), and its secret (``FOVEA_SIGN_ON_SECRET_<APP>``).

    Raises:
        ConfigError: no secret, or no way to find the EMR.
    """
    url = env.get("FOVEA_EMR_URL") or emr_url
    if not url:
        node = next((n for n in network.nodes if n.name == "emr"), None)
        if node is None or not node.http_port:
            raise ConfigError("the network file has no emr node with an http_port "
                              "(people sign on through the EMR)")
        url = f"http://{node.host}:{node.http_port}"
    return SignOnSettings(url, client, env.get(f"FOVEA_SIGN_ON_SECRET_{client.upper()}", ""),
                          browser_url=env.get("FOVEA_EMR_PAGE_URL", ""))


class SignOnClient:
    """This app's calls to the EMR's sign-on endpoints."""

    def __init__(self, settings: SignOnSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._api = JsonClient(settings.emr_url.rstrip("/"), settings.secret, settings.timeout)
        self._clock = clock
        self._vouched: dict[str, tuple[float, Person]] = {}
        self._lock = threading.Lock()

    def authorize_url(self, state: str) -> str:
        """Where the browser goes to be signed on."""
        query = urlencode({"client": self.settings.client, "state": state})
        base = self.settings.browser_url or self.settings.emr_url
        return f"{base.rstrip('/')}/sign-on/authorize?{query}"

    def redeem(self, code: str) -> Person | None:
        """The person a one-time code signs on; ``None`` when the EMR refuses the code.

        Raises:
            ServiceUnavailable: the EMR did not answer.
        """
        try:
            body = self._api.post("/sign-on/token", {"client": self.settings.client,
                                                     "code": code})
        except ServiceRefused as exc:
            log.warning("sign-on code refused", client=self.settings.client, status=exc.status)
            return None
        return Person.from_reply(str(body.get("token", "")), body)

    def check(self, token: str) -> Person | None:
        """The person whose session ``token`` is, or ``None`` when it has ended.

        While the EMR does not answer, a session it vouched for within
        :attr:`SignOnSettings.outage_grace` goes on (nobody can log out or change
        a password at an EMR that is down); after that, or for any other, none does.
        """
        now = self._clock()
        try:
            body = self._api.post("/sign-on/session", {"client": self.settings.client,
                                                       "token": token})
        except ServiceUnavailable as exc:
            with self._lock:
                vouched = self._vouched.get(token)
            if vouched is not None and now - vouched[0] < self.settings.outage_grace:
                log.warning("EMR not answering; session kept", client=self.settings.client,
                            error=str(exc))
                return vouched[1]
            log.warning("sign-on check failed", client=self.settings.client, error=str(exc))
            return None
        except ServiceRefused as exc:
            log.warning("sign-on check refused", client=self.settings.client, status=exc.status)
            body = {}
        person = Person.from_reply(token, body) if body.get("active") else None
        with self._lock:  # the last time the EMR vouched for each live session
            self._vouched = {t: v for t, v in self._vouched.items()
                             if now - v[0] < self.settings.outage_grace}
            if person is not None:
                self._vouched[token] = (now, person)
            else:
                self._vouched.pop(token, None)
        return person

    def end(self, token: str) -> None:
        """End the session at the EMR (a failure is logged: the app's cookie goes anyway)."""
        with self._lock:
            self._vouched.pop(token, None)
        try:
            self._api.post("/sign-on/end", {"client": self.settings.client, "token": token})
        except (ServiceUnavailable, ServiceRefused) as exc:
            log.warning("sign-on end failed", client=self.settings.client, error=str(exc))


def sign_on_client() -> SignOnClient:
    """The current app's client of the EMR's sign-on."""
    client: SignOnClient = current_app.extensions[CLIENT_KEY]
    return client


def init_sign_on(app: Flask, settings: SignOnSettings | None, client_name: str,
                 login_manager: LoginManager, csrf: CSRFProtect,
                 load_user: Callable[[str], Any]) -> None:
    """Bind log-in through the EMR, CSRF protection and the security headers to ``app``.

    Raises:
        ConfigError: no sign-on settings (``FOVEA_SIGN_ON_SECRET_<APP>``).
    """
    if settings is None:
        raise ConfigError(f"people sign on to the {client_name} pages through the EMR: set "
                          f"FOVEA_SIGN_ON_SECRET_{client_name.upper()} (its secret at the EMR)")
    app.extensions[CLIENT_KEY] = SignOnClient(settings)
    foundation.init_security(app, login_manager, csrf, load_user)


def sign_on_blueprint(client: Callable[[], SignOnClient], home: str,
                      logout_form: Callable[[], FlaskForm],
                      on_sign_on: Callable[[Person], None] | None = None,
                      root: bool = False) -> Blueprint:
    """The ``auth`` blueprint of an app whose people sign on through the EMR.

    Args:
        client: the app's :class:`SignOnClient` (looked up per request).
        home: the endpoint a person lands on after signing on.
        logout_form: a CSRF-checked form for the logout POST.
        on_sign_on: called with each person signed on (to keep a local record of them).
        root: serve ``/`` (``auth.home``) as a redirect to ``home``.
    """
    bp = Blueprint("auth", __name__)

    @login_required
    def home_page() -> Response:
        return redirect(url_for(home))

    if root:
        bp.add_url_rule("/", "home", home_page)

    @bp.get("/login")
    def login() -> Response:
        target = safe_next(request.args.get("next"))
        state = secrets.token_urlsafe(24)
        session[_STATE_KEY] = state
        session[_NEXT_KEY] = target
        return redirect(client().authorize_url(state))

    @bp.get("/sign-on/return")
    def sign_on_return() -> Response | tuple[str, int]:
        state = session.pop(_STATE_KEY, None)
        target = session.pop(_NEXT_KEY, None)
        given = request.args.get("state", "")
        if not state or not secrets.compare_digest(str(state), given):
            abort(400, "This sign-on was not started here, or was already used. Log in again.")
        try:
            person = client().redeem(request.args.get("code", ""))
        except ServiceUnavailable:
            return error_page(503, "The EMR is not answering",
                              "Signing on goes through the EMR, which did not answer. "
                              "Try again in a moment.")
        if person is None:
            abort(400, "The EMR did not accept this sign-on. Log in again.")
        if on_sign_on is not None:
            on_sign_on(person)
        session.clear()  # a fresh session for the new identity (no session fixation)
        session.permanent = True
        login_user(person)
        log.info("signed on", user=person.username, role=person.role)
        return redirect(safe_next(target) or url_for(home))

    @bp.post("/logout")
    @login_required
    def logout() -> Response:
        if logout_form().validate_on_submit():
            client().end(current_user.get_id())
            log.info("logged out", user=current_user.username)
            logout_user()
            session.clear()
            flash("You are logged out.", "info")
        return redirect(url_for("auth.logged_out"))

    @bp.get("/logged-out")
    def logged_out() -> tuple[str, int]:
        return error_page(200, "Logged out",
                          "You are logged out of this application. Your EMR session, if "
                          "any, goes on until you log out there.")

    return bp
