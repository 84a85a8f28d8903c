"""Where to go after a log-in: a path on this site, or nowhere (OWASP unvalidated redirects)."""

from __future__ import annotations

from urllib.parse import urlsplit

from werkzeug.exceptions import BadRequest

__all__ = ["safe_next"]


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site; ``None`` for anything that leaves it.

    Raises:
        BadRequest: the target holds a control character (a CR/LF would split
            the ``Location`` header): a malformed request, answered 400.
    """
    if not target:
        return None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        raise BadRequest("The address to return to is malformed.")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return None
    if target.startswith(("//", "/\\")):  # a browser reads both as another host
        return None
    return target
