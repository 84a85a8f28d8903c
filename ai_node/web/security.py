"""Log-in, CSRF protection, security headers, and the brake on password guessing.

The page follows the EMR's habits: flask-login sessions (fresh at log-in, a
working day long), Flask-WTF's CSRF token in every POST form, and the OWASP
secure headers. Log-in throttling follows OWASP ASVS 4.0 V2.2.1 as the EMR
does, but in memory: the node has a handful of operators and no database.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

from flask import Flask, Response, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

__all__ = ["LoginThrottle", "csrf", "init_security", "login_manager"]

login_manager = LoginManager()
csrf = CSRFProtect()

#: Failed log-ins per account within the window before a pause; an address
#: gets four times as many, since a ward's computers may share one.
MAX_FAILURES = 5
ADDRESS_FACTOR = 4
WINDOW_SECONDS = 15 * 60


class LoginThrottle:
    """Counts failed log-ins per account and per address over a sliding window."""

    def __init__(self, max_failures: int = MAX_FAILURES, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until this account and address may try again; 0 when they may now."""
        now = self.clock()
        with self._lock:
            waits = []
            for key, limit in ((f"user:{username}", self.max_failures),
                               (f"addr:{address}", self.max_failures * ADDRESS_FACTOR)):
                times = self._recent(key, now)
                if len(times) >= limit:
                    waits.append(int(times[0] + self.window - now) + 1)
            return max(waits, default=0)

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (f"user:{username}", f"addr:{address}"):
                self._recent(key, now).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{username}", None)


def _security_headers(response: Response) -> Response:
    """Headers every answer gets (OWASP Secure Headers Project), as the EMR sends."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'")
    if request.endpoint and not request.endpoint.startswith("static"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_security(app: Flask) -> None:
    """Bind log-in, CSRF protection and the security headers to ``app``."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see this page."
    login_manager.session_protection = "basic"
    csrf.init_app(app)
    app.after_request(_security_headers)
